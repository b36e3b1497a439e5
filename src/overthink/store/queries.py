"""Typed read queries on a store: what run, merge, import, analysis and the report may ask of it.

Callers outside this package never see a connection or write SQL; they call these methods (mixed
into `Store`) and get sets, dicts, frames or dataclasses back. Every query is one statement (or one
per chunk of keys) whose result is bounded by what was asked, never by the size of the file, except
the frame readers, which stream `chunk` rows at a time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from overthink.store.probes import ProbeRow, read_probes
from overthink.store.rows import decode_row, filters
from overthink.store.samples import SampleRow, read_samples
from overthink.types import Status, TaskTraits

if TYPE_CHECKING:  # pandas is imported by the frame readers only: a run never pays for it
    import pandas as pd

# Attempts a key gets in total, counting every run of the sweep: a re-run retries a failed key until
# it has failed this many times, so a transient outage heals on re-run and a broken item stops costing.
DEFAULT_MAX_ATTEMPTS = 3
# Keys per statement: well under SQLite's limit on bound parameters (999 before 3.32).
LOOKUP_BATCH = 900
TEXT_BATCH = 500


@dataclass(frozen=True)
class Contents:
    """What a store holds, by distinct value: for an import's report."""

    ok: int
    errors: int
    tasks: tuple[str, ...]
    models: tuple[str, ...]
    budgets: tuple[str, ...]  # unordered: budget labels sort by meaning, which the caller knows


@dataclass(frozen=True)
class TaskProfile:
    """A task's records described, for reading off the traits of a task no registry knows."""

    version: str  # of its latest record ("" without records)
    non_binary: int  # ok records whose score is neither 0 nor 1
    items: int  # distinct sample ids
    metadata_keys: tuple[tuple[str, int, bool], ...]  # (key, distinct non-null values, ever nested)


