"""Run a whole experiment (every model x task of a config) and return a typed report of what happened.

The sweep lives here rather than in the CLI because scripts, benchmarks and tests run it too: they
need the outcome as data (records ok / in error / skipped, why the sweep stopped, the summary table),
not as printed text and an exit code. `cli/run.py` only parses arguments, calls `run_experiment` and
prints the report; `RunReport.exit_code` is the one place that maps an outcome onto the documented exit codes.

A run goes one way, each step in a module of its own: `prepare` (runner/prepare.py) validates every
input against every other and yields one plan per (model, task); `preflight_run` (runner/preflight.py)
asks every backend with work left one cheap question; only then does `run_all` (runner/run_plans.py)
create the store and sweep the plans. A sweep that cannot work exits 2 with one line and leaves no store
file behind. Running the same config again resumes: ok items are skipped, failed items retried until
they used `max_attempts`; backends with nothing left to send are not preflighted, so a finished sweep
re-runs (and prints its summary) with its servers gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from overthink.config import ExperimentConfig
from overthink.runner.components import Components, RunTable
from overthink.runner.execute import ProgressCallback
from overthink.runner.outcome import RunReport, StopReason, SweepReport
from overthink.runner.preflight import preflight_run
from overthink.runner.prepare import prepare
from overthink.runner.run_plans import ProgressFactory, run_all

__all__ = ["Components", "ProgressFactory", "RunReport", "RunTable", "StopReason", "SweepReport", "run_sweeps"]


@contextmanager
def _no_progress(title: str, total: int, done: int, live: Callable[[], int]) -> Iterator[ProgressCallback]:
    yield lambda records, tokens: None


async def run_sweeps(
    config: ExperimentConfig,
    built: Components,
    *,
    progress: ProgressFactory | None = None,
    on_sweep: Callable[[SweepReport], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunReport:
    """Run every (model, task) of the config with the objects the edge built, and report; resumable.

    The whole run is one event loop (the caller's): preflight, the judge's preflight and every sweep
    share it, so a backend connects once, and every backend is closed in it when the run ends.
    `progress` draws a progress bar per (model, task); `on_sweep` sees each (model, task) report the
    moment it ends (the CLI prints its table then, not only at the very end of a long run); `warn` gets
    preflight's warnings before the sweep starts. Raises UserError (PreflightError among them) for bad input
    and for sweeps that cannot work, before anything is written.
    """
    try:
        prepared = prepare(config, built)
        warnings = await preflight_run(prepared)
        if warn is not None:
            for warning in warnings:
                warn(warning)
        return await run_all(prepared, warnings, progress or _no_progress, on_sweep)
    finally:
        for backend in built.owned():
            await backend.aclose()
