"""The circuit breaker: a sweep against a server that broke mid-run stops, keeps what it finished, exits 1.

The server is a real loopback HTTP server (tests/loopback_server.py) that answers the first N generation
requests and then fails every request (500, or 401 for a key revoked mid-run). Retries are switched off
(max_attempts=1) so each failed group is one request and the counts below are exact at concurrency 1.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loopback_server import fail_after, serve
from overthink.cli.resolve import run_experiment
from overthink.config import ExperimentConfig, ModelConfig, TaskConfig
from overthink.models.base import FailureKind
from overthink.runner.execute import CircuitBreaker
from overthink.runner.experiment import StopReason


def _config(url: str, store: Path, *, concurrency: int = 1, limit: int = 5, n: int = 20) -> ExperimentConfig:
    return ExperimentConfig(
        experiment="b", mode="prompt", budgets=["0", "64"], store=str(store), stop_after_failures=limit,
        tasks=[TaskConfig(name="misleading_math", n=n)],
        models=[ModelConfig(backend="openai-compat", name="m", base_urls=[url], concurrency=concurrency,
                            options={"tokenizer": False, "max_attempts": 1})],
    )


def _stored(store: Path) -> list[tuple[str, str]]:
    return sqlite3.connect(store).execute("SELECT key, status FROM records").fetchall()


def test_breaker_trips_on_a_full_window_of_failures_of_any_kind_and_a_success_holds_it() -> None:
    breaker = CircuitBreaker(limit=3)
    assert not breaker.failure(FailureKind.SERVER, "HTTP 500")
    assert not breaker.failure(FailureKind.SERVER, "HTTP 500")  # the window of 3 is not full yet
    breaker.success()
    assert not breaker.failure(FailureKind.SERVER, "HTTP 500")
    assert not breaker.failure(FailureKind.TIMEOUT, "timeout")  # the success is still in the window
    assert breaker.failure(FailureKind.SERVER, "HTTP 503")  # a down server fails in more than one way
    assert breaker.tripped == "3 of the last 3 records failed (server 2, timeout 1; last: HTTP 503)"
    fatal = CircuitBreaker(limit=100)
    assert fatal.failure(FailureKind.AUTH, "HTTP 401: bad key")
    assert fatal.tripped is not None and "auth" in fatal.tripped


def test_the_window_is_twice_the_records_in_flight() -> None:
    breaker = CircuitBreaker(limit=5)
    breaker.expect(48 * 4)  # concurrency 48, four budgets per group
    assert breaker.size == 384
    for _ in range(383):
        assert not breaker.failure(FailureKind.SERVER, "HTTP 500")
    assert breaker.failure(FailureKind.SERVER, "HTTP 500")  # the window is full: 384 of 384 failed
    assert breaker.tripped is not None and breaker.tripped.startswith("384 of the last 384 records failed")


def test_a_server_that_breaks_mid_sweep_stops_it_after_a_window_of_failures(tmp_path: Path, monkeypatch:
                                                                 pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_COMPAT_API_KEY", raising=False)
    store = tmp_path / "b.db"
    with serve(fail_after(6, 500)) as server:
        report = run_experiment(_config(server.url, store))
        sent = len(server.generations())
    assert report.stop is StopReason.CIRCUIT_BREAKER and report.exit_code == 1
    assert report.stop_detail is not None and "5 of the last 5 records failed (server 5" in report.stop_detail
    sweep = report.sweeps[0]
    # preflight took one of the 6 answers: the third group got its budget 0 and kept it, then the
    # window of `limit` = 5 records filled with failures
    assert sweep.ok == 5 and sweep.errors == 5 and sweep.missing > 0
    assert sweep.ok + sweep.errors == len(_stored(store))  # what it finished is kept, nothing else
    assert sent == 1 + 10  # preflight and five groups of two: no request after the breaker tripped
    assert report.error_classes == {"server": 5}
    from overthink.store import Store

    with Store(store, create=False) as opened:  # the attempts log names the classified kind
        assert {a["error_class"] for a in opened.attempts()} == {"server"}


def test_concurrent_workers_stop_too_and_nothing_in_flight_is_half_written(tmp_path: Path, monkeypatch:
                                                                           pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_COMPAT_API_KEY", raising=False)
    store = tmp_path / "c.db"
    with serve(fail_after(10, 500)) as server:
        report = run_experiment(_config(server.url, store, concurrency=8, n=60))
    sweep = report.sweeps[0]
    assert report.stop is StopReason.CIRCUIT_BREAKER and report.exit_code == 1
    rows = _stored(store)
    assert len(rows) == len({key for key, _ in rows}) == sweep.ok + sweep.errors  # no duplicate, no stray row
    # the window is 2 x 8 groups x 2 budgets = 32 records: it trips once 31 of the last 32 failed. A
    # success that finishes late (retried failures around it take longer) holds the window open, so
    # the bound is on the failures after the last success: one window plus what was in flight. What
    # was written is at most the 9 successes (preflight took one of the 10), a window of failures on
    # each side of the last success and the 2 x 8 records in flight: a quarter of the plan never sent.
    assert sweep.ok <= 9 and sweep.errors >= 31
    assert sweep.missing >= 120 - (9 + 2 * 32 + 2 * 8)
    order = sqlite3.connect(store).execute("SELECT status FROM records ORDER BY created_at, rowid").fetchall()
    last_ok = max(i for i, (status,) in enumerate(order) if status == "ok")
    assert sum(status == "error" for (status,) in order[last_ok + 1:]) <= 32 + 2 * 8


def test_a_key_revoked_mid_sweep_stops_at_the_first_auth_failure(tmp_path: Path, monkeypatch:
                                                                 pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_COMPAT_API_KEY", raising=False)
    store = tmp_path / "a.db"
    with serve(fail_after(5, 401)) as server:
        report = run_experiment(_config(server.url, store, limit=50))
    assert report.stop is StopReason.CIRCUIT_BREAKER and report.exit_code == 1
    assert report.sweeps[0].errors == 2 and report.error_classes == {"auth": 2}
    assert report.stop_detail is not None and "auth failure" in report.stop_detail


def test_the_cli_prints_one_line_and_exits_1_keeping_the_store(tmp_path: Path) -> None:
    store, config = tmp_path / "cli.db", tmp_path / "sweep.yaml"
    config.write_text("mode: prompt\nbudgets: [0, 64]\ntasks: [{name: misleading_math, n: 30}]\n"
                      "models: [{backend: openai-compat, name: m, options: {max_attempts: 1, tokenizer: false}}]\n")
    with serve(fail_after(4, 503)) as server:
        args = ["run", str(config), "--base-url", server.url, "--store", str(store), "--quiet",
                "--stop-after-failures", "3"]
        env = {**os.environ, "COLUMNS": "80", "OPENAI_COMPAT_API_KEY": ""}
        result = subprocess.run([sys.executable, "-m", "overthink", *args], cwd=tmp_path, capture_output=True,
                                text=True, env=env, timeout=120)
    assert result.returncode == 1, result.stderr
    stopped = [line for line in result.stderr.splitlines() if line.startswith("Stopped:")]
    # the window is max(3, 2 x one group of two budgets) = 4 records
    assert len(stopped) == 1 and "4 of the last 4 records failed (server 4" in stopped[0], result.stderr
    assert "Traceback" not in result.stderr
    statuses = [status for _, status in _stored(store)]
    assert statuses.count("error") == 5 and statuses.count("ok") == 3  # preflight took one of the 4 answers
