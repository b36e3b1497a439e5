"""Named, append-only schema steps of the record store, and the code that applies them.

A store lives longer than the code that wrote it (a paper-scale sweep runs for weeks, and its file is
read for years), so the schema only ever grows by a new named step; a step that has shipped is never
edited. Each applied step is recorded in the `migrations` table with the time it was applied and the
overthink version that applied it, so the history of a file can be read from the file itself.

Stores written before steps had names (overthink <= 0.1 at bd7df0b) track only a `schema_version`
table of integers; they are adopted in place: their integer says how many of the first steps they
hold. The integer table is still written after every step, so an older overthink, which refuses a
`schema_version` above the steps it knows, refuses a newer store instead of writing into it.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from functools import cache
from importlib import metadata

APP_ID = "overthink"  # meta 'app': how a store is told apart from another program's SQLite file


@dataclass(frozen=True)
class Migration:
    """One schema step: a stable name and SQL statements without semicolons inside literals."""

    name: str
    sql: str


RECORDS_SQL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    task_version TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    budget TEXT NOT NULL,
    budget_kind TEXT NOT NULL,
    mechanism TEXT NOT NULL,
    strategy TEXT NOT NULL,
    repeat INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    requested_tokens INTEGER,
    reasoning_tokens INTEGER,
    reasoning_source TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    total_generated INTEGER,
    answer_tokens INTEGER,
    wait_insertions INTEGER,
    looping INTEGER,
    finish_reason TEXT,
    wall_time_s REAL,
    cost_usd REAL,
    prompt TEXT NOT NULL,
    target TEXT NOT NULL,
    reasoning TEXT,
    answer_text TEXT,
    extracted TEXT,
    score REAL,
    correct INTEGER,
    score_details TEXT,
    metadata TEXT NOT NULL,
    extra TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_curve ON records (model, task, budget);
"""

# Every failed attempt of a key, kept after the key later succeeds. Error rows written before this
# step become attempt 1 of their key (the class is the text before the first ": ", as error_class()
# reads it), so a store from an older version counts its old failures toward the attempts limit.
ATTEMPTS_SQL = """
CREATE TABLE IF NOT EXISTS attempts (
    key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    error_class TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (key, attempt)
);
INSERT OR IGNORE INTO attempts (key, attempt, at, error_class, message)
SELECT key, 1, created_at,
       CASE WHEN instr(COALESCE(error, ''), ': ') > 1
                 AND instr(substr(error, 1, instr(error, ': ') - 1), ' ') = 0
            THEN substr(error, 1, instr(error, ': ') - 1) ELSE 'Unclassified' END,
       COALESCE(error, '')
FROM records WHERE status = 'error';
"""

# What analysis must know of each task (metric, direction, strata, cluster), one JSON object per task
# name, written by whoever adds its records (a sweep, an import): see types.TaskTraits.
TASKS_SQL = """
CREATE TABLE IF NOT EXISTS tasks (task TEXT PRIMARY KEY, traits TEXT NOT NULL);
"""

# What each record's answer cost, by the one definition of compute (types.Completion.compute, written
# by store/rows.py). Ok records written before this step get it derived from what they kept: a vote or
# best-of-n record sums its samples' thinking and answers (`reasoning_tokens_each`, `answer_tokens_each`)
# and adds the verifier's prompt tokens (`verifier_tokens`; a served judge's one generated token per
# step was not kept); a scheduler record takes `compute` (sampled thinking, a few forced tokens lower
# than the realized count a new record uses); any other record its thinking plus its answer. Error
# records have none (NULL). Extra text that is not JSON is read as a single chain of thought.
COMPUTE_SQL = """
ALTER TABLE records ADD COLUMN compute_tokens INTEGER;
UPDATE records SET compute_tokens = CASE
    WHEN status != 'ok' THEN NULL
    WHEN extra IS NULL OR NOT json_valid(extra) THEN COALESCE(reasoning_tokens, 0) + COALESCE(answer_tokens, 0)
    ELSE CASE
        WHEN json_type(extra, '$.reasoning_tokens_each') = 'array' THEN
            (SELECT COALESCE(SUM(value), 0) FROM json_each(extra, '$.reasoning_tokens_each'))
            + (SELECT COALESCE(SUM(value), 0) FROM json_each(extra, '$.answer_tokens_each'))
            + COALESCE(json_extract(extra, '$.verifier_tokens'), 0)
        WHEN json_type(extra, '$.compute') = 'integer' THEN json_extract(extra, '$.compute')
        ELSE COALESCE(reasoning_tokens, 0) + COALESCE(answer_tokens, 0) END
    END
"""

# Every sample behind a vote or best-of-n record (types.SampleAnswer), a child of its record by key:
# written with the record's ok row and never after (store/absorb.py SAMPLES_RULE), read back by key
# (Queries.samples_of), so the answer texts of k samples never sit in an analysis frame. `idx` 0 is
# the sample drawn with the record's own seed (the cot trace). Records written before this step have
# no rows here; their samples' labels are still in `extra.answers`.
SAMPLES_SQL = """
CREATE TABLE IF NOT EXISTS samples (
    key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    answer_text TEXT NOT NULL,
    answer TEXT,
    extracted TEXT,
    score REAL,
    correct INTEGER,
    score_details TEXT,
    verifier_score REAL,
    reasoning_tokens INTEGER NOT NULL,
    answer_tokens INTEGER NOT NULL,
    verifier_tokens INTEGER NOT NULL,
    verifier_generated INTEGER NOT NULL,
    compute_tokens INTEGER NOT NULL,
    PRIMARY KEY (key, idx)
);
"""

