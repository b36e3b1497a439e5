"""Named, append-only schema steps: new files, stores written by the previous version, newer stores."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from overthink.store import Store, StoreError
from overthink.store.schema import MIGRATIONS, STEPS, error_class

FIXTURE = Path(__file__).parent / "fixtures" / "store-schema1.sqlite"


def _legacy_copy(tmp_path: Path) -> Path:
    path = tmp_path / "legacy.db"
    shutil.copyfile(FIXTURE, path)
    return path


def test_new_store_records_every_step_by_name(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store:
        applied = store.migrations()
        assert [name for name, _, _ in applied] == [step.name for step in STEPS]
        assert all(at > 1.7e9 and by.startswith("overthink ") for _, at, by in applied)
        assert store.schema_version == len(STEPS)
        tables = {r[0] for r in store._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"records", "attempts", "meta", "migrations", "schema_version", "samples", "probes"} <= tables
    assert [step.name for step in STEPS][-1] == "0006_probes"
    with Store(tmp_path / "r.db") as again:  # reopening applies nothing twice
        assert again.migrations() == applied
        assert again._conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(STEPS)


def test_store_of_the_previous_version_upgrades_in_place(tmp_path: Path) -> None:
    path = _legacy_copy(tmp_path)
    before = sqlite3.connect(path)
    assert {r[0] for r in before.execute("SELECT name FROM sqlite_master WHERE type='table'")} == {
        "meta", "records", "schema_version"}
    old_rows = before.execute("SELECT * FROM records ORDER BY key").fetchall()
    old_columns = ", ".join(str(r[1]) for r in before.execute("PRAGMA table_info(records)"))
    before.close()
    with Store(path, create=False) as store:
        names = [(name, by) for name, _, by in store.migrations()]
        assert names[0] == ("0001_records", names[0][1]) and "adopted" in names[0][1]
        assert names[1][0] == "0002_attempts" and "adopted" not in names[1][1]
        # every column the old file had keeps its values (later steps only add columns and tables)
        assert store._conn.execute(f"SELECT {old_columns} FROM records ORDER BY key").fetchall() == old_rows
        # the old error row became attempt 1 of its key, so it counts toward the attempts limit
        attempts = store.attempts()
        assert [(a["attempt"], a["error_class"], a["message"]) for a in attempts] == [
            (1, "BackendError", "BackendError: HTTP 503: server overloaded")]
        assert attempts[0]["at"] == 1700000001.0
        assert store.get_meta("last_experiment") == "legacy"


def test_previous_version_refuses_an_upgraded_store(tmp_path: Path) -> None:
    """The integer table is still kept, so the old code's own check ('newer overthink') fires."""
    path = _legacy_copy(tmp_path)
    Store(path).close()
    # the exact check of the previous version's Store._migrate, run in a separate interpreter
    check = textwrap.dedent(f"""
        import sqlite3
        conn = sqlite3.connect({str(path)!r})
        current = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        raise SystemExit(3 if current > 1 else 0)
    """)
    assert subprocess.run([sys.executable, "-c", check]).returncode == 3


def test_unknown_step_name_means_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO migrations VALUES ('0099_future', 1.0, 'overthink 9')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"newer overthink.*0099_future"):
        Store(path)


def test_steps_are_named_uniquely_and_build_the_schema_in_memory() -> None:
    names = [step.name for step in STEPS]
    assert len(set(names)) == len(names) and names == sorted(names)
    conn = sqlite3.connect(":memory:")
    for sql in MIGRATIONS:  # how analysis/families.py reads the records columns
        conn.executescript(sql)
    assert "attempts" in {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.mark.parametrize(("message", "expected"), [
    ("TimeoutError: slow", "TimeoutError"),
    ("BackendError: ModuleNotFoundError: No module named 'openai'", "BackendError"),
    ("backend returned no completion for this budget", "Unclassified"),
    ("a b: c", "Unclassified"),
    ("", "Unclassified"),
])
def test_error_class_matches_the_backfill_sql(message: str, expected: str) -> None:
    assert error_class(message) == expected
    conn = sqlite3.connect(":memory:")
    conn.executescript(MIGRATIONS[0])
    conn.execute(
        "INSERT INTO records (key, experiment, model, task, task_version, sample_id, budget, budget_kind, "
        "mechanism, strategy, repeat, seed, status, error, prompt, target, metadata, created_at) "
        "VALUES ('k', 'e', 'm', 't', '1', 's', '0', 'tokens', 'forced', 'cot', 0, 1, 'error', ?, 'p', 't', "
        "'{}', 1.0)", (message,))
    conn.executescript(MIGRATIONS[1])
    assert conn.execute("SELECT error_class FROM attempts").fetchone()[0] == expected
