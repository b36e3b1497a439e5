"""Write Inspect logs into an overthink store: all of them, or (for any bad log) nothing at all.

Every log's header is checked first (a file that is not a log fails before any sample is read). The
records then go to a scratch store beside the target, one batch at a time, so memory never holds more
than a batch however large the logs (the trace texts are on disk, not in a list). Only when every sample
of every log converted does the scratch store become part of the target: renamed into place when the
target is new, else folded into it in one transaction, under the store's own rules (an ok row is never
rewritten; an error row gives way to an ok row or a later failure; every failure is an attempt). Keys
are content hashes (`WorkKey.digest`) and an attempt is known by its key, time and message, so importing
the same logs again changes nothing.

Each imported task's traits are written with its records: overthink's own tasks declare theirs; a
foreign task's are read off the store's records of it (metric `accuracy` when every score is 0 or 1, else
`mean`; strata the scalar metadata keys with 2..20 levels).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from overthink.errors import UserError
from overthink.inspect.log_files import LogHeader, find_logs, iter_samples, read_header
from overthink.inspect.logs import to_record
from overthink.store import Store, TaskProfile
from overthink.types import Record, Status, TaskTraits

__all__ = ["DEFAULT_EXPERIMENT", "ImportReport", "import_logs", "traits_from_records"]

DEFAULT_EXPERIMENT = "inspect"
BATCH = 200  # records written to the scratch store at a time
MAX_LEVELS = 20  # a foreign task's metadata key with more distinct values names items, not a stratum

Advance = Callable[[int], None]
ProgressFactory = Callable[[int], AbstractContextManager[Advance]]  # total samples -> advance(n)


@dataclass
class ImportReport:
    """What one import read and what it changed in the store."""

    store: Path
    experiment: str
    files: int = 0
    samples: int = 0
    ok: int = 0  # records of the logs by status (whether or not the store held them already)
    errors: int = 0
    written: int = 0  # rows inserted or replaced in the store
    present: int = 0  # records the store already held (a re-import), left as they were
    duplicates: int = 0  # samples of one import sharing a key (the same eval twice): the first ok kept
    rescored: int = 0  # samples of overthink's own tasks, scored by overthink's scorer
    tasks: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    budgets: list[str] = field(default_factory=list)
    by_file: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"store": str(self.store), "experiment": self.experiment, "files": self.files,
                "samples": self.samples, "records": {"ok": self.ok, "error": self.errors},
                "written": self.written, "already_present": self.present, "duplicates": self.duplicates,
                "rescored": self.rescored, "tasks": self.tasks, "models": self.models, "budgets": self.budgets,
                "by_file": self.by_file, "warnings": self.warnings}


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _remove_stale_scratch(store: Path) -> None:
    """Scratch stores (and their -wal/-shm) that a killed import left beside `store`: their process is gone.

    A live import's scratch is never touched, so two imports into one store can run side by side.
    """
    prefix = f".{store.name}.import-"
    for path in store.parent.glob(f"{prefix}*.tmp*"):
        pid = path.name[len(prefix):].split(".tmp", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _check_target(store: Path) -> None:
    """The target is a usable store path (an existing file must be an overthink store) before any work."""
    if store.is_dir():
        raise UserError(f"--store {store} is a directory; give a file path such as results.db")
    if not store.parent.is_dir():
        raise UserError(f"--store {store}: folder {store.parent} does not exist")
    if store.exists():
        Store(store, create=False).close()  # StoreError (exit 2) for a foreign or unreadable file
    elif any(p.exists() for p in _sidecars(store)):
        raise UserError(f"--store {store}: leftover {store.name}-wal/-shm files of a deleted store; remove them")


def _no_progress(samples: int) -> None:
    return None


def _budget_order(label: str) -> tuple[int, float, str]:
    if label.isdigit():
        return 0, float(label), label
    return (2, 0.0, label) if label == "natural" else (1, 0.0, label)


def import_logs(paths: Sequence[Path], store: Path, *, experiment: str = DEFAULT_EXPERIMENT,
                scorer: str | None = None, progress: ProgressFactory | None = None) -> ImportReport:
    """Import every log of `paths` into `store`; any bad log raises a UserError and writes nothing."""
    if not experiment.strip():
        raise UserError("--experiment must not be empty")
    files = find_logs(list(paths))
    _check_target(store)
    return asyncio.run(_import(files, store, experiment, scorer, progress))


async def _import(files: list[Path], store: Path, experiment: str, scorer: str | None,
                  progress: ProgressFactory | None) -> ImportReport:
    headers = [await read_header(path, scorer) for path in files]
    report = ImportReport(store=store, experiment=experiment, files=len(files))
    for header in headers:
        report.warnings.extend(header.warnings)
    _remove_stale_scratch(store)
    scratch = store.with_name(f".{store.name}.import-{os.getpid()}.tmp")
    for leftover in (scratch, *_sidecars(scratch)):
        leftover.unlink(missing_ok=True)
    try:
        with Store(scratch) as staging:
            bar: AbstractContextManager[Advance] = (progress(sum(h.expected for h in headers)) if progress
                                                    else nullcontext(_no_progress))
            with bar as advance:
                for header in headers:
                    await _stage(header, staging, experiment, report, advance)
            _fill_report(staging, report)
            if report.duplicates:
                report.warnings.append(
                    f"{report.duplicates} samples share their key with an earlier sample of this import (the same "
                    "model, task, budget, sample and epoch in two logs): kept the first; import the other logs "
                    "with another --experiment to keep both")
            if store.exists():
                _fold(staging, store, report)
            else:
                report.written = staging.count()
                staging.declare_tasks(report.tasks, lambda name: _traits(staging, name))
                staging.checkpoint()
        if not store.exists():
            os.replace(scratch, store)
    finally:
        for leftover in (scratch, *_sidecars(scratch)):
            leftover.unlink(missing_ok=True)
    return report


async def _stage(header: LogHeader, staging: Store, experiment: str, report: ImportReport,
                 advance: Advance) -> None:
    """Convert one log's samples into the scratch store, a batch at a time."""
    batch: list[Record] = []
    seen = 0

    def flush() -> None:
        report.duplicates += sum(1 for r in batch if r.status is Status.OK) - _new_ok(staging, batch)
        staging.write_many(batch)
        batch.clear()

    async for sample in iter_samples(header):
        converted = to_record(header, sample, experiment)
        batch.append(converted.record)
        report.rescored += converted.rescored
        seen += 1
        if len(batch) >= BATCH:
            flush()
        advance(1)
    if batch:
        flush()
    report.samples += seen
    report.by_file[str(header.path)] = seen
    if seen < header.expected and header.log.status == "success":
        report.warnings.append(f"{header.path.name}: holds {seen} of the {header.expected} samples its header "
                               "lists")
    elif not seen and header.expected:
        report.warnings.append(f"{header.path.name}: holds no samples")


