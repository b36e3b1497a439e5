"""The absorb rule is written once (store/absorb.py), so a run, `overthink merge` and an Inspect import
fold one conflict into the same rows and the same numbered attempts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from overthink.inspect.importer import ImportReport, _fold
from overthink.store import RECORD_RULE, Store
from overthink.store.merge import merge_stores
from overthink.types import Completion, Record, Score, Status, TaskTraits, TokenSource, Usage, WorkKey


def _key(sample: str) -> WorkKey:
    return WorkKey("exp", "scripted", "misleading_math", "1", sample, "8", "forced", "cot", 0)


def _ok(sample: str, at: float, answer: str = "<answer>3</answer>") -> Record:
    completion = Completion(text=answer, reasoning="think", finish_reason="stop", wall_time_s=0.5,
                            usage=Usage(10, 20, 8, TokenSource.ESTIMATE), total_generated=28)
    return Record(key=_key(sample), seed=5, status=Status.OK, budget_kind="tokens", requested_tokens=8,
                  prompt=f"q {sample}", target="3", metadata={}, completion=completion,
                  score=Score(1.0, True, "3"), created_at=at)


def _error(sample: str, message: str, at: float) -> Record:
    return Record(key=_key(sample), seed=5, status=Status.ERROR, budget_kind="tokens", requested_tokens=8,
                  prompt=f"q {sample}", target="3", metadata={}, error=message, created_at=at)


HELD = [  # what the target store holds before the fold
    _error("late", "TimeoutError: slow", 2.0),  # a failure newer than the incoming one
    _ok("done", 5.0),  # an ok row: immutable
    _error("healed", "TimeoutError: slow", 5.0),  # yields to an ok row, even an older one
    _error("again", "TimeoutError: slow", 1.0),  # yields to a later failure
]
INCOMING = [
    _error("late", "ConnectionError: reset", 1.0),  # older: kept as attempt 1, the row stays
    _ok("done", 9.0),  # the same result measured later: changes nothing
    _ok("healed", 4.0),
    _error("again", "BackendError: HTTP 500: x", 3.0),
    _error("new", "TimeoutError: slow", 6.0),
]


def _store(path: Path, records: list[Record]) -> Path:
    with Store(path) as store:
        for record in records:
            store.write(record)
        store.put_task_traits(TaskTraits(name="misleading_math", version="1"))
    return path


def _state(path: Path) -> tuple[dict[str, dict[str, Any]], list[tuple[str, int, float, str]]]:
    with Store(path, create=False) as store:
        rows = {r["sample_id"]: r for r in store.rows()}
        names = {r["key"]: r["sample_id"] for r in rows.values()}
        attempts = [(names[a["key"]], a["attempt"], a["at"], a["error_class"]) for a in store.attempts()]
    return rows, sorted(attempts)


def _by_run(tmp: Path) -> Path:
    target = _store(tmp / "run.db", HELD)
    with Store(target) as store:
        store.write_many(INCOMING)  # one batch, as the executor writes a group
    return target


def _by_merge(tmp: Path) -> Path:
    merge_stores([_store(tmp / "held.db", HELD), _store(tmp / "incoming.db", INCOMING)], tmp / "merged.db")
    return tmp / "merged.db"


def _by_import(tmp: Path) -> Path:
    target = _store(tmp / "target.db", HELD)
    with Store(_store(tmp / "staging.db", INCOMING), create=False) as staging:
        report = ImportReport(store=target, experiment="exp", ok=2, errors=3)
        _fold(staging, target, report)  # what import_logs does once every log converted
    assert (report.written, report.present) == (3, 2)  # healed, again and new; late and done stay
    return target


@pytest.mark.parametrize("fold", [_by_run, _by_merge, _by_import])
def test_one_rule_for_every_writer(tmp_path: Path, fold: Any) -> None:
    rows, attempts = _state(fold(tmp_path))
    assert {s: r["status"] for s, r in rows.items()} == {
        "late": "error", "done": "ok", "healed": "ok", "again": "error", "new": "error"}
    assert rows["late"]["error"] == "TimeoutError: slow" and rows["late"]["created_at"] == 2.0
    assert rows["done"]["created_at"] == 5.0  # the held ok row, untouched
    assert rows["healed"]["created_at"] == 4.0
    assert rows["again"]["error"] == "BackendError: HTTP 500: x"
    assert attempts == [  # every failure once, each key numbered in time order
        ("again", 1, 1.0, "TimeoutError"), ("again", 2, 3.0, "BackendError"),
        ("healed", 1, 5.0, "TimeoutError"),
        ("late", 1, 1.0, "ConnectionError"), ("late", 2, 2.0, "TimeoutError"),
        ("new", 1, 6.0, "TimeoutError")]


def test_the_three_writers_leave_identical_rows(tmp_path: Path) -> None:
    states = []
    for fold in (_by_run, _by_merge, _by_import):
        folder = tmp_path / fold.__name__
        folder.mkdir()
        states.append(_state(fold(folder)))
    assert states[0] == states[1] == states[2]


def test_folding_the_same_rows_again_changes_nothing(tmp_path: Path) -> None:
    target = _by_run(tmp_path)
    before = _state(target)
    shutil.copy(target, tmp_path / "copy.db")
    with Store(target) as store:
        assert store.absorb_store(tmp_path / "copy.db").written == 0
        assert store.write_many(INCOMING) == 0
    assert _state(target) == before


def test_the_rule_is_written_once() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (Path(__file__).parents[2] / "src").rglob("*.py"))
    assert source.count("status = 'error' AND (") == 1 and "{old}.status = 'error'" in RECORD_RULE
