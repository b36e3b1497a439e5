"""Messy sweeps against a real loopback server: a failure costs only its own budget, the breaker reads rates.

The openai-compat backend runs through `run_experiment` (the path `overthink run` takes) against the real
ThreadingHTTPServer of tests/loopback_server.py, with the servers of tests/messy_server.py:

(a) forced budgets 0/1024/4096/16384 off one trace, served by a model with a tokenizer endpoint, where
    30% of the items fail every request that only budget 16384 needs (a long budget timing out): the other
    budgets keep their answers, the errors sit at 16384 only, and a re-run sends only those records;
(b) a steady 10% of (item, budget) requests failing for good, slowly (a gateway timing out), at concurrency
    48 with retries on: every planned record is written and the breaker never fires, over several seeds;
(c) a server where (nearly) everything fails: the breaker fires within its documented window.

Before issue 16, (a) stored every budget of a failed item as an error ("0: 6 errored, 1024: 6 errored, ..."),
(b) lost the other budget of every failed item and tripped the breaker (3 of 3 seeds at this setting), and
(c) tripped after 20 failed groups, not after a window of records.
"""

from __future__ import annotations

import functools
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from loopback_server import serve
from messy_server import FlakyChat, ForcingModel
from overthink.cli.resolve import run_experiment
from overthink.config import ExperimentConfig, ModelConfig, TaskConfig
from overthink.models.remote import openai_compat
from overthink.models.retry import RetryPolicy
from overthink.runner.experiment import StopReason

