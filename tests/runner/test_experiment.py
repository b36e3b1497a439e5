"""`run_experiment` in-process: the typed report counts what the store holds, and its exit code is honest.

The remote cases run the real openai-compat backend against a real loopback server (tests/loopback_server.py)
that fails the requests of chosen items, so error records come from a real HTTP 400, not a stub.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from loopback_server import Reply, Request, answer, error, serve
from overthink.cli.resolve import run_experiment
from overthink.config import ExperimentConfig, ModelConfig, TaskConfig
from overthink.runner.experiment import RunReport, StopReason


def _samples(path: Path, failing: int, passing: int) -> Path:
    lines = []
    for i in range(failing + passing):
        word = "please-fail" if i < failing else "fine"
        lines.append(json.dumps({"id": f"s{i}", "task": "misleading_math", "target": "1",
                                 "prompt": f"You have one cat ({word} {i}). How many pets do you have?"}))
    path.write_text("\n".join(lines) + "\n")
    return path


def _remote(url: str, store: Path, samples: Path, **extra: object) -> ExperimentConfig:
    return ExperimentConfig(
        experiment="e", mode="prompt", budgets=["0", "64"], store=str(store),
        tasks=[TaskConfig(name="misleading_math", samples=str(samples))],
        models=[ModelConfig(backend="openai-compat", name="m", base_urls=[url],
                            options={"tokenizer": False, "max_attempts": 1})],
        **extra,  # type: ignore[arg-type]
    )


def _fail_marked(request: Request) -> Reply:
    if request.generates and "please-fail" in request.text:
        return error(400, "this item is refused")
    return answer(request)


def test_a_clean_sweep_reports_every_item_ok_and_a_rerun_skips_them(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    config = ExperimentConfig(experiment="e", tasks=[TaskConfig(name="misleading_math", n=3)],
                              models=[ModelConfig(backend="scripted")], budgets=["0", "8"], store=str(store))
    seen: list[str] = []
    report = run_experiment(config, on_sweep=lambda sweep: seen.append(sweep.task))
    assert isinstance(report, RunReport) and seen == ["misleading_math"]
    assert (report.planned, report.ok, report.errors, report.skipped, report.written) == (9, 9, 0, 0, 9)
    assert report.stop is StopReason.COMPLETED and report.exit_code == 0 and report.errors_line() is None
    assert [row.budget for row in report.sweeps[0].rows] == ["0", "8", "natural"]
    stored = sqlite3.connect(store).execute("SELECT COUNT(*) FROM records WHERE status='ok'").fetchone()[0]
    assert stored == report.ok
    traits = json.loads(sqlite3.connect(store).execute("SELECT traits FROM tasks").fetchone()[0])
    assert (traits["name"], traits["metric"], traits["higher_is_better"]) == ("misleading_math", "accuracy", True)
    again = run_experiment(config)
    assert (again.planned, again.ok, again.skipped, again.written, again.exit_code) == (9, 9, 9, 0, 0)


def test_items_left_in_error_make_exit_code_1_and_the_report_says_how_many(tmp_path: Path, monkeypatch:
                                                                            pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_COMPAT_API_KEY", raising=False)
    store = tmp_path / "r.db"
    with serve(_fail_marked) as server:
        report = run_experiment(_remote(server.url, store, _samples(tmp_path / "items.jsonl", 2, 3)))
    assert (report.planned, report.ok, report.errors) == (10, 6, 4)  # 5 items x 2 budgets, 2 items refused
    assert report.exit_code == 1 and report.stop is StopReason.COMPLETED
    assert report.error_classes and sum(report.error_classes.values()) == 4
    line = report.errors_line()
    assert line is not None and line.startswith("4 of 10 items are errors") and "retry" in line
    rows = sqlite3.connect(store).execute("SELECT status, error FROM records").fetchall()
    assert sorted(status for status, _ in rows) == ["error"] * 4 + ["ok"] * 6
    assert all("HTTP 400" in str(message) for status, message in rows if status == "error")
    document = json.loads(json.dumps(report.to_json(), allow_nan=False))  # strict JSON: no NaN anywhere
    assert document["exit_code"] == 1 and document["records"]["errors"] == 4
    assert document["sweeps"][0]["budgets"][0]["budget"] == "0"


def test_a_rerun_counts_errors_stored_by_an_earlier_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 1 until the store holds no error for the plan, even when this run itself sent nothing."""
    monkeypatch.delenv("OPENAI_COMPAT_API_KEY", raising=False)
    store = tmp_path / "r.db"
    samples = _samples(tmp_path / "items.jsonl", 1, 1)
    with serve(_fail_marked) as server:
        first = run_experiment(_remote(server.url, store, samples))
        second = run_experiment(_remote(server.url, store, samples))
    assert first.errors == 2 and first.exit_code == 1
    assert second.ok + second.errors == second.planned == 4
    assert second.exit_code == (1 if second.errors else 0)  # retried items that now succeed clear the code


