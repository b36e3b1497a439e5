"""The SQLite store: immutable rows, resume keys, foreign files, schema versions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from overthink.store import MIGRATIONS, Store, StoreError
from overthink.types import Completion, Record, Score, Status, TokenSource, Usage, WorkKey


def _record(sample: str = "s1", budget: str = "64", answer: str = "<answer>3</answer>") -> Record:
    key = WorkKey("exp", "tiny", "misleading_math", "1", sample, budget, "forced", "cot", 0)
    completion = Completion(
        text=answer, reasoning="think", finish_reason="stop",
        usage=Usage(10, 20, 64, TokenSource.TOKENIZER), total_generated=70,
    )
    return Record(
        key=key, seed=5, status=Status.OK, budget_kind="tokens", requested_tokens=64, prompt="p",
        target="3", metadata={"num_distractors": 2, "control": False}, completion=completion,
        score=Score(1.0, True, "3"),
    )


def test_write_is_idempotent_and_immutable(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store:
        assert store.write(_record())
        assert not store.write(_record(answer="<answer>9</answer>"))  # same key: never rewritten
        rows = list(store.rows())
    assert len(rows) == 1
    assert rows[0]["answer_text"] == "<answer>3</answer>"
    assert rows[0]["metadata"] == {"control": False, "num_distractors": 2}
    assert rows[0]["reasoning_tokens"] == 64 and rows[0]["reasoning_source"] == "tokenizer"


def test_existing_keys_match_digest(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store:
        store.write_many([_record("a"), _record("b"), _record("a", "128")])
        keys = store.existing_keys()
    assert keys == {_record("a").key.digest(), _record("b").key.digest(), _record("a", "128").key.digest()}


def test_error_records_are_kept(tmp_path: Path) -> None:
    base = _record()
    failed = Record(key=base.key, seed=1, status=Status.ERROR, budget_kind="tokens", requested_tokens=64,
                    prompt="p", target="3", metadata={}, error="TimeoutError: slow")
    with Store(tmp_path / "r.db") as store:
        store.write(failed)
        assert store.count(Status.ERROR) == 1
        row = next(store.rows())
    assert row["status"] == "error" and row["error"] == "TimeoutError: slow" and row["score"] is None


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store:
        mode = store.journal_mode()
        assert mode == "wal"
        assert store.schema_version == len(MIGRATIONS)
    with Store(tmp_path / "r.db") as again:  # reopening migrates nothing twice
        count = again._conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0]
        assert count == len(MIGRATIONS)


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="another program"):
        Store(path)
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]


def test_non_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database at all")
    with pytest.raises(StoreError, match="not an SQLite file"):
        Store(path)
    assert path.read_text() == "hello, this is not a database at all"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (len(MIGRATIONS) + 5,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer overthink"):
        Store(path)


def test_missing_store_when_not_creating(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_task_traits_round_trip_and_latest_wins(tmp_path: Path) -> None:
    from overthink.types import TaskTraits

    with Store(tmp_path / "s.db") as store:
        assert store.task_traits() == {}
        first = TaskTraits("grades", "1", metric="abs_error", higher_is_better=False, strata=("shots",),
                           cluster=("student",))
        store.put_task_traits(first)
        store.put_task_traits(TaskTraits("foreign", "2", source="inspect"))
        assert store.task_traits()["grades"] == first
        updated = TaskTraits("grades", "2", metric="abs_error", higher_is_better=False)
        store.put_task_traits(updated)
        assert store.task_traits() == {"foreign": TaskTraits("foreign", "2", source="inspect"), "grades": updated}