FORCED = ["0", "1024", "4096", "16384"]


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries as by default (6 attempts) but with millisecond backoff, and no key from the environment."""
    monkeypatch.delenv("OPENAI_COMPAT_API_KEY", raising=False)
    monkeypatch.setattr(openai_compat, "RetryPolicy", functools.partial(RetryPolicy, base_delay=0.005, max_delay=0.02))


def _config(url: str, store: Path, *, mode: str, budgets: list[str], n: int, concurrency: int,
            **options: object) -> ExperimentConfig:
    return ExperimentConfig(
        experiment="messy", mode=mode, budgets=budgets, store=str(store),
        tasks=[TaskConfig(name="misleading_math", n=n)],
        models=[ModelConfig(backend="openai-compat", name="m", base_urls=[url], concurrency=concurrency,
                            options=options)],
    )


def _by_budget(store: Path) -> dict[tuple[str, str], int]:
    rows = sqlite3.connect(store).execute("SELECT budget, status, COUNT(*) FROM records GROUP BY 1, 2")
    return {(budget, status): count for budget, status, count in rows}


def _rows(store: Path) -> dict[str, tuple[str, str, str | None, str | None, float]]:
    sql = "SELECT key, budget, status, reasoning, answer_text, created_at FROM records"
    return {key: (budget, status, reasoning, answer, at) for key, budget, status, reasoning, answer, at
            in sqlite3.connect(store).execute(sql)}


def test_a_long_budget_failing_costs_only_that_budget_and_a_rerun_fills_it_in(tmp_path: Path) -> None:
    model, store, n = ForcingModel(period=3000, fail_share=0.3), tmp_path / "a.db", 12
    with serve(model) as server:
        config = _config(server.url, store, mode="forced", budgets=FORCED, n=n, concurrency=4, max_attempts=1)
        first = run_experiment(config)
        failed = len(model.failed)
        assert 0 < failed < n, "pick another seed: the hash chose no item or every item"
        counts = _by_budget(store)
        assert counts == {**{(b, "ok"): n for b in ["0", "1024", "4096", "natural"]},
                          ("16384", "ok"): n - failed, ("16384", "error"): failed}
        assert first.error_classes == {"server": failed} and first.stop is StopReason.COMPLETED
        errors = sqlite3.connect(store).execute("SELECT r.error, a.error_class FROM records r JOIN attempts a "
                                                "ON a.key = r.key WHERE r.status = 'error'").fetchall()
        assert len(errors) == failed and all("HTTP 500" in str(e) and kind == "server" for e, kind in errors)
        kept = {key: row for key, row in _rows(store).items() if row[1] == "ok"}

        model.broken = False  # the outage is over: the same command again
        before, answers = Counter(model.items), model.counts["answer"]
        second = run_experiment(config)
        sent = {item for item, count in model.items.items() if count > before[item]}
        assert sent == model.failed  # only the items with a failed record were sent again
        assert model.counts["answer"] - answers == failed  # one answer each: the 16384 fork, nothing else
        assert (second.ok, second.errors, second.written) == (5 * n, 0, failed)

    healed = _rows(store)
    assert all(healed[key] == row for key, row in kept.items())  # ok rows untouched by the re-run
    with serve(ForcingModel(period=3000, broken=False)) as server:  # a sweep that never failed
        run_experiment(_config(server.url, tmp_path / "clean.db", mode="forced", budgets=FORCED, n=n,
                               concurrency=4, max_attempts=1))
    clean = _rows(tmp_path / "clean.db")
    assert {k: r[:4] for k, r in healed.items()} == {k: r[:4] for k, r in clean.items()}  # the same records


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_steady_ten_percent_error_rate_at_concurrency_48_writes_every_record(tmp_path: Path, seed: int) -> None:
    flaky, store, n = FlakyChat(fail_share=0.1, seed=seed, fail_delay=0.2), tmp_path / "b.db", 200
    with serve(flaky) as server:
        report = run_experiment(_config(server.url, store, mode="prompt", budgets=["0", "1024"], n=n,
                                        concurrency=48, tokenizer=False))
    sweep = report.sweeps[0]
    assert report.stop is StopReason.COMPLETED, report.stop_detail  # the breaker never fired
    assert (sweep.planned, sweep.missing, sweep.ok + sweep.errors) == (2 * n, 0, 2 * n)
    assert sweep.errors == len(flaky.failing)  # an error record for each failing request, no other
    counts = _by_budget(store)
    assert counts[("0", "ok")] + counts[("1024", "ok")] == 2 * n - len(flaky.failing)


def test_a_server_that_fails_everything_stops_at_the_first_full_window(tmp_path: Path) -> None:
    store = tmp_path / "c.db"
    with serve(FlakyChat(fail_share=1.0)) as server:
        report = run_experiment(_config(server.url, store, mode="prompt", budgets=["0", "1024"], n=200,
                                        concurrency=8, tokenizer=False, max_attempts=2))
    window = max(20, 2 * 8 * 2)  # --stop-after-failures 20, 8 groups of 2 budgets in flight
    assert report.stop is StopReason.CIRCUIT_BREAKER and report.exit_code == 1
    assert report.stop_detail is not None and f"{window} of the last {window} records failed" in report.stop_detail
    assert window <= report.sweeps[0].errors <= window + 1  # the trip's own group, nothing in flight after it
    assert report.sweeps[0].ok == 0


def test_a_server_that_nearly_always_fails_stops_within_two_windows(tmp_path: Path) -> None:
    store = tmp_path / "d.db"
    with serve(FlakyChat(fail_share=0.97, seed=3)) as server:
        report = run_experiment(_config(server.url, store, mode="prompt", budgets=["0", "1024"], n=400,
                                        concurrency=8, tokenizer=False, max_attempts=2))
    window = max(20, 2 * 8 * 2)
    assert report.stop is StopReason.CIRCUIT_BREAKER
    sweep = report.sweeps[0]
    assert window <= sweep.ok + sweep.errors <= 2 * window and sweep.missing > 400


def test_without_a_tokenizer_each_budget_is_its_own_trace_and_fails_alone(tmp_path: Path) -> None:
    # counts are estimates here ("Wait" as 2 tokens, 5 characters), so the 4096 trace runs a few characters
    # past 4096: the server fails what only the 16384 trace asks for, beyond 4200 characters
    model, store, n = ForcingModel(period=3000, fail_share=0.3, long_after=4200), tmp_path / "e.db", 8
    with serve(model) as server:
        run_experiment(_config(server.url, store, mode="forced", budgets=FORCED, n=n, concurrency=4,
                               max_attempts=1, tokenizer=False))
    failed = len(model.failed)
    assert 0 < failed < n and model.counts["tokenize"] == 0
    # the natural end is read off the longest trace, so it goes with 16384; the other traces stand
    assert _by_budget(store) == {**{(b, "ok"): n for b in ["0", "1024", "4096"]},
                                 **{(b, "ok"): n - failed for b in ["16384", "natural"]},
                                 **{(b, "error"): failed for b in ["16384", "natural"]}}
