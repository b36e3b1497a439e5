"""Run a whole experiment (every model x task of a config) and return a typed report of what happened.

The sweep lives here rather than in the CLI because scripts, benchmarks and tests run it too: they
need the outcome as data (records ok / in error / skipped, why the sweep stopped, the summary table),
not as printed text and an exit code. `cli/run.py` only parses arguments, calls `run_experiment` and
prints the report; `RunReport.exit_code` is the one place that maps an outcome onto the documented exit codes.

Order of work, so that a mistake costs nothing: every input is validated and every backend built, then
every backend's preflight runs (its SDK imports, its key is accepted, its model exists, its server
answers: one cheap request each), and only then is the store created. A sweep that cannot work exits 2
with one line and leaves no store file behind. Running the same config again resumes: ok items are
skipped, failed items retried until they used `max_attempts`; backends with nothing left to send are
not preflighted, so a finished sweep re-runs (and prints its summary) with its servers gone.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from overthink.config import ExperimentConfig, TaskConfig
from overthink.errors import UserError
from overthink.models.base import Backend
from overthink.models.budget import parse_budgets
from overthink.prompts.shots import make_shots_for, make_shots_of
from overthink.runner.context_fit import refuse_overflow
from overthink.runner.execute import CircuitBreaker, Executor, ProgressCallback, RunStats
from overthink.runner.limits import CostTracker
from overthink.runner.outcome import RunReport, StopReason, SweepReport
from overthink.runner.plan import WorkGroup, iter_groups, parse_shard, shard, sweep_budgets
from overthink.runner.resume import CHUNK_GROUPS, StreamedSweep, census, chunk_size, todo_chunks
from overthink.scoring.judge import Judge
from overthink.store import Store
from overthink.strategies.base import Strategy
from overthink.tasks.base import TaskSpec
from overthink.types import Budget, BudgetKind, BudgetRow, Mechanism, Sample, strategy_label

__all__ = ["MODES", "Components", "ProgressFactory", "RunReport", "StopReason", "SweepReport", "load_samples",
           "run_sweeps"]

MODES = {"forced": Mechanism.FORCED, "prompt": Mechanism.PROMPT, "native": Mechanism.NATIVE,
         "natural": Mechanism.FORCED}

# (title, total items, items already stored, live token counter) -> a context giving the progress callback
ProgressFactory = Callable[[str, int, int, Callable[[], int]], AbstractContextManager[ProgressCallback]]
# SUMMARY_COLUMNS: what the end-of-run table needs, never the prompt or trace text (memory stays flat)
@contextmanager
def _no_progress(title: str, total: int, done: int, live: Callable[[], int]) -> Iterator[ProgressCallback]:
    yield lambda records, tokens: None


def budgets_of(config: ExperimentConfig) -> list[Budget]:
    """The budgets the config asks for (a bad budget is a UserError naming it)."""
    mechanism = MODES[config.mode]
    if config.mode == "natural":
        return [Budget(BudgetKind.NATURAL, None, mechanism)]
    try:
        return parse_budgets(config.budgets, mechanism)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def load_samples(path: Path, task: str | None) -> list[Sample]:
    """Samples from a JSONL file (one `Sample.to_json()` per line); errors name the file and line."""
    if not path.is_file():
        raise UserError(f"samples file {path} not found")
    samples: list[Sample] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                sample = Sample.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise UserError(f"{path}:{number}: not a sample ({type(exc).__name__}: {exc})") from None
            if task is not None and sample.task != task:
                raise UserError(f"{path}:{number}: sample of task {sample.task!r}, expected {task!r}")
            samples.append(sample)
    if not samples:
        raise UserError(f"samples file {path} holds no samples")
    return samples


def _samples(task: TaskSpec, config: TaskConfig) -> list[Sample]:
    if config.samples is not None:
        return load_samples(Path(config.samples), task.name)
    return task.samples(config.n, config.seed, config.params)  # parameters checked, TaskError is a UserError


class RunTable(Protocol):
    """Reads one sweep's end-of-run table from the store. The table is a statistic of the read side
    (analysis/run_table.py); the edge hands it in, so the run side never imports the read side."""

    def __call__(self, store: Store, *, experiment: str, model: str, task: str,
                 strategy: str) -> Sequence[BudgetRow]: ...


@dataclass(frozen=True)
class Components:
    """What the edge (cli/resolve.py) built from the config's names, once: the runner never looks a name
    up. `tasks` and `backends` are in the config's order; `judge_backend` is the refusal judge's (one of
    `backends` when it names a run model); `extra` gives the backends built on demand during the run
    (a best-of-n judge model), closed with the others when the run ends."""

    tasks: Sequence[TaskSpec]
    strategy: Strategy
    backends: Sequence[Backend]
    judge_backend: Backend | None = None
    extra: Callable[[], Sequence[Backend]] = tuple
    table: RunTable | None = None  # the end-of-run table's reader (the read side's; None: no table rows)

    def owned(self) -> list[Backend]:
        """Every backend of the run, each once, for closing in the run's own event loop."""
        seen: dict[int, Backend] = {}
        for backend in (*self.backends, *([self.judge_backend] if self.judge_backend else []), *self.extra()):
            seen.setdefault(id(backend), backend)
        return list(seen.values())


