"""Run the prepared plans: open the store, sweep each (model, task) chunk by chunk, report each sweep.

The store is created here and nowhere earlier: by the time a run gets this far every input was
validated (runner/prepare.py) and every backend with work answered its preflight (runner/preflight.py).
Each (model, task) is counted against the store, executed through the strategy with the run's shared
cost limits and circuit breaker, and counted again; the first sweep that is interrupted, capped or
broken stops the run, and what it wrote stays (running the same command again resumes).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from overthink.runner.execute import CircuitBreaker, Executor, ProgressCallback, RunStats
from overthink.runner.limits import CostTracker
from overthink.runner.outcome import RunReport, StopReason, SweepReport
from overthink.runner.plan import SweepPlan, WorkGroup
from overthink.runner.prepare import Prepared
from overthink.runner.resume import StreamedSweep, census, chunk_size
from overthink.store import Store

__all__ = ["ProgressFactory", "run_all", "sweep_chunks"]

# (title, total items, items already stored, live token counter) -> a context giving the progress callback
ProgressFactory = Callable[[str, int, int, Callable[[], int]], AbstractContextManager[ProgressCallback]]


async def sweep_chunks(executor: Executor, chunks: Iterable[list[WorkGroup]]) -> RunStats:
    """The executor fed chunk by chunk (the next chunk is planned and looked up only when the one
    before has finished, so lookahead is one chunk), with Ctrl-C / SIGTERM turned into a clean stop
    (in the main thread only). Stops at the first chunk that was interrupted, capped or broken."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, executor.stop)
        loop.add_signal_handler(signal.SIGTERM, executor.stop)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests) or no signals
        pass
    try:
        ran = False
        for chunk in chunks:
            ran = True
            stats = await executor.run(chunk)
            if stats.interrupted or stats.broken or stats.capped:
                break
        if not ran:  # nothing left to send: still one (empty) run, which reports a breaker already tripped
            await executor.run([])
        return executor.stats
    finally:
        try:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
        except (NotImplementedError, RuntimeError, ValueError):
            pass


def _stop_of(stats: RunStats) -> tuple[StopReason, str | None]:
    """Why a sweep ended, from its executor's stats alone (run_all names the sweep in the message)."""
    if stats.interrupted:
        return StopReason.INTERRUPTED, None
    if stats.broken:
        return StopReason.CIRCUIT_BREAKER, (
            f"the circuit breaker stopped the sweep after {stats.broken}. Finished records are kept; "
            "fix the cause and run the same command again to continue.")
    if stats.capped:
        return StopReason.CAPPED, stats.capped
    return StopReason.COMPLETED, None


async def run_all(prepared: Prepared, warnings: list[str], progress: ProgressFactory,
                  on_sweep: Callable[[SweepReport], None] | None) -> RunReport:
    """Every prepared (model, task) in order, in one store; stops at the first sweep that did not complete."""
    config = prepared.config
    store = Store(config.store)  # opened only after every input was validated
    limits = CostTracker(max_cost=config.max_cost, max_tokens=config.max_tokens)  # shared by the whole run
    breaker = CircuitBreaker(limit=config.stop_after_failures)  # shared too: a dead server stops the run
    sweeps: list[SweepReport] = []
    stop, detail = StopReason.COMPLETED, None
    try:
        store.set_meta("last_experiment", config.experiment)
        store.set_meta("last_config", config.model_dump_json())  # what `overthink resume` runs again
        for spec in prepared.tasks:
            store.put_task_traits(spec.traits())  # the store explains its records to analysis
        for plan in prepared.sweeps:
            report, stats = await _run_one(prepared, store, (limits, breaker), plan, progress)
            sweeps.append(report)
            stop, detail = _stop_of(stats)
            if stop is StopReason.CIRCUIT_BREAKER:
                detail = f"{report.title}: {detail}"
            if on_sweep is not None and stop is not StopReason.INTERRUPTED:
                on_sweep(report)
            if stop is not StopReason.COMPLETED:
                break
    finally:
        store.close()
    return RunReport(store=config.store, experiment=config.experiment, mode=config.mode, sweeps=tuple(sweeps),
                     stop=stop, stop_detail=detail, spent=limits.summary(), warnings=tuple(warnings),
                     max_attempts=config.max_attempts, shard=config.shard)


async def _run_one(prepared: Prepared, store: Store, guards: tuple[CostTracker, CircuitBreaker], plan: SweepPlan,
                   progress: ProgressFactory) -> tuple[SweepReport, RunStats]:
    """One (model, task): count the plan against the store, then execute what is left chunk by chunk,
    counting each chunk once it has run. Two passes over the streamed plan rather than one plan kept
    in memory: at a million records a pass costs seconds, a kept plan ~0.7 GB."""
    config, backend = prepared.config, plan.backend
    limits, breaker = guards
    size = chunk_size(plan.concurrency)
    before = census(store, plan.groups(), max_attempts=config.max_attempts, size=size)
    planned, done_before = before["planned"], before["done"]
    # a finished plan (a re-run) is not walked again: nothing is sent, so its census stays `before`
    todo = None if done_before == planned else StreamedSweep(
        store, plan.groups(), max_attempts=config.max_attempts, size=size)
    with progress(plan.title, planned, done_before, backend.live_tokens) as advance:
        executor = Executor(backend, plan.spec, store, config.generation(), concurrency=plan.concurrency,
                            progress=advance, strategy=plan.strategy, limits=limits, breaker=breaker,
                            shots_for=plan.shots if plan.shots_of is not None else None, judge=prepared.judge)
        stats = await sweep_chunks(executor, todo.chunks() if todo is not None else ())
    counts = todo.finish() if todo is not None else before  # the census after the run, chunk by chunk
    where = {"experiment": config.experiment, "model": backend.model_id, "task": plan.spec.name,
             "strategy": plan.label}
    report = SweepReport(
        model=backend.model_id, task=plan.spec.name, strategy=plan.label, metric=plan.spec.metric.name,
        planned=planned, skipped=done_before, written=stats.written, new_errors=stats.errors,
        ok=counts.get("ok", 0), errors=counts.get("error", 0), exhausted=counts.get("exhausted", 0),
        generated_tokens=stats.generated_tokens, elapsed_s=stats.elapsed, error_classes=dict(stats.error_classes),
        rows=tuple(prepared.table(store, **where)) if prepared.table is not None else (),
    )
    return report, stats
