"""Merge stores (shards of one sweep, or sweeps run on different machines) into one store.

Rules, one key at a time: a key present once is copied; an ok row supersedes an error row; of two
error rows the later failure is kept; two identical ok rows are one; two ok rows that differ in
anything but their timing (`created_at`, `wall_time_s`) are a conflict, because the store holds one
immutable answer per key and picking one would silently drop a result; so are two different sets of
samples behind one ok answer (the `samples` table, store/samples.py). A conflict names the key and
writes nothing. Every failed attempt of every input is kept (identical attempts once), renumbered
per key in time order. Apart from the conflict check, the rules are the store's own (store/absorb.py),
the ones a run and an import follow.

The `tasks` table (what each task's records mean to analysis: metric, direction, strata) is the
union of the inputs'. When two inputs declare one task differently, the later input (in the order
given) wins and the report names the task: that is what a store does itself when a later sweep
declares a task again (the declaration of the latest run wins), and refusing would block merging
sweeps across a task's versions, whose records differ by `task_version` and never conflict.

The output is built in a temporary file beside `--out` and renamed over it only when complete, so a
failed merge leaves nothing behind and a reader never sees half a store. `--out` may be a new path
or one of the inputs (merging into an existing store); any other existing file is refused rather than
overwritten. Everything runs in SQL over attached files, so memory does not grow with the stores.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from overthink.errors import UserError
from overthink.store.probes import PROBE_COLUMNS
from overthink.store.samples import SAMPLE_COLUMNS
from overthink.store.store import Store, StoreError
from overthink.types import TaskTraits

TIMING = ("created_at", "wall_time_s")  # measured, not produced: equal results may differ here
SHARD_FIELD = "shard"  # dropped from saved configurations, so shards of one sweep agree on theirs
STORE_FIELD = "store"  # each shard wrote its own file: the merged config names the merged store


class MergeConflict(StoreError):
    """Two inputs hold different ok records for one key (exit 2; nothing was written)."""


@dataclass(frozen=True)
class MergeReport:
    out: Path
    inputs: tuple[Path, ...]
    records: int
    ok: int
    errors: int
    attempts: int
    superseded: int  # error rows replaced by another input's ok row or later failure
    duplicates: int  # rows of an input already present (identical ok, or an older failure)
    tasks: int = 0  # tasks whose traits the merged store declares
    traits_replaced: tuple[str, ...] = ()  # tasks a later input declared differently (the later one kept)

    def to_json(self) -> dict[str, object]:
        return {"out": str(self.out), "inputs": [str(p) for p in self.inputs], "records": self.records,
                "ok": self.ok, "errors": self.errors, "attempts": self.attempts,
                "superseded": self.superseded, "duplicates": self.duplicates, "tasks": self.tasks,
                "traits_replaced": list(self.traits_replaced)}


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _check_paths(inputs: Sequence[str | Path], out: str | Path) -> tuple[list[Path], Path]:
    sources = list(dict.fromkeys(Path(p).resolve() for p in inputs))  # one path given twice counts once
    if not sources:
        raise UserError("merge needs at least one input store")
    target = Path(out).resolve()
    if target.is_dir():
        raise UserError(f"--out {out} is a directory; give a file path such as merged.db")
    if target.exists() and target not in sources:
        raise UserError(f"--out {out} exists and is not one of the inputs; choose a new path, or list it "
                        "as an input to merge into it")
    if not target.parent.is_dir():
        raise UserError(f"--out {out}: folder {target.parent} does not exist")
    for source in sources:
        Store(source, create=False).close()  # an overthink store, upgraded to the current schema
    if target in sources:
        _check_unused(target)
    elif any(p.exists() for p in _sidecars(target)):
        raise UserError(f"--out {out}: leftover {target.name}-wal/-shm files of a deleted store; remove them")
    return sources, target


def _check_unused(target: Path) -> None:
    """The store is about to be replaced: refuse while another process has it open (its WAL exists)."""
    if any(p.exists() for p in _sidecars(target)):
        raise UserError(f"{target} is open in another process (a sweep still writing?); stop it before "
                        "merging into it")


def _content_columns(conn: sqlite3.Connection) -> list[str]:
    return [str(r[1]) for r in conn.execute("PRAGMA main.table_info(records)") if r[1] not in ("key", *TIMING)]


def _find_conflict(conn: sqlite3.Connection, columns: list[str]) -> tuple[str, list[str]] | None:
    """An ok row of `src` that differs from main's ok row of its key in content (not in timing)."""
    differs = " OR ".join(f"m.{c} IS NOT s.{c}" for c in columns)
    row = conn.execute(
        f"SELECT m.key FROM main.records m JOIN src.records s ON s.key = m.key "
        f"WHERE m.status = 'ok' AND s.status = 'ok' AND ({differs}) LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    key = str(row[0])
    mine = conn.execute(f"SELECT {', '.join(columns)} FROM main.records WHERE key = ?", (key,)).fetchone()
    theirs = conn.execute(f"SELECT {', '.join(columns)} FROM src.records WHERE key = ?", (key,)).fetchone()
    return key, [c for c, a, b in zip(columns, mine, theirs, strict=True) if a != b]


def _find_child_conflict(conn: sqlite3.Connection, table: str, position: str, columns: tuple[str, ...],
                         ) -> tuple[str, list[str]] | None:
    """A child row of `src` (a sample at (key, idx), a probe at (key, at)) that differs from main's row
    at the same place: the samples and probes of one ok answer are part of it, so two inputs holding
    different ones conflict like two different ok rows."""
    compared = [c for c in columns if c not in ("key", position)]
    differs = " OR ".join(f"m.{c} IS NOT s.{c}" for c in compared)
    row = conn.execute(f"SELECT m.key, {', '.join(f'm.{c}, s.{c}' for c in compared)} FROM main.{table} m "
                       f"JOIN src.{table} s ON s.key = m.key AND s.{position} = m.{position} "
                       f"WHERE {differs} LIMIT 1").fetchone()
    if row is None:
        return None
    pairs = row[1:]
    kind = table.removesuffix("s")  # "sample" / "probe"
    return str(row[0]), [f"{kind} {c}" for i, c in enumerate(compared) if pairs[2 * i] != pairs[2 * i + 1]]


def _describe(conn: sqlite3.Connection, key: str) -> str:
    row = conn.execute("SELECT experiment, model, task, sample_id, budget, strategy, repeat FROM src.records "
                       "WHERE key = ?", (key,)).fetchone()
    return "experiment={} model={} task={} sample={} budget={} strategy={} repeat={}".format(*row)


def _check_input(store: Store, source: Path, earlier: list[Path]) -> list[str]:
    """Refuse an input whose ok row differs from an earlier input's; returns the tasks it redeclares."""
    with store.attached(source) as conn:
        conflict = (_find_conflict(conn, _content_columns(conn))
                    or _find_child_conflict(conn, "samples", "idx", SAMPLE_COLUMNS)
                    or _find_child_conflict(conn, "probes", "at", PROBE_COLUMNS))
        if conflict is not None:
            key, names = conflict
            holders = [str(p) for p in earlier if _holds_ok(p, key)]
            raise MergeConflict(
                f"key {key} ({_describe(conn, key)}) has two different ok records, in {source} and in "
                f"{', '.join(holders) or 'an earlier input'} (they differ in {', '.join(names[:4])}); "
                "nothing was written. Merge stores of one sweep configuration, or drop one of them.")
        rows = conn.execute("SELECT s.task, s.traits, m.traits FROM src.tasks s JOIN main.tasks m ON m.task = s.task")
        return [str(task) for task, theirs, mine in rows
                if TaskTraits.from_json(str(theirs)) != TaskTraits.from_json(str(mine))]


def _holds_ok(path: Path, key: str) -> bool:
    with Store(path, create=False) as store:
        return store.holds_ok(key)


def _merged_meta(sources: list[Path]) -> dict[str, str]:
    """Meta values every input agrees on (saved configurations compared without their shard and store
    path, which differ between shards of one sweep by construction)."""
    values: dict[str, set[str]] = {}
    for source in sources:
        with Store(source, create=False) as store:
            for name, value in store.meta().items():
                if name == "last_config":
                    config = json.loads(value)
                    if isinstance(config, dict):
                        config.update({f: None for f in (SHARD_FIELD, STORE_FIELD) if f in config})
                    value = json.dumps(config, sort_keys=True)
                values.setdefault(name, set()).add(value)
    return {name: found.pop() for name, found in values.items() if len(found) == 1}


def merge_stores(inputs: Sequence[str | Path], out: str | Path) -> MergeReport:
    """Merge `inputs` into `out` (a new path or one of the inputs); MergeConflict/UserError write nothing."""
    sources, target = _check_paths(inputs, out)
    scratch = target.with_name(f".{target.name}.merge-{os.getpid()}.tmp")
    superseded = duplicates = 0
    replaced: list[str] = []
    scratch.unlink(missing_ok=True)
    try:
        with Store(scratch) as store:
            for index, source in enumerate(sources):
                replaced.extend(t for t in _check_input(store, source, sources[:index]) if t not in replaced)
                absorbed = store.absorb_store(source)  # the one rule every writer follows (store/absorb.py)
                superseded, duplicates = superseded + absorbed.superseded, duplicates + absorbed.unchanged
            _write_meta(store, sources, target)
            counts = store.status_counts()
            attempts, tasks = store.attempt_count(), len(store.task_traits())
            store.checkpoint()
        if target in sources:
            _check_unused(target)
        os.replace(scratch, target)
    finally:
        for leftover in (scratch, *_sidecars(scratch)):
            leftover.unlink(missing_ok=True)
    ok, errors = int(counts.get("ok", 0)), int(counts.get("error", 0))
    return MergeReport(target, tuple(sources), ok + errors, ok, errors, attempts, superseded, duplicates, tasks,
                       tuple(replaced))


def _write_meta(store: Store, sources: list[Path], target: Path) -> None:
    """The meta the inputs agree on (the saved config pointing at the merged store, so `overthink
    resume --store OUT` continues the whole sweep), and where the merge came from."""
    for name, value in _merged_meta(sources).items():
        if name == "last_config":
            config = json.loads(value)
            if isinstance(config, dict) and STORE_FIELD in config:
                config[STORE_FIELD] = str(target)
            value = json.dumps(config, sort_keys=True)
        store.set_meta(name, value)
    store.set_meta("merged_from", json.dumps([str(p) for p in sources]))
    store.set_meta("merged_at", str(time.time()))