def _new_ok(staging: Store, batch: list[Record]) -> int:
    """Ok records of a batch whose key the scratch store does not hold as ok yet (first one wins)."""
    keys = sorted({r.key.digest() for r in batch if r.status is Status.OK})
    return len(keys) - staging.ok_among(keys) if keys else 0


def _fill_report(staging: Store, report: ImportReport) -> None:
    contents = staging.contents()
    report.ok, report.errors = contents.ok, contents.errors
    report.tasks, report.models = list(contents.tasks), list(contents.models)
    report.budgets = sorted(contents.budgets, key=_budget_order)


def _fold(staging: Store, target: Path, report: ImportReport) -> None:
    """Add the scratch store's rows to an existing store in one transaction, under the store's rules
    (store/absorb.py: the ones a run and a merge follow), with each imported task's traits."""
    staging.checkpoint()
    with Store(target) as store:
        absorbed = store.absorb_store(staging.path, lambda name: _traits(store, name))
    report.written = absorbed.written
    report.present = report.ok + report.errors - report.written


def _traits(store: Store, task: str) -> TaskTraits:
    """A task's traits: overthink's own declare theirs, a foreign task's are read off its records."""
    from overthink.registry import TASKS

    spec = TASKS.get(task)
    return spec.traits() if spec is not None else traits_from_records(store.task_profile(task), task)


def traits_from_records(profile: TaskProfile, task: str) -> TaskTraits:
    """A foreign task's traits read off the store's records of it (all of them, not only this import's)."""
    strata = tuple(sorted(key for key, levels, nested in profile.metadata_keys
                          if not nested and 2 <= levels <= MAX_LEVELS and levels < profile.items))
    return TaskTraits(name=task, version=profile.version, metric="accuracy" if not profile.non_binary else "mean",
                      higher_is_better=True, strata=strata, source="inspect")