class Queries:
    """The read side of `Store` (which owns `_conn`)."""

    _conn: sqlite3.Connection

    def done_keys(self, max_attempts: int = DEFAULT_MAX_ATTEMPTS, *, experiment: str | None = None,
                  model: str | None = None, task: str | None = None) -> set[str]:
        """Keys a re-run skips: ok records, and error records that failed `max_attempts` times in total.

        Every other error key is retried. The filters narrow the set to one (experiment, model, task)
        sweep, so its size follows the sweep being resumed rather than the whole file.
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        where, params = filters(experiment=experiment, model=model, task=task)
        sql = (f"SELECT r.key FROM records r WHERE {where} (r.status = 'ok' OR "
               "(SELECT COUNT(*) FROM attempts a WHERE a.key = r.key) >= ?)")
        return {row[0] for row in self._conn.execute(sql, (*params, max_attempts))}

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
            for key, status, attempts in self._conn.execute(sql, batch):
                states[str(key)] = (str(status), int(attempts))
        return states

    def existing_keys(self) -> set[str]:
        """Keys a re-run skips with the default attempts limit (the name cli/run.py has always called)."""
        return self.done_keys()

    def error_counts(self, max_attempts: int = DEFAULT_MAX_ATTEMPTS, *, experiment: str | None = None,
                     model: str | None = None, task: str | None = None) -> tuple[int, int]:
        """(error keys a re-run retries, error keys that used up `max_attempts`), for the summary line."""
        where, params = filters(experiment=experiment, model=model, task=task)
        sql = (f"SELECT (SELECT COUNT(*) FROM attempts a WHERE a.key = r.key) >= ? AS spent, COUNT(*) "
               f"FROM records r WHERE {where} r.status = 'error' GROUP BY spent")
        counts = dict(self._conn.execute(sql, (max_attempts, *params)).fetchall())
        return int(counts.get(0, 0)), int(counts.get(1, 0))

    def attempts(self, key: str | None = None) -> list[dict[str, Any]]:
        """Failed attempts (key, attempt, at, error_class, message), by key and attempt number."""
        sql = "SELECT key, attempt, at, error_class, message FROM attempts"
        cursor = self._conn.execute(sql + (" WHERE key = ?" if key else "") + " ORDER BY key, attempt",
                                    (key,) if key else ())
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor]

    def attempt_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])

    def count(self, status: Status | None = None) -> int:
        if status is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        return int(
            self._conn.execute("SELECT COUNT(*) FROM records WHERE status=?", (status.value,)).fetchone()[0]
        )

    def status_counts(self) -> dict[str, int]:
        """Records by status ("ok", "error")."""
        return {str(s): int(n) for s, n in self._conn.execute("SELECT status, COUNT(*) FROM records GROUP BY status")}

    def ok_among(self, keys: Sequence[str]) -> int:
        """How many of `keys` hold an ok record."""
        held = 0
        for start in range(0, len(keys), LOOKUP_BATCH):
            batch = keys[start:start + LOOKUP_BATCH]
            marks = ", ".join("?" for _ in batch)
            held += int(self._conn.execute(f"SELECT COUNT(*) FROM records WHERE status = 'ok' AND key IN ({marks})",
                                           tuple(batch)).fetchone()[0])
        return held

    def holds_ok(self, key: str) -> bool:
        return self.ok_among([key]) == 1

    def rows(self, *, status: Status | None = None) -> Iterator[dict[str, Any]]:
        """Records as plain dicts (JSON columns decoded), in insertion order; optionally of one status."""
        where, params = ("WHERE status = ?", (status.value,)) if status is not None else ("", ())
        cursor = self._conn.execute(f"SELECT * FROM records {where} ORDER BY rowid", params)
        names = [d[0] for d in cursor.description]
        for values in cursor:
            yield decode_row(names, values)

    def contents(self) -> Contents:
        counts = self.status_counts()

        def distinct(column: str) -> tuple[str, ...]:
            return tuple(str(r[0]) for r in self._conn.execute(
                f"SELECT DISTINCT {column} FROM records ORDER BY {column}"))

        return Contents(counts.get("ok", 0), counts.get("error", 0), distinct("task"), distinct("model"),
                        distinct("budget"))

    def task_traits(self) -> dict[str, TaskTraits]:
        """Every task's declared traits by name (empty for a store written before traits were kept)."""
        return {str(name): TaskTraits.from_json(str(text))
                for name, text in self._conn.execute("SELECT task, traits FROM tasks ORDER BY task")}

    def declared_traits(self, task: str) -> TaskTraits | None:
        row = self._conn.execute("SELECT traits FROM tasks WHERE task = ?", (task,)).fetchone()
        return TaskTraits.from_json(str(row[0])) if row else None

    def task_profile(self, task: str) -> TaskProfile:
        """The facts of a task's records (all of them) that its traits can be read off."""
        conn = self._conn
        version = conn.execute("SELECT task_version FROM main.records WHERE task = ? ORDER BY created_at DESC "
                               "LIMIT 1", (task,)).fetchone()
        non_binary = conn.execute("SELECT COUNT(*) FROM main.records WHERE task = ? AND status = 'ok' AND score "
                                  "IS NOT NULL AND score NOT IN (0.0, 1.0)", (task,)).fetchone()[0]
        items = conn.execute("SELECT COUNT(DISTINCT sample_id) FROM main.records WHERE task = ?", (task,)).fetchone()
        keys = conn.execute(
            "SELECT j.key, COUNT(DISTINCT j.value), SUM(j.type IN ('object', 'array')) "
            "FROM main.records r, json_each(r.metadata) j WHERE r.task = ? AND j.type != 'null' GROUP BY j.key",
            (task,)).fetchall()
        return TaskProfile(str(version[0]) if version else "", int(non_binary), int(items[0]),
                           tuple((str(k), int(levels), bool(nested)) for k, levels, nested in keys))

    def get_meta(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def meta(self) -> dict[str, str]:
        """Every meta value but the store's own mark ('app')."""
        return {str(n): str(v) for n, v in self._conn.execute("SELECT name, value FROM meta WHERE name != 'app'")}

    def texts(self, keys: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, str]]:
        """The text `fields` of the given record keys ("" for NULL); keys without a record are absent."""
        out: dict[str, dict[str, str]] = {}
        for start in range(0, len(keys), TEXT_BATCH):  # SQLite caps the number of parameters
            chunk = list(keys[start:start + TEXT_BATCH])
            marks = ", ".join("?" for _ in chunk)
            names = ", ".join(f'"{f}"' for f in fields)
            for key, *values in self._conn.execute(f"SELECT key, {names} FROM records WHERE key IN ({marks})",
                                                   chunk):
                out[str(key)] = {name: "" if value is None else str(value)
                                 for name, value in zip(fields, values, strict=True)}
        return out

    def samples_of(self, keys: Sequence[str]) -> dict[str, list[SampleRow]]:
        """The samples behind each vote / best-of-n record of `keys` (answer text, score, verifier score,
        tokens), in sample order; keys without samples (cot, errors, records older than 0005) are absent."""
        return read_samples(self._conn, keys)

    def samples(self, key: str) -> list[SampleRow]:
        """The samples of one record (empty when it has none)."""
        return self.samples_of([key]).get(key, [])

    def probes_of(self, keys: Sequence[str], *, text: bool = True) -> dict[str, list[ProbeRow]]:
        """The probes of each probed cot record of `keys` (`--probe-every`), in trace order; keys
        without probes are absent. `text=False` leaves the answer texts out."""
        return read_probes(self._conn, keys, text=text)

    def probe_decisions(self) -> list[tuple[str, int, int | None, int | None, str | None]]:
        """(key, at, correct, refused, extracted) of every probe, without texts, in (key, at) order; `refused`
        is the scorer's `refused` detail where it has one (refusal tasks), else NULL."""
        rows = self._conn.execute(
            "SELECT key, at, correct, CASE WHEN json_valid(score_details) THEN "
            "json_extract(score_details, '$.refused') END, extracted FROM probes ORDER BY key, at")
        return [(str(k), int(a), None if c is None else int(c), None if r is None else int(r), e)
                for k, a, c, r, e in rows]

    def tasks_present(self) -> set[str]:
        """Tasks with at least one record (from the index, not a scan of the records)."""
        return {str(row[0]) for row in self._conn.execute("SELECT DISTINCT task FROM records")}

    def judged_details(self, tasks: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """Score details of ok records that hold a judge verdict, of `tasks` (every task when None)."""
        where, params = "", tuple(tasks or ())
        if tasks is not None:
            if not tasks:
                return
            where = f" AND task IN ({', '.join('?' for _ in tasks)})"
        cursor = self._conn.execute(
            "SELECT score_details FROM records WHERE status = 'ok' AND score_details LIKE '%\"judge_model\"%'"
            + where, params)
        for (text,) in cursor:
            if text:
                yield json.loads(text)

    def record_columns(self) -> list[str]:
        """The columns of this file's `records` table, in order."""
        return [str(row[1]) for row in self._conn.execute("PRAGMA table_info(records)")]

    def record_frames(self, columns: Sequence[str] | None = None, chunk: int = 20_000, *,
                      at_least_one: bool = False) -> Iterator[pd.DataFrame]:
        """The records' `columns` (all when None) `chunk` rows at a time in insertion order, undecoded.

        `at_least_one` yields one empty frame with the columns when the store holds no records.
        """
        import pandas as pd

        names = ", ".join(f'"{n}"' for n in columns) if columns is not None else "*"
        sql = f"SELECT {names} FROM records ORDER BY rowid"
        empty = True
        for part in pd.read_sql_query(sql, self._conn, chunksize=chunk):
            empty = False
            yield part
        if empty and at_least_one:
            yield pd.read_sql_query(sql, self._conn)

    def mean_text_bytes(self, sample: int = 1000) -> float:
        """Mean characters of prompt, reasoning, answer and metadata (+200) over the first `sample` records."""
        sql = ("SELECT AVG(COALESCE(LENGTH(prompt), 0) + COALESCE(LENGTH(reasoning), 0) + "
               "COALESCE(LENGTH(answer_text), 0) + COALESCE(LENGTH(metadata), 0) + 200) "
               "FROM (SELECT * FROM records ORDER BY rowid LIMIT ?)")
        return float(self._conn.execute(sql, (sample,)).fetchone()[0] or 1)
