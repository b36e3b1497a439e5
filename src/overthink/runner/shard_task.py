"""One shard of a scaled-out sweep, as the function a Ray task or a submitit job runs on a worker.

The function is what crosses the process boundary, so it takes only text and numbers (the sweep's
configuration as JSON, the shard K of N) and returns a small picklable result: the shard's
`RunReport`, or the one-line message of a UserError (a bad config, a failed preflight). Returning the
message instead of raising keeps "the input is wrong" apart from "the worker died": an executor
retries a shard whose process crashed or raised something unexpected, never a shard that cannot work.

Where a shard writes is derived from the target store alone (`ShardLayout`), so the driver, every
worker and every re-run agree on it without passing paths around: `<store>.shards/shard-K-of-N.db`
beside the target store (on a cluster, put `--store` on the shared filesystem). Each start of a shard
bumps its attempts file, so the report can say which attempt finished it.

Fault injection for the tests (a real process kill, not a mock): with `OVERTHINK_SCALEOUT_KILL=K:R`
in the worker's environment, shard K ends its own process with `os._exit` after R records on its
first attempt of a run; the records written before the kill stay in its store, and the retry resumes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from overthink.config import validate_config
from overthink.errors import UserError
from overthink.runner.execute import ProgressCallback
from overthink.runner.outcome import RunReport
from overthink.store import StoreError

Log = Callable[[str], None]
KILL_ENV = "OVERTHINK_SCALEOUT_KILL"
KILLED_EXIT = 86  # the exit status of a shard killed by the fault hook (any non-zero status would do)


@dataclass(frozen=True)
class ShardLayout:
    """Where the shards of one target store live: `<store>.shards/` beside it, one file set per K/N."""

    target: Path  # the merged store (absolute)
    n: int

    @property
    def folder(self) -> Path:
        return self.target.with_name(self.target.name + ".shards")

    def _base(self, k: int) -> Path:
        return self.folder / f"shard-{k}-of-{self.n}"

    def store(self, k: int) -> Path:
        return self._base(k).with_suffix(".db")

    def done_marker(self, k: int) -> Path:
        """Written by the driver when shard k finished every item ok (it holds the sweep's fingerprint)."""
        return self._base(k).with_suffix(".done")

    def attempts_file(self, k: int) -> Path:
        return self._base(k).with_suffix(".attempts")

    def next_attempt(self, k: int) -> int:
        """Count one more start of shard k (the driver resets the count before dispatching it)."""
        attempt = self.attempts(k) + 1
        self.attempts_file(k).write_text(str(attempt), encoding="utf-8")
        return attempt

    def attempts(self, k: int) -> int:
        """How often shard k was started since the driver reset its count (0: never)."""
        try:
            return int(self.attempts_file(k).read_text(encoding="utf-8").strip() or 0)
        except (OSError, ValueError):
            return 0

    def reset_attempts(self, k: int) -> None:
        self.attempts_file(k).write_text("0", encoding="utf-8")


@dataclass(frozen=True)
class ShardResult:
    """What one shard run hands back to the driver: its report, or why its input cannot work."""

    k: int
    n: int
    attempt: int  # 1 for the first start of this shard in this run, 2 after one retry, ...
    report: RunReport | None
    user_error: str | None = None  # a UserError's message: the whole scaled run ends with exit 2

    @property
    def finished(self) -> bool:
        """Every item of the shard has an ok record: nothing for a re-run to do."""
        report = self.report
        return (report is not None and report.exit_code == 0 and report.errors == 0
                and all(s.missing == 0 for s in report.sweeps))


@dataclass(frozen=True)
class ShardOutcome:
    """How one shard ended in this run: finished by an earlier run, a result, or lost after its retries."""

    k: int
    skipped: bool = False
    result: ShardResult | None = None
    failure: str | None = None  # why the last attempt died (set when no attempt returned)
    attempts: int = 0


@dataclass(frozen=True)
class ShardJob:
    """What an executor gets: the sweep (JSON, store = the absolute target), the shards to run, where."""

    config_json: str
    shards: tuple[int, ...]
    layout: ShardLayout
    options: Mapping[str, Any] = field(default_factory=dict)


class Dispatch(Protocol):
    def __call__(self, job: ShardJob, log: Log) -> list[ShardOutcome]: ...


def first_line(exc: BaseException) -> str:
    """An executor's exception (often pages of remote traceback) as one line for the log and the report."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()


def retries_option(options: dict[str, Any], default: int) -> int:
    """`max_retries` taken out of the executor options: retries of a shard whose process died or raised."""
    retries = options.pop("max_retries", default)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise UserError(f"--executor-option max_retries={retries!r}: give a whole number >= 0")
    return retries


def describe(outcome: ShardOutcome, n: int) -> str:
    """One line for the driver's log: how a shard's attempt ended."""
    where = f"shard {outcome.k}/{n}"
    result = outcome.result
    if result is None:
        return f"{where}: lost after {outcome.attempts} attempts ({outcome.failure})"
    if result.user_error is not None:
        return f"{where}: {result.user_error}"
    report = result.report
    assert report is not None
    errors = sum(s.new_errors for s in report.sweeps)
    return f"{where}: {report.written} new records ({errors} errors), exit {report.exit_code}, attempt {result.attempt}"


def _kill_after(k: int, attempt: int) -> int | None:
    """Records after which the fault hook kills shard k on this attempt (None: it does not)."""
    spec = os.environ.get(KILL_ENV, "")
    shard, sep, records = spec.partition(":")
    if not sep or attempt != 1:
        return None
    try:
        return int(records) if int(shard) == k else None
    except ValueError:
        return None


def _progress(limit: int | None) -> Callable[[str, int, int, Callable[[], int]], Iterator[ProgressCallback]]:
    """No progress bar on a worker; with the fault hook armed, a callback that kills the process."""
    seen = [0]

    def advance(records: int, tokens: int) -> None:
        seen[0] += records
        if limit is not None and seen[0] >= limit:
            os._exit(KILLED_EXIT)  # a real crash: no cleanup, no report, the store keeps what was committed

    def factory(title: str, total: int, done: int, live: Callable[[], int]) -> Iterator[ProgressCallback]:
        yield advance

    return factory


def run_shard(config_json: str, k: int, n: int) -> ShardResult:
    """Run shard k of n of the sweep `config_json` (its `store` the absolute target path) into its own store."""
    # A worker is an edge of its own (it runs one whole `overthink run`), so it goes through the CLI's
    # resolver like the command line does; imported here, so the heavy imports happen on the worker.
    from overthink.cli.resolve import run_experiment

    data = json.loads(config_json)
    layout = ShardLayout(Path(data["store"]), n)
    layout.folder.mkdir(parents=True, exist_ok=True)
    attempt = layout.next_attempt(k)
    data.update(store=str(layout.store(k)), shard=f"{k}/{n}")
    try:
        config = validate_config(data, source=f"shard {k}/{n}")
        report = run_experiment(config, progress=contextmanager(_progress(_kill_after(k, attempt))))
    except (UserError, StoreError) as exc:
        return ShardResult(k, n, attempt, None, str(exc))
    return ShardResult(k, n, attempt, report)