def test_records_of_other_plans_in_the_same_store_are_not_counted(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    base = {"experiment": "e", "models": [ModelConfig(backend="scripted")], "store": str(store)}
    run_experiment(ExperimentConfig(tasks=[TaskConfig(name="misleading_math", n=4)], budgets=["0"], **base))
    smaller = run_experiment(ExperimentConfig(tasks=[TaskConfig(name="misleading_math", n=2)], budgets=["0"],
                                              **base))
    assert (smaller.planned, smaller.ok, smaller.skipped) == (4, 4, 4)  # 2 items x (0 + natural)


def test_items_out_of_attempts_are_not_retried_and_the_line_says_how_to_retry_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_COMPAT_API_KEY", raising=False)
    store = tmp_path / "r.db"
    samples = _samples(tmp_path / "items.jsonl", 1, 2)
    with serve(_fail_marked) as server:
        first = run_experiment(_remote(server.url, store, samples, max_attempts=1))
        sent = len(server.generations())
    assert (first.errors, first.exhausted, first.exit_code) == (2, 2, 1)
    line = first.errors_line()
    assert line is not None and "used up their 1 attempts" in line and "--max-attempts" in line
    # the server is gone: nothing is left to send, so no preflight and no request; the errors still count
    again = run_experiment(_remote(server.url, store, samples, max_attempts=1))
    assert (again.skipped, again.written, again.errors, again.exit_code) == (6, 0, 2, 1)
    with serve(_fail_marked) as server:
        raised = run_experiment(_remote(server.url, store, samples, max_attempts=2))
        # preflight, then the failed item's two budgets: each is its own request, one refusal costs only itself
        assert len(server.generations()) == 1 + 2
    assert sent > 0 and (raised.written, raised.errors, raised.exhausted) == (2, 2, 2)


def test_a_finished_sweep_reruns_without_its_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_COMPAT_API_KEY", raising=False)
    store = tmp_path / "r.db"
    samples = _samples(tmp_path / "items.jsonl", 0, 2)
    with serve(answer) as server:
        assert run_experiment(_remote(server.url, store, samples)).exit_code == 0
    again = run_experiment(_remote(server.url, store, samples))  # the port is closed now
    assert (again.ok, again.skipped, again.exit_code) == (4, 4, 0) and again.sweeps[0].rows


def test_shards_partition_the_plan(tmp_path: Path) -> None:
    base = {"experiment": "s", "tasks": [TaskConfig(name="misleading_math", n=9)], "budgets": ["0", "4"],
            "models": [ModelConfig(backend="scripted")]}
    whole = run_experiment(ExperimentConfig(store=str(tmp_path / "all.db"), **base))
    parts = [run_experiment(ExperimentConfig(store=str(tmp_path / f"{k}.db"), shard=f"{k}/3", **base))
             for k in (1, 2, 3)]
    keys = [{k for (k,) in sqlite3.connect(tmp_path / f"{k}.db").execute("SELECT key FROM records")} for k in (1, 2, 3)]
    assert sum(p.planned for p in parts) == whole.planned == 27 and all(p.exit_code == 0 for p in parts)
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert keys[0] | keys[1] | keys[2] == {k for (k,) in sqlite3.connect(tmp_path / "all.db").execute(
        "SELECT key FROM records")}
    assert parts[0].shard == "1/3" and parts[0].to_json()["shard"] == "1/3"