@dataclass(frozen=True)
class Prepared:
    """Everything validated before the store is touched: a mistake found here writes nothing."""

    config: ExperimentConfig
    budgets: list[Budget]  # what is recorded (forced cot sweeps add the natural-end record)
    plans: list[tuple[TaskSpec, TaskConfig, list[Sample]]]
    strategy: Strategy
    label: str  # the strategy's name in store keys ("cot", "cot+3shot", "vote@5")
    backends: list[Backend]
    shard: tuple[int, int] | None = None  # (k, n) of --shard K/N
    judge: Judge | None = None  # the refusal judge (analysis/judge_agreement.py), asked by every refusal sweep
    table: RunTable | None = None  # reads a finished sweep's table from the store (Components.table)

    def plan(self, backend: Backend, spec: TaskSpec, samples: list[Sample]) -> Iterator[WorkGroup]:
        """The work groups of one (model, task), reduced to this run's shard, streamed: a fresh
        generator per call, so each pass over a plan of millions of records holds one group at a time."""
        config = self.config
        groups = iter_groups(
            experiment=config.experiment, model=backend.model_id, task=spec.name, task_version=spec.version,
            samples=samples, budgets=self.budgets, strategy=self.label, repeats=config.repeats,
            base_seed=config.seed, for_repeat=spec.for_repeat,
        )
        return groups if self.shard is None else shard(groups, *self.shard)

    def todo(self, store: Store, groups: Iterable[WorkGroup], size: int = CHUNK_GROUPS) -> Iterator[list[WorkGroup]]:
        """What is left to send, in chunks of at most `size` groups: items neither ok nor out of attempts
        (failed items are retried), each chunk checked against the store when it is reached."""
        return todo_chunks(store, groups, max_attempts=self.config.max_attempts, size=size)


def prepare(config: ExperimentConfig, built: Components) -> Prepared:
    """Validate budgets, samples, strategy and backends against each other; raises UserError, opens no store."""
    budgets = budgets_of(config)
    plans = [(spec, t, _samples(spec, t)) for spec, t in zip(built.tasks, config.tasks, strict=True)]
    strategy = built.strategy
    recorded = sweep_budgets(budgets, add_natural=config.mode == "forced" and strategy.name == "cot")
    part = parse_shard(config.shard) if config.shard is not None else None
    label = strategy_label(strategy.name, config.shots)  # k-shot records get their own curve ("cot+3shot")
    backends = list(built.backends)
    for backend in backends:  # a budget or strategy this backend cannot serve is refused before any write
        refused = backend.first_unsupported(recorded)
        if refused is not None:
            raise UserError(f"budget {refused[0].label} ({refused[0].mechanism.value}): {refused[1]}")
    for backend in backends:
        reason = strategy.unsupported_reason(backend, recorded)
        if reason:
            raise UserError(f"strategy {strategy.name}: {reason}")
    for spec, task_config, samples in plans:  # a prompt that cannot fit fails every record: refuse it now
        shots_of = make_shots_of(spec, task_config.seed, config.shots, task_config.params) if config.shots else None
        for backend in backends:
            refuse_overflow(backend, spec.name, samples, recorded, config.generation(), shots_of)
    judge = None
    if built.judge_backend is not None and config.judge is not None:
        judge = Judge(built.judge_backend, concurrency=config.judge.concurrency)
    return Prepared(config, recorded, plans, strategy, label, backends, part, judge, built.table)


def backends_with_work(prepared: Prepared) -> list[Backend]:
    """The backends preflight must check: all of them for a new store; for an existing store, those with
    an item left to send. Re-running a finished sweep needs no server (it prints its summary again)."""
    path = Path(prepared.config.store)
    if not path.is_file():
        return prepared.backends
    with Store(path, create=False) as store:
        return [backend for backend in prepared.backends
                if any(next(prepared.todo(store, prepared.plan(backend, spec, samples)), None)
                       for spec, _, samples in prepared.plans)]


async def preflight(backends: list[Backend], budgets: list[Budget]) -> list[str]:
    """Every backend's preflight (raises PreflightError, a UserError); the warnings of inconclusive ones."""
    warnings = []
    for backend in backends:  # in the run's one event loop: the connection it opens serves the sweep too
        warning = await backend.preflight(budgets)
        if warning:
            warnings.append(warning)
    return warnings


async def _sweep(executor: Executor, chunks: Iterable[list[WorkGroup]]) -> RunStats:
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


