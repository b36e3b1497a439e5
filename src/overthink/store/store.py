"""SQLite record store: the contract between running and analysis.

One row per work key, committed the moment its completion finishes (WAL mode, so a reader never
blocks the writer and a killed process loses at most the row being written). An ok row is immutable;
an error row is the latest failure of its key and is replaced when a later attempt finishes, while
every failed attempt stays in the `attempts` table (the rule, written once, is store/absorb.py). A run
started again skips ok keys and keys that used up their attempts, which is what makes every sweep
resumable and its errors temporary. Writes are one IMMEDIATE transaction per group, so any number of
processes can share one file. The schema grows only by named steps (store/schema.py); the read
queries are store/queries.py; merging stores is store/merge.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from overthink.store.absorb import Absorbed, absorb_attached, absorb_rows, transaction
from overthink.store.cells import CellRow, curve_cells
from overthink.store.probes import probe_rows
from overthink.store.queries import Queries
from overthink.store.rows import failure_class, to_row
from overthink.store.samples import sample_rows
from overthink.store.schema import APP_ID, NewerStoreError, migrate
from overthink.types import Record, Status, TaskTraits

__all__ = ["Store", "StoreError"]

TraitsFor = Callable[[str], TaskTraits]  # task name -> its traits, asked inside the absorbing transaction


class StoreError(Exception):
    """The file is not an overthink store, or cannot be opened (a user-facing problem)."""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Store(Queries):
    """Append-only access to one store file: the only holder of its connection."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise StoreError(f"store {self.path} does not exist (run `overthink run --store {self.path}` first)")
        if self.path.exists() and self.path.is_dir():
            raise StoreError(f"store path {self.path} is a directory; give a file path such as results.db")
        if self.path.exists():
            self._check_header()
        try:
            self._conn = _connect(self.path)
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
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return
        if "meta" not in tables:
            raise StoreError(f"{self.path} is an SQLite file of another program; choose another --store path")
        row = self._conn.execute("SELECT value FROM meta WHERE name='app'").fetchone()
        if row is None or row[0] != APP_ID:
            raise StoreError(f"{self.path} is an SQLite file of another program; choose another --store path")

    def _migrate(self) -> None:
        try:
            migrate(self._conn)
        except NewerStoreError as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    @property
    def schema_version(self) -> int:
        """How many schema steps this file holds (the legacy integer, kept for older readers)."""
        return int(self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def migrations(self) -> list[tuple[str, float, str]]:
        """(name, applied_at, applied_by) of every schema step of this file, in the order applied."""
        rows = self._conn.execute("SELECT name, applied_at, applied_by FROM migrations ORDER BY applied_at, name")
        return [(str(n), float(t), str(b)) for n, t, b in rows]

    def journal_mode(self) -> str:
        return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, record: Record) -> bool:
        """Store one finished record; False when its key already holds an ok row (never rewritten)."""
        return self.write_many([record]) == 1

    def write_many(self, records: Iterable[Record]) -> int:
        """Store records in one transaction under the absorb rule; returns how many rows were inserted
        or replaced. Every error record also becomes an attempt of its key, numbered inside the same
        transaction, so concurrent writers never number one attempt twice; the samples of vote and
        best-of-n records are written in it too (store/samples.py), and the probes of probed cot records
        (store/probes.py)."""
        batch = list(records)
        rows = [to_row(r) for r in batch]
        if not rows:
            return 0
        failures = [(str(r["key"]), float(r["created_at"]), failure_class(record), str(r["error"] or ""))
                    for record, r in zip(batch, rows, strict=True) if r["status"] == Status.ERROR.value]
        samples = [row for record in batch for row in sample_rows(record)]
        probes = [row for record in batch for row in probe_rows(record)]
        with transaction(self._conn):
            return absorb_rows(self._conn, rows, failures, samples, probes).written

    @contextmanager
    def attached(self, path: Path) -> Iterator[sqlite3.Connection]:
        """Another store file attached as `src` (for this package's merge and fold only)."""
        self._conn.execute("ATTACH DATABASE ? AS src", (str(path),))
        try:
            yield self._conn
        finally:
            self._conn.execute("DETACH DATABASE src")

    def absorb_store(self, path: Path, traits_for: TraitsFor | None = None) -> Absorbed:
        """Fold every record and attempt of the store at `path` into this one, in one transaction.

        Task declarations come along: copied from `path` (a later declaration wins) when `traits_for`
        is None, else asked of `traits_for` for each task of `path`'s records, once they are in.
        """
        with self.attached(path) as conn, transaction(conn):
            absorbed = absorb_attached(conn)
            if traits_for is None:
                conn.execute("INSERT OR REPLACE INTO main.tasks (task, traits) SELECT task, traits FROM src.tasks")
            else:
                for (task,) in conn.execute("SELECT DISTINCT task FROM src.records ORDER BY task").fetchall():
                    self.put_task_traits(traits_for(str(task)))
        return absorbed

    def declare_tasks(self, tasks: Iterable[str], traits_for: TraitsFor) -> None:
        """Write the traits of `tasks` in one transaction."""
        with transaction(self._conn):
            for task in sorted(set(tasks)):
                self.put_task_traits(traits_for(task))

    def checkpoint(self) -> None:
        """Move the WAL into the main file and empty it (before the file is renamed or attached)."""
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def curve_cells(self, *, experiment: str, model: str, task: str, strategy: str, by_label: bool,
                    key: str | None) -> list[CellRow]:
        """Per (budget, problem) aggregates of one curve family (store/cells.py)."""
        return curve_cells(self._conn, experiment=experiment, model=model, task=task, strategy=strategy,
                           by_label=by_label, key=key)

    def put_task_traits(self, traits: TaskTraits) -> None:
        """Declare (or update) what analysis needs to know of a task whose records this store holds."""
        self._conn.execute("INSERT OR REPLACE INTO tasks (task, traits) VALUES (?, ?)",
                           (traits.name, traits.to_json()))

    def set_meta(self, name: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))
