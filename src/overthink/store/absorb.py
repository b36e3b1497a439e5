"""The one rule by which rows enter a store, for every writer: a run, `overthink merge`, an Inspect import.

Records, one key at a time: a new key is inserted; an ok row is immutable; an error row yields to an
ok row or to a later failure (a greater `created_at`); anything else changes nothing. Attempts: every
failure is kept once (known by key, time, class and message, so folding the same rows again adds
nothing) and each key's attempts are numbered 1, 2, ... in time order, whatever order they arrived in
(shards merged in any order, an import of older logs).

Samples (the child rows of a vote or best-of-n record, store/samples.py), by `SAMPLES_RULE`: a
record's samples are written with its ok row and never changed after; a key's set is the first
offered once its record is ok (an identical ok row from another store, a record of an older store
that had no samples yet, adds them then). An error row has none. The probes of a probed cot record
(store/probes.py) follow the same rule, `PROBES_RULE`.

A run hands its rows as values (`absorb_rows`), merge and import hand a whole store attached as
`src` (`absorb_attached`); both go through the same upsert, built from `RECORD_RULE`, the same
attempts step and the same samples step. Callers own the transaction (`transaction`), so what they
add beside the rows (a merge's task declarations, an import's traits) commits or rolls back with them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from overthink.store.probes import PROBE_COLUMNS
from overthink.store.samples import SAMPLE_COLUMNS

# When an incoming row `new` replaces the stored row `old` of its key. Written once; every writer uses it.
RECORD_RULE = "{old}.status = 'error' AND ({new}.status = 'ok' OR {new}.created_at > {old}.created_at)"
# Which offered sample rows a store takes: those of a key whose stored record is ok and that holds no
# samples yet (so an ok record's samples, like the record, are written once and never rewritten).
SAMPLES_RULE = ("EXISTS (SELECT 1 FROM main.records r WHERE r.key = {new}.key AND r.status = 'ok') "
                "AND NOT EXISTS (SELECT 1 FROM main.samples m WHERE m.key = {new}.key)")
# The probes of a probed cot record (store/probes.py) follow the samples' rule: written once, with the ok row.
PROBES_RULE = SAMPLES_RULE.replace("main.samples", "main.probes")
ATTEMPT_COLUMNS = "key, at, error_class, message"
_WORK_TABLES = ("absorb_failures", "absorb_new", "absorb_keep")


@dataclass(frozen=True)
class Absorbed:
    """What one absorb did: rows offered, rows inserted or replaced, error rows replaced, attempts added."""

    incoming: int
    written: int
    superseded: int
    attempts: int

    @property
    def unchanged(self) -> int:
        """Rows offered that changed nothing (an ok row already held, an older failure)."""
        return self.incoming - self.written


def replaces(old: str, new: str) -> str:
    """`RECORD_RULE` for the row aliases `old` (stored) and `new` (incoming)."""
    return RECORD_RULE.format(old=old, new=new)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One IMMEDIATE write transaction (the connection is in autocommit mode): all of it or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def upsert_sql(columns: Sequence[str], source: str | None = None) -> str:
    """Insert rows under the rule: one row of values (`source` None) or every row of table `source`."""
    names = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "key")
    rows = (f"VALUES ({', '.join('?' for _ in columns)})" if source is None
            else f"SELECT {names} FROM {source} WHERE true ORDER BY rowid")  # WHERE: parses ON CONFLICT
    return (f"INSERT INTO main.records ({names}) {rows} "
            f"ON CONFLICT (key) DO UPDATE SET {updates} WHERE {replaces('records', 'excluded')}")


def _absorb_children(conn: sqlite3.Connection, source: str, table: str = "samples") -> int:
    """Copy the child rows (`samples` or `probes`) of table `source` that their rule admits (read whole
    before inserting, so the rows of one key are judged together); returns how many were added."""
    columns, rule, order = ((SAMPLE_COLUMNS, SAMPLES_RULE, "key, idx") if table == "samples"
                            else (PROBE_COLUMNS, PROBES_RULE, "key, at"))
    names = ", ".join(columns)
    work = f"absorb_{table}_in"
    before = conn.total_changes
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {work} AS SELECT {names} FROM main.{table} WHERE 0")
    conn.execute(f"INSERT INTO temp.{work} ({names}) SELECT {names} FROM {source} s "
                 f"WHERE {rule.format(new='s')}")
    taken = conn.total_changes - before
    conn.execute(f"INSERT OR IGNORE INTO main.{table} ({names}) SELECT {names} FROM temp.{work} ORDER BY {order}")
    conn.execute(f"DELETE FROM temp.{work}")
    return taken


def _offer_children(conn: sqlite3.Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """A run's child rows of one table, through a temp table and the same rule as a merge's."""
    columns = SAMPLE_COLUMNS if table == "samples" else PROBE_COLUMNS
    names = ", ".join(columns)
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS absorb_{table} AS SELECT {names} FROM main.{table} WHERE 0")
    conn.executemany(f"INSERT INTO temp.absorb_{table} ({names}) VALUES ({', '.join('?' for _ in columns)})",
                     [tuple(row[c] for c in columns) for row in rows])
    _absorb_children(conn, f"temp.absorb_{table}", table)
    conn.execute(f"DELETE FROM temp.absorb_{table}")


def _work_tables(conn: sqlite3.Connection) -> None:
    for name in _WORK_TABLES:
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (key TEXT, at REAL, error_class TEXT, message TEXT)")


def _absorb_attempts(conn: sqlite3.Connection, source: str) -> int:
    """Add the failures of table `source` not logged yet and renumber the keys they touch in time order."""
    _work_tables(conn)
    before = conn.total_changes
    conn.execute(f"INSERT INTO temp.absorb_new ({ATTEMPT_COLUMNS}) SELECT DISTINCT {ATTEMPT_COLUMNS} "
                 f"FROM {source} s WHERE NOT EXISTS (SELECT 1 FROM main.attempts b WHERE b.key = s.key "
                 "AND b.at = s.at AND b.error_class = s.error_class AND b.message = s.message)")
    added = conn.total_changes - before
    out_of_order = added and conn.execute(
        "SELECT 1 FROM temp.absorb_new n JOIN main.attempts b ON b.key = n.key WHERE (b.at, b.error_class, "
        "b.message) > (n.at, n.error_class, n.message) LIMIT 1").fetchone() is not None
    if added and not out_of_order:  # the usual case (a run's new failure is its key's latest): append
        conn.execute(
            "INSERT INTO main.attempts (key, attempt, at, error_class, message) SELECT key, "
            "COALESCE((SELECT MAX(b.attempt) FROM main.attempts b WHERE b.key = n.key), 0) + "
            "ROW_NUMBER() OVER (PARTITION BY key ORDER BY at, error_class, message), at, error_class, message "
            "FROM temp.absorb_new n")
    elif added:  # an older failure arrived (a shard, an old log): renumber its keys in time order
        touched = "SELECT key FROM temp.absorb_new"
        conn.execute(f"INSERT INTO temp.absorb_keep ({ATTEMPT_COLUMNS}) SELECT {ATTEMPT_COLUMNS} "
                     f"FROM main.attempts WHERE key IN ({touched})")
        conn.execute(f"DELETE FROM main.attempts WHERE key IN ({touched})")
        conn.execute(
            f"INSERT INTO main.attempts (key, attempt, at, error_class, message) SELECT key, "
            "ROW_NUMBER() OVER (PARTITION BY key ORDER BY at, error_class, message), at, error_class, message "
            f"FROM (SELECT {ATTEMPT_COLUMNS} FROM temp.absorb_new UNION ALL "
            f"SELECT {ATTEMPT_COLUMNS} FROM temp.absorb_keep)")
    for name in _WORK_TABLES:
        conn.execute(f"DELETE FROM temp.{name}")
    return added


def absorb_rows(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]],
                failures: Sequence[tuple[str, float, str, str]], samples: Sequence[dict[str, Any]] = (),
                probes: Sequence[dict[str, Any]] = ()) -> Absorbed:
    """A run's finished rows (one column dict each), their failures (key, at, class, message), the
    sample rows of its vote / best-of-n records (store/samples.py `sample_rows`) and the probe rows of
    its probed cot records (store/probes.py `probe_rows`).

    Rows go in one at a time in the order given, so of two rows of one key in a batch the rule
    decides between them as it would between two batches.
    """
    if not rows:
        return Absorbed(0, 0, 0, 0)
    columns = list(rows[0])
    before = conn.total_changes
    conn.executemany(upsert_sql(columns), [tuple(row[c] for c in columns) for row in rows])
    written = conn.total_changes - before
    added = 0
    if failures:
        _work_tables(conn)
        conn.executemany(f"INSERT INTO temp.absorb_failures ({ATTEMPT_COLUMNS}) VALUES (?, ?, ?, ?)", failures)
        added = _absorb_attempts(conn, "temp.absorb_failures")
    if samples:
        _offer_children(conn, "samples", samples)
    if probes:
        _offer_children(conn, "probes", probes)
    return Absorbed(len(rows), written, 0, added)


def absorb_attached(conn: sqlite3.Connection, schema: str = "src") -> Absorbed:
    """Every record and attempt of the store attached as `schema`, in its insertion order."""
    columns = [str(r[1]) for r in conn.execute("PRAGMA main.table_info(records)")]
    incoming = int(conn.execute(f"SELECT COUNT(*) FROM {schema}.records").fetchone()[0])
    superseded = int(conn.execute(
        f"SELECT COUNT(*) FROM main.records m JOIN {schema}.records s ON s.key = m.key "
        f"WHERE {replaces('m', 's')}").fetchone()[0])
    before = conn.total_changes
    conn.execute(upsert_sql(columns, f"{schema}.records"))
    written = conn.total_changes - before
    added = _absorb_attempts(conn, f"{schema}.attempts")
    for table in ("samples", "probes"):  # an attached store is migrated first; a bare old file has neither
        held = conn.execute(f"SELECT 1 FROM {schema}.sqlite_master WHERE type = 'table' AND name = ?", (table,))
        if held.fetchone() is not None:
            _absorb_children(conn, f"{schema}.{table}", table)
    return Absorbed(incoming, written, superseded, added)