def _stop_of(stats: RunStats, where: str) -> tuple[StopReason, str | None]:
    if stats.interrupted:
        return StopReason.INTERRUPTED, None
    if stats.broken:
        return StopReason.CIRCUIT_BREAKER, (
            f"{where}: the circuit breaker stopped the sweep after {stats.broken}. Finished records are kept; "
            "fix the cause and run the same command again to continue.")
    if stats.capped:
        return StopReason.CAPPED, stats.capped
    return StopReason.COMPLETED, None


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
        warnings = await _preflight_all(prepared)
        if warn is not None:
            for warning in warnings:
                warn(warning)
        return await _run_all(prepared, warnings, progress or _no_progress, on_sweep)
    finally:
        for backend in built.owned():
            await backend.aclose()


async def _preflight_all(prepared: Prepared) -> list[str]:
    """Preflight of the backends with work left, then of the judge when a task of the run asks it."""
    working = backends_with_work(prepared)
    warnings = await preflight(working, prepared.budgets)
    judge = prepared.judge
    if judge is not None and not any(spec.metric.judged for spec, _, _ in prepared.plans):
        warnings.append(f"judge {judge.model_id}: no task of this run has the refusal metric; it is not asked")
    elif judge is not None and working:
        warnings += await preflight([judge.backend], [judge.budget])  # a dead judge writes nothing either
    return warnings


async def _run_all(prepared: Prepared, warnings: list[str], progress: ProgressFactory,
                   on_sweep: Callable[[SweepReport], None] | None) -> RunReport:
    config = prepared.config
    store = Store(config.store)  # opened only after every input was validated
    limits = CostTracker(max_cost=config.max_cost, max_tokens=config.max_tokens)  # shared by the whole run
    breaker = CircuitBreaker(limit=config.stop_after_failures)  # shared too: a dead server stops the run
    sweeps: list[SweepReport] = []
    stop, detail = StopReason.COMPLETED, None
    try:
        store.set_meta("last_experiment", config.experiment)
        store.set_meta("last_config", config.model_dump_json())  # what `overthink resume` runs again
        for spec, _, _ in prepared.plans:
            store.put_task_traits(spec.traits())  # the store explains its records to analysis
        for backend, model in zip(prepared.backends, config.models, strict=True):
            for spec, task_config, samples in prepared.plans:
                report, stats = await _run_one(prepared, store, (limits, breaker), backend, model.concurrency,
                                               spec, task_config, samples, progress)
                sweeps.append(report)
                stop, detail = _stop_of(stats, f"{backend.model_id} · {spec.name}")
                if on_sweep is not None and stop is not StopReason.INTERRUPTED:
                    on_sweep(report)
                if stop is not StopReason.COMPLETED:
                    break
            if stop is not StopReason.COMPLETED:
                break
    finally:
        store.close()
    return RunReport(store=config.store, experiment=config.experiment, mode=config.mode, sweeps=tuple(sweeps),
                     stop=stop, stop_detail=detail, spent=limits.summary(), warnings=tuple(warnings),
                     max_attempts=config.max_attempts, shard=config.shard)


async def _run_one(prepared: Prepared, store: Store, guards: tuple[CostTracker, CircuitBreaker], backend: Backend,
                   concurrency: int, spec: TaskSpec, task_config: TaskConfig, samples: list[Sample],
                   progress: ProgressFactory) -> tuple[SweepReport, RunStats]:
    """One (model, task): count the plan against the store, then execute what is left chunk by chunk,
    counting each chunk once it has run. Two passes over the streamed plan rather than one plan kept
    in memory: at a million records a pass costs seconds, a kept plan ~0.7 GB."""
    config = prepared.config
    limits, breaker = guards
    size = chunk_size(concurrency)
    before = census(store, prepared.plan(backend, spec, samples), max_attempts=config.max_attempts, size=size)
    planned, done_before = before["planned"], before["done"]
    shots = make_shots_for(spec, task_config.seed, config.shots, task_config.params) if config.shots else None
    with progress(f"{backend.model_id} · {spec.name}", planned, done_before, backend.live_tokens) as advance:
        executor = Executor(backend, spec, store, config.generation(), concurrency=concurrency, progress=advance,
                            strategy=prepared.strategy, limits=limits, breaker=breaker, shots_for=shots,
                            judge=prepared.judge)
        # a finished plan (a re-run) is not walked again: nothing is sent, so its census stays `before`
        todo = None if done_before == planned else StreamedSweep(
            store, prepared.plan(backend, spec, samples), max_attempts=config.max_attempts, size=size)
        stats = await _sweep(executor, todo.chunks() if todo is not None else ())
    where = {"experiment": config.experiment, "model": backend.model_id, "task": spec.name,
             "strategy": prepared.label}
    counts = todo.finish() if todo is not None else before  # the census after the run, chunk by chunk
    report = SweepReport(
        model=backend.model_id, task=spec.name, strategy=prepared.label, metric=spec.metric.name,
        planned=planned, skipped=done_before, written=stats.written, new_errors=stats.errors,
        ok=counts.get("ok", 0), errors=counts.get("error", 0), exhausted=counts.get("exhausted", 0),
        generated_tokens=stats.generated_tokens,
        elapsed_s=stats.elapsed, error_classes=dict(stats.error_classes),
        rows=tuple(prepared.table(store, **where)) if prepared.table is not None else (),
    )
    return report, stats