# Every answer forked off a probed cot record's trace before its budget (types.ProbeAnswer, `--probe-every`),
# a child of its record by key like the samples: written with the record's ok row and never after
# (store/absorb.py PROBES_RULE), read back by key (Queries.probes_of). `at` is the prefix's thinking tokens.
PROBES_SQL = """
CREATE TABLE IF NOT EXISTS probes (
    key TEXT NOT NULL,
    at INTEGER NOT NULL,
    answer_text TEXT NOT NULL,
    answer TEXT,
    extracted TEXT,
    score REAL,
    correct INTEGER,
    score_details TEXT,
    answer_tokens INTEGER NOT NULL,
    PRIMARY KEY (key, at)
);
"""

# Append-only. Never edit, rename or reorder a step that has shipped; add a new one at the end.
STEPS: tuple[Migration, ...] = (
    Migration("0001_records", RECORDS_SQL),
    Migration("0002_attempts", ATTEMPTS_SQL),
    Migration("0003_tasks", TASKS_SQL),
    Migration("0004_compute_tokens", COMPUTE_SQL),
    Migration("0005_samples", SAMPLES_SQL),
    Migration("0006_probes", PROBES_SQL),
)

# The SQL of every step in order, for code that builds the schema in memory (analysis/families.py).
MIGRATIONS: tuple[str, ...] = tuple(step.sql for step in STEPS)

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL, applied_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)
"""


class NewerStoreError(Exception):
    """The store holds steps this overthink does not know: it was written by a newer version."""


@cache
def _version() -> str:
    """The installed overthink version (read from package metadata: importing `overthink` is a cycle)."""
    try:
        return metadata.version("overthink")
    except metadata.PackageNotFoundError:
        return "unknown"


def error_class(message: str) -> str:
    """The class of a stored error message `"Class: detail"` (the runner's format), else "Unclassified"."""
    head, sep, _ = message.partition(": ")
    return head if sep and head and " " not in head else "Unclassified"


def _statements(sql: str) -> list[str]:
    return [s for s in sql.split(";") if s.strip()]


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _applied(conn: sqlite3.Connection) -> tuple[list[str], int]:
    """(names recorded in `migrations`, highest legacy `schema_version`), both empty for a new file."""
    tables = _tables(conn)
    names = [str(r[0]) for r in conn.execute("SELECT name FROM migrations")] if "migrations" in tables else []
    legacy = conn.execute("SELECT MAX(version) FROM schema_version").fetchone() if "schema_version" in tables else None
    return names, int(legacy[0]) if legacy and legacy[0] is not None else 0


def _check_known(names: list[str], legacy: int) -> None:
    known = {step.name for step in STEPS}
    unknown = sorted(set(names) - known)
    if unknown or legacy > len(STEPS):
        what = ", ".join(unknown) if unknown else f"schema {legacy}"
        raise NewerStoreError(f"it was written by a newer overthink ({what}); upgrade overthink to read it")


def pending_steps(conn: sqlite3.Connection) -> list[Migration]:
    """The steps this file still lacks (a read only: a store that is up to date is never written)."""
    names, legacy = _applied(conn)
    _check_known(names, legacy)
    done = set(names) if names else {step.name for step in STEPS[:legacy]}
    return [step for step in STEPS if step.name not in done]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Bring the store up to date in one write transaction; returns the names of the steps applied.

    The check is repeated inside the transaction, so two processes opening one new file at once
    apply each step exactly once. `conn` must be in autocommit mode (isolation_level=None).
    """
    if not pending_steps(conn):
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        names, legacy = _applied(conn)
        for statement in _statements(_BOOKKEEPING):
            conn.execute(statement)
        now = time.time()
        if not names and legacy:  # a store from before named steps: adopt the steps its integer counts
            conn.executemany(
                "INSERT INTO migrations (name, applied_at, applied_by) VALUES (?, ?, ?)",
                [(step.name, now, f"schema_version {legacy} (adopted by overthink {_version()})")
                 for step in STEPS[:legacy]],
            )
        applied = []
        for step in pending_steps(conn):
            for statement in _statements(step.sql):
                conn.execute(statement)
            conn.execute("INSERT INTO migrations (name, applied_at, applied_by) VALUES (?, ?, ?)",
                         (step.name, now, f"overthink {_version()}"))
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (STEPS.index(step) + 1,))
            applied.append(step.name)
        conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('app', ?)", (APP_ID,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied


@cache
def record_columns() -> tuple[str, ...]:
    """The `records` table's columns in order, built from the steps in memory (no file is opened), so
    code that writes store-shaped frames (analysis/simulate.py) cannot drift from the schema."""
    conn = sqlite3.connect(":memory:")
    try:
        for migration in MIGRATIONS:
            conn.executescript(migration)
        return tuple(str(row[1]) for row in conn.execute("PRAGMA table_info(records)"))
    finally:
        conn.close()
