"""Merging stores: dedupe by key, ok supersedes error, conflicts write nothing, attempts are kept."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from overthink.errors import UserError
from overthink.store import Store
from overthink.store.merge import MergeConflict, merge_stores
from overthink.types import Completion, Record, Score, Status, TaskTraits, TokenSource, Usage, WorkKey

FIXTURE = Path(__file__).parent / "fixtures" / "store-schema1.sqlite"


def _key(sample: str) -> WorkKey:
    return WorkKey("exp", "scripted", "misleading_math", "1", sample, "8", "forced", "cot", 0)


def _ok(sample: str, answer: str = "<answer>3</answer>", at: float = 10.0) -> Record:
    completion = Completion(text=answer, reasoning="think", finish_reason="stop", wall_time_s=at / 100,
                            usage=Usage(10, 20, 8, TokenSource.ESTIMATE), total_generated=28)
    return Record(key=_key(sample), seed=5, status=Status.OK, budget_kind="tokens", requested_tokens=8,
                  prompt=f"q {sample}", target="3", metadata={}, completion=completion,
                  score=Score(1.0, True, "3"), created_at=at)


def _error(sample: str, message: str, at: float) -> Record:
    return Record(key=_key(sample), seed=5, status=Status.ERROR, budget_kind="tokens", requested_tokens=8,
                  prompt=f"q {sample}", target="3", metadata={}, error=message, created_at=at)


def _store(path: Path, *records: Record, config: dict[str, object] | None = None) -> Path:
    with Store(path) as store:
        for record in records:  # one write each, so repeated failures become numbered attempts
            store.write(record)
        if config is not None:
            store.set_meta("last_config", json.dumps(config))
    return path


def _rows(path: Path) -> dict[str, tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return {r[0]: r for r in conn.execute("SELECT * FROM records")}
    finally:
        conn.close()


def test_ok_supersedes_error_in_either_order_and_every_attempt_is_kept(tmp_path: Path) -> None:
    a = _store(tmp_path / "a.db", _ok("s1"), _error("s2", "TimeoutError: slow", 1.0),
               _error("s3", "TimeoutError: slow", 1.0), _error("s3", "BackendError: HTTP 500: x", 3.0),
               config={"experiment": "exp", "shard": "1/2"})
    b = _store(tmp_path / "b.db", _ok("s2", at=20.0), _error("s3", "ConnectionError: reset", 2.0),
               _error("s4", "TimeoutError: slow", 4.0), config={"experiment": "exp", "shard": "2/2"})
    for order, out in (((a, b), tmp_path / "ab.db"), ((b, a), tmp_path / "ba.db")):
        report = merge_stores(order, out)
        assert (report.records, report.ok, report.errors) == (4, 2, 2)
        assert report.attempts == 5
        with Store(out, create=False) as merged:
            rows = {r["sample_id"]: r for r in merged.rows()}
            assert rows["s2"]["status"] == "ok" and rows["s2"]["created_at"] == 20.0
            assert rows["s3"]["error"] == "BackendError: HTTP 500: x"  # the latest failure of s3
            s3 = merged.attempts(_key("s3").digest())
            assert [(x["attempt"], x["at"], x["error_class"]) for x in s3] == [
                (1, 1.0, "TimeoutError"), (2, 2.0, "ConnectionError"), (3, 3.0, "BackendError")]
            assert json.loads(merged.get_meta("last_config") or "") == {"experiment": "exp", "shard": None}
            assert json.loads(merged.get_meta("merged_from") or "") == [str(p.resolve()) for p in order]
    assert _rows(tmp_path / "ab.db") == _rows(tmp_path / "ba.db")


def test_identical_ok_rows_are_one_and_timing_alone_is_no_conflict(tmp_path: Path) -> None:
    a = _store(tmp_path / "a.db", _ok("s1", at=10.0), _ok("s2"))
    b = _store(tmp_path / "b.db", _ok("s1", at=99.0))  # rerun of s1: same result, other time
    report = merge_stores([a, b, a], tmp_path / "m.db")  # a path given twice counts once
    assert len(report.inputs) == 2 and report.records == 2 and report.duplicates == 1
    assert _rows(tmp_path / "m.db") == _rows(a)  # the first input's row is kept


def test_two_different_ok_rows_are_a_conflict_that_names_the_key_and_writes_nothing(tmp_path: Path) -> None:
    a = _store(tmp_path / "a.db", _ok("s1"), _ok("s2"))
    b = _store(tmp_path / "b.db", _ok("s2", answer="<answer>4</answer>"))
    out = tmp_path / "m.db"
    with pytest.raises(MergeConflict) as caught:
        merge_stores([a, b], out)
    message = str(caught.value)
    assert _key("s2").digest() in message and "sample=s2" in message and "answer_text" in message
    assert str(a.resolve()) in message and str(b.resolve()) in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db", "b.db"]  # no output, no scratch file
    before = _rows(a)
    with pytest.raises(MergeConflict):
        merge_stores([a, b], a)  # merging into an input: the input is left as it was
    assert _rows(a) == before


def test_output_is_never_an_unrelated_existing_file(tmp_path: Path) -> None:
    a = _store(tmp_path / "a.db", _ok("s1"))
    other = tmp_path / "notes.db"
    other.write_text("precious")
    with pytest.raises(UserError, match="exists and is not one of the inputs"):
        merge_stores([a], other)
    assert other.read_text() == "precious"
    with pytest.raises(UserError, match="directory"):
        merge_stores([a], tmp_path)
    with pytest.raises(UserError, match="at least one"):
        merge_stores([], tmp_path / "m.db")


def test_merging_into_one_of_the_inputs_updates_it_in_place(tmp_path: Path) -> None:
    merged = _store(tmp_path / "merged.db", _ok("s1"), _error("s2", "TimeoutError: slow", 1.0))
    retried = _store(tmp_path / "retry.db", _ok("s2", at=5.0), _ok("s3"))
    report = merge_stores([merged, retried], merged)
    assert report.out == merged.resolve() and (report.ok, report.errors, report.superseded) == (3, 0, 1)
    with Store(merged, create=False) as store:
        assert {r["sample_id"] for r in store.rows(status=Status.OK)} == {"s1", "s2", "s3"}
        assert [a["message"] for a in store.attempts()] == ["TimeoutError: slow"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged.db", "retry.db"]


def test_merging_into_a_store_another_process_has_open_is_refused(tmp_path: Path) -> None:
    target = _store(tmp_path / "live.db", _ok("s1"))
    other = _store(tmp_path / "b.db", _ok("s2"))
    # a sweep still writing: replacing the file would lose its writes
    with Store(target), pytest.raises(UserError, match="open in another process"):
        merge_stores([target, other], target)
    assert len(_rows(target)) == 1


def test_a_store_of_the_previous_version_merges_after_upgrading(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.db"
    shutil.copyfile(FIXTURE, legacy)
    report = merge_stores([legacy], tmp_path / "m.db")
    assert (report.ok, report.errors, report.attempts) == (2, 1, 1)
    with Store(tmp_path / "m.db", create=False) as store:
        assert store.get_meta("last_experiment") == "legacy"


def test_task_traits_are_the_union_and_a_later_input_redeclaring_a_task_wins(tmp_path: Path) -> None:
    """Analysis reads tasks by the store's declarations, so a merge must keep every input's."""
    math = TaskTraits("misleading_math", "1", strata=("num_distractors",))
    foreign_v1 = TaskTraits("inspect_task", "1", metric="mean", source="inspect")
    foreign_v2 = TaskTraits("inspect_task", "2", metric="mean", higher_is_better=False, source="inspect")
    a, b = _store(tmp_path / "a.db", _ok("s1")), _store(tmp_path / "b.db", _ok("s2"))
    old = _store(tmp_path / "old.db", _ok("s3"))  # declares nothing (written before traits were kept)
    with Store(a) as store:
        store.put_task_traits(math)
        store.put_task_traits(foreign_v1)
    with Store(b) as store:
        store.put_task_traits(foreign_v2)
        store.put_task_traits(math)  # the same declaration twice is no replacement
    report = merge_stores([a, old, b], tmp_path / "m.db")
    assert report.tasks == 2 and report.traits_replaced == ("inspect_task",)
    with Store(tmp_path / "m.db", create=False) as store:
        assert store.task_traits() == {"misleading_math": math, "inspect_task": foreign_v2}
    reverse = merge_stores([b, a], tmp_path / "r.db")
    assert reverse.traits_replaced == ("inspect_task",) and reverse.to_json()["traits_replaced"] == ["inspect_task"]
    with Store(tmp_path / "r.db", create=False) as store:
        assert store.task_traits()["inspect_task"] == foreign_v1
