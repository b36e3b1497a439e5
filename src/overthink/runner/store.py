"""SQLite record store: the contract between running and analysis.

One row per work key, committed the moment its completion finishes (WAL mode, so a reader never
blocks the writer and a killed process loses at most the row being written). An ok row is immutable;
an error row is the latest failure of its key and is replaced when a later attempt finishes, while
every failed attempt stays in the `attempts` table. A run started again skips ok keys and keys that
used up their attempts, which is what makes every sweep resumable and its errors temporary. Writes
are one IMMEDIATE transaction per group, so any number of processes can share one file. The schema
grows only by named steps (runner/migrations.py); merging stores lives in runner/merge.py.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from overthink.models.secrets import scrub
from overthink.runner.migrations import APP_ID, MIGRATIONS, STEPS, NewerStoreError, error_class, migrate
from overthink.types import Record, Status, TaskTraits

__all__ = ["APP_ID", "DEFAULT_MAX_ATTEMPTS", "MIGRATIONS", "STEPS", "Store", "StoreError"]

# Attempts a key gets in total, counting every run of the sweep: a re-run retries a failed key until
# it has failed this many times, so a transient outage heals on re-run and a broken item stops costing.
DEFAULT_MAX_ATTEMPTS = 3
# Keys per `key_states` statement: well under SQLite's limit on bound parameters (999 before 3.32).
LOOKUP_BATCH = 900


class StoreError(Exception):
    """The file is not an overthink store, or cannot be opened (a user-facing problem)."""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Store:
    """Append-only access to one store file."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise StoreError(f"store {self.path} does not exist (run `overthink run --store {self.path}` first)")
        if self.path.exists() and self.path.is_dir():
            raise StoreError(f"store path {self.path} is a directory; give a file path such as results.db")
        if self.path.exists():
            self._check_header()
        try:
            self.conn = _connect(self.path)
            self._check_foreign()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a readable overthink store ({exc})") from None

    def _check_header(self) -> None:
        try:
            with self.path.open("rb") as handle:
                head = handle.read(16)
        except OSError as exc:
            raise StoreError(f"cannot read store {self.path}: {exc.strerror}") from None
        if head and head != b"SQLite format 3\x00":
            raise StoreError(f"{self.path} is not an overthink store (not an SQLite file); choose another --store path")

    def _check_foreign(self) -> None:
        tables = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return
        if "meta" not in tables:
            raise StoreError(f"{self.path} is an SQLite file of another program; choose another --store path")
        row = self.conn.execute("SELECT value FROM meta WHERE name='app'").fetchone()
        if row is None or row[0] != APP_ID:
            raise StoreError(f"{self.path} is an SQLite file of another program; choose another --store path")

    def _migrate(self) -> None:
        try:
            migrate(self.conn)
        except NewerStoreError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    @property
    def schema_version(self) -> int:
        """How many schema steps this file holds (the legacy integer, kept for older readers)."""
        return int(self.conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def migrations(self) -> list[tuple[str, float, str]]:
        """(name, applied_at, applied_by) of every schema step of this file, in the order applied."""
        rows = self.conn.execute("SELECT name, applied_at, applied_by FROM migrations ORDER BY applied_at, name")
        return [(str(n), float(t), str(b)) for n, t, b in rows]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def done_keys(self, max_attempts: int = DEFAULT_MAX_ATTEMPTS, *, experiment: str | None = None,
                  model: str | None = None, task: str | None = None) -> set[str]:
        """Keys a re-run skips: ok records, and error records that failed `max_attempts` times in total.

        Every other error key is retried. The filters narrow the set to one (experiment, model, task)
        sweep, so its size follows the sweep being resumed rather than the whole file.
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        where, params = _filters(experiment=experiment, model=model, task=task)
        sql = (f"SELECT r.key FROM records r WHERE {where} (r.status = 'ok' OR "
               "(SELECT COUNT(*) FROM attempts a WHERE a.key = r.key) >= ?)")
        return {row[0] for row in self.conn.execute(sql, (*params, max_attempts))}

    def key_states(self, keys: Sequence[str]) -> dict[str, tuple[str, int]]:
        """(status, failed attempts) of each of `keys` that has a record; keys without one are absent.
        An ok record reports 0 attempts: whether it is done never depends on them.

        The streamed plan asks this once per chunk of its keys (primary-key lookups, `LOOKUP_BATCH`
        keys per statement), so resuming a sweep costs memory in the chunk size, never in the number
        of records the store or the sweep holds.
        """
        states: dict[str, tuple[str, int]] = {}
        for start in range(0, len(keys), LOOKUP_BATCH):
            batch = keys[start:start + LOOKUP_BATCH]
            sql = ("SELECT r.key, r.status, CASE WHEN r.status = 'ok' THEN 0 ELSE "  # an ok key's attempts never matter
                   "(SELECT COUNT(*) FROM attempts a WHERE a.key = r.key) END "
                   f"FROM records r WHERE r.key IN ({', '.join('?' for _ in batch)})")
            for key, status, attempts in self.conn.execute(sql, batch):
                states[str(key)] = (str(status), int(attempts))
        return states

    def existing_keys(self) -> set[str]:
        """Keys a re-run skips with the default attempts limit (the name cli/run.py has always called)."""
        return self.done_keys()

    def error_counts(self, max_attempts: int = DEFAULT_MAX_ATTEMPTS, *, experiment: str | None = None,
                     model: str | None = None, task: str | None = None) -> tuple[int, int]:
        """(error keys a re-run retries, error keys that used up `max_attempts`), for the summary line."""
        where, params = _filters(experiment=experiment, model=model, task=task)
        sql = (f"SELECT (SELECT COUNT(*) FROM attempts a WHERE a.key = r.key) >= ? AS spent, COUNT(*) "
               f"FROM records r WHERE {where} r.status = 'error' GROUP BY spent")
        counts = dict(self.conn.execute(sql, (max_attempts, *params)).fetchall())
        return int(counts.get(0, 0)), int(counts.get(1, 0))

    def attempts(self, key: str | None = None) -> list[dict[str, Any]]:
        """Failed attempts (key, attempt, at, error_class, message), by key and attempt number."""
        sql = "SELECT key, attempt, at, error_class, message FROM attempts"
        cursor = self.conn.execute(sql + (" WHERE key = ?" if key else "") + " ORDER BY key, attempt",
                                   (key,) if key else ())
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor]

    def write(self, record: Record) -> bool:
        """Store one finished record; False when its key already holds an ok row (never rewritten)."""
        return self.write_many([record]) == 1

    def write_many(self, records: Iterable[Record]) -> int:
        """Store records in one transaction; returns how many rows were inserted or replaced.

        A new key is inserted; an error row is replaced by whatever finished later (ok or a newer
        error); an ok row is left alone. Every error record also becomes the next attempt of its key,
        numbered inside the same transaction, so concurrent writers never number one attempt twice.
        """
        batch = list(records)
        rows = [_to_row(r) for r in batch]
        if not rows:
            return 0
        columns = list(rows[0])
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "key")
        upsert = (
            f"INSERT INTO records ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
            f"ON CONFLICT (key) DO UPDATE SET {updates} WHERE records.status = 'error'"
        )
        attempt = (
            "INSERT INTO attempts (key, attempt, at, error_class, message) "
            "SELECT ?, COALESCE(MAX(attempt), 0) + 1, ?, ?, ? FROM attempts WHERE key = ?"
        )
        failures = [(r["key"], r["created_at"], _failure_class(record), r["error"] or "", r["key"])
                    for record, r in zip(batch, rows, strict=True) if r["status"] == Status.ERROR.value]
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            before = self.conn.total_changes
            self.conn.executemany(upsert, [tuple(row[c] for c in columns) for row in rows])
            written = self.conn.total_changes - before
            self.conn.executemany(attempt, failures)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return written

    def count(self, status: Status | None = None) -> int:
        if status is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        return int(
            self.conn.execute("SELECT COUNT(*) FROM records WHERE status=?", (status.value,)).fetchone()[0]
        )

    def rows(self, where: str = "", params: tuple[Any, ...] = ()) -> Iterator[dict[str, Any]]:
        """Records as plain dicts (JSON columns decoded), in insertion order."""
        cursor = self.conn.execute(f"SELECT * FROM records {where} ORDER BY rowid", params)
        names = [d[0] for d in cursor.description]
        for values in cursor:
            row = dict(zip(names, values, strict=True))
            for column in ("metadata", "extra", "score_details"):
                if row.get(column):
                    row[column] = json.loads(row[column])
            yield row

    def put_task_traits(self, traits: TaskTraits) -> None:
        """Declare (or update) what analysis needs to know of a task whose records this store holds."""
        self.conn.execute("INSERT OR REPLACE INTO tasks (task, traits) VALUES (?, ?)", (traits.name, traits.to_json()))

    def task_traits(self) -> dict[str, TaskTraits]:
        """Every task's declared traits by name (empty for a store written before traits were kept)."""
        return {str(name): TaskTraits.from_json(str(text))
                for name, text in self.conn.execute("SELECT task, traits FROM tasks ORDER BY task")}

    def set_meta(self, name: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def get_meta(self, name: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])


def _failure_class(record: Record) -> str:
    """The attempts log's class: the classified kind (auth, server, ...) when there is a specific one,
    else the exception's type name from the message."""
    if record.error_kind and record.error_kind != "backend":
        return record.error_kind
    return error_class(record.error or "")


def _to_row(record: Record) -> dict[str, Any]:
    key, comp, score = record.key, record.completion, record.score
    usage = comp.usage if comp else None
    return {
        "key": key.digest(),
        "experiment": key.experiment,
        "model": key.model,
        "task": key.task,
        "task_version": key.task_version,
        "sample_id": key.sample_id,
        "budget": key.budget,
        "budget_kind": record.budget_kind,
        "mechanism": key.mechanism,
        "strategy": key.strategy,
        "repeat": key.repeat,
        "seed": record.seed,
        "status": record.status.value,
        "error": None if record.error is None else scrub(record.error),  # the last gate before disk
        "requested_tokens": record.requested_tokens,
        "reasoning_tokens": usage.reasoning_tokens if usage else None,
        "reasoning_source": usage.reasoning_source.value if usage else None,
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "total_generated": comp.total_generated if comp else None,
        "answer_tokens": comp.answer_tokens if comp else None,
        "wait_insertions": comp.wait_insertions if comp else None,
        "looping": int(comp.looping) if comp else None,
        "finish_reason": comp.finish_reason if comp else None,
        "wall_time_s": comp.wall_time_s if comp else None,
        "cost_usd": usage.cost_usd if usage else None,
        "prompt": record.prompt,
        "target": record.target,
        "reasoning": comp.reasoning if comp else None,
        "answer_text": comp.text if comp else None,
        "extracted": score.extracted if score else None,
        "score": score.value if score else None,
        "correct": None if score is None or score.correct is None else int(score.correct),
        "score_details": json.dumps(dict(score.details), sort_keys=True) if score else None,
        "metadata": json.dumps(dict(record.metadata), sort_keys=True),
        "extra": json.dumps(dict(comp.extra), sort_keys=True) if comp else None,
        "created_at": record.created_at or time.time(),
    }


def _filters(**columns: str | None) -> tuple[str, tuple[str, ...]]:
    """A `col = ? AND ...` prefix (ending in AND, or empty) for the columns given a value."""
    given = {name: value for name, value in columns.items() if value is not None}
    return "".join(f"r.{name} = ? AND " for name in given), tuple(given.values())
