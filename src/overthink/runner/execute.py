"""Run work groups on a backend, score each completion and write it to the store as it finishes.

Nothing is held back: every group's records are committed the moment the group ends, errors become
error records and the sweep goes on, and a stop request (Ctrl-C) ends the sweep between tokens without
writing a half-finished group. Re-running the same plan skips what the store already has.

A sweep that can only fail is stopped by a circuit breaker instead of filling the store with error rows:
the same kind of failure `limit` times in a row with no success (a server gone down), or once for a
failure no retry heals (a rejected key, a missing SDK). Groups still in flight are cancelled, not
written; everything finished stays, and running the same command again continues.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from overthink.errors import UserError
from overthink.models.base import Backend, BackendError, FailureKind, GenerationRequest
from overthink.models.generation import GenerationConfig
from overthink.models.secrets import scrub
from overthink.runner.limits import CostTracker, group_bound
from overthink.runner.plan import WorkGroup, WorkItem
from overthink.runner.store import Store
from overthink.scoring.judge import Judge
from overthink.strategies.base import CotStrategy, Strategy
from overthink.tasks.base import TaskSpec
from overthink.types import Completion, Record, Status

ProgressCallback = Callable[[int, int], None]  # (records finished, tokens generated)


@dataclass
class RunStats:
    written: int = 0
    errors: int = 0
    generated_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)
    interrupted: bool = False
    capped: str | None = None  # why a spending cap stopped the sweep (see runner/limits.py)
    error_classes: Counter[str] = field(default_factory=Counter)  # error records by kind of failure
    broken: str | None = None  # why the circuit breaker stopped the sweep

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def _record(item: WorkItem, completion: Completion | None, task: TaskSpec, error: str | None,
            kind: FailureKind | None = None) -> Record:
    score = task.score(item.sample, completion.text) if completion is not None else None
    return Record(
        key=item.key,
        seed=item.seed,
        status=Status.OK if completion is not None else Status.ERROR,
        budget_kind=item.budget.kind.value,
        requested_tokens=item.budget.tokens,
        prompt=item.sample.prompt,
        target=item.sample.target,
        metadata=item.sample.metadata,
        completion=completion,
        score=score,
        error=error,
        created_at=time.time(),
        error_kind=None if completion is not None else (kind or FailureKind.BACKEND).value,
    )


def failure_kind(exc: BaseException) -> FailureKind:
    """The kind of a failed group: the backend's own classification, else what the exception says."""
    if isinstance(exc, BackendError):
        return exc.kind
    return FailureKind.MISSING_SDK if isinstance(exc, ImportError) else FailureKind.BACKEND


# Failures that no retry and no waiting can heal: the breaker stops at the first one.
FATAL = frozenset({FailureKind.AUTH, FailureKind.MISSING_SDK})


@dataclass
class CircuitBreaker:
    """Counts failed groups of one kind in a row; any success resets it. Shared by a run's executors."""

    limit: int = 20
    kind: FailureKind | None = None
    streak: int = 0
    tripped: str | None = None  # the one-line reason, once tripped

    def success(self) -> None:
        self.kind, self.streak = None, 0

    def failure(self, kind: FailureKind, message: str) -> bool:
        """Note one failed group; True when the sweep must stop."""
        if self.tripped is None:
            self.streak = self.streak + 1 if kind is self.kind else 1
            self.kind = kind
            last = message if len(message) <= 200 else message[:200] + "..."
            if kind in FATAL:
                self.tripped = f"a {kind.value} failure, which retrying cannot fix ({last})"
            elif self.streak >= self.limit:
                self.tripped = f"{self.streak} {kind.value} failures in a row with no success (last: {last})"
        return self.tripped is not None


class Executor:
    """Drives one (backend, task) sweep; `stop()` makes it finish the current tokens and return."""

    def __init__(
        self,
        backend: Backend,
        task: TaskSpec,
        store: Store,
        sampling: GenerationConfig,
        *,
        shots_for: Callable[[WorkGroup], tuple[tuple[str, str], ...]] | None = None,
        concurrency: int = 1,
        progress: ProgressCallback | None = None,
        strategy: Strategy | None = None,
        limits: CostTracker | None = None,
        breaker: CircuitBreaker | None = None,
        judge: Judge | None = None,
    ) -> None:
        self.backend = backend
        self.task = task
        self.store = store
        self.sampling = sampling
        self.shots_for = shots_for
        self.concurrency = concurrency
        self.progress = progress
        self.strategy: Strategy = strategy or CotStrategy()
        self.limits = limits
        self.breaker = breaker
        # the refusal judge (scoring/judge.py) asks about refusal records only; the score stays the rules'
        self.judge = judge if judge is not None and task.metric == "refusal" else None
        self.stats = RunStats()
        self._stopping = False
        self._halted = False  # the breaker cancelled the workers
        self._workers: list[asyncio.Task[None]] = []

    def stop(self) -> None:
        self._stopping = True
        self.backend.cancel()

    async def _run_group(self, group: WorkGroup) -> list[Record]:
        shots = self.shots_for(group) if self.shots_for else ()
        first = group.items[0]
        request = GenerationRequest(group.sample, first.budget, group.seed, self.sampling, shots, self.task.score)
        budgets = [item.budget for item in group.items]
        try:
            results = await self.strategy.run(self.backend, request, budgets)
        except UserError:
            raise
        except (BackendError, Exception) as exc:
            if self._stopping:
                return []
            reason = scrub(f"{type(exc).__name__}: {exc}")  # every loaded key and key-shaped text
            kind = failure_kind(exc)
            self.stats.error_classes[kind.value] += len(group.items)
            if self.breaker is not None and self.breaker.failure(kind, reason):
                self._halt(self.breaker.tripped)
            return [_record(item, None, self.task, reason, kind) for item in group.items]
        if self.breaker is not None:
            self.breaker.success()
        records = []
        for item in group.items:
            completion = results.get(item.budget.label)
            error = None if completion is not None else "backend returned no completion for this budget"
            records.append(_record(item, completion, self.task, error))
        if self.judge is not None:
            records = list(await asyncio.gather(*(self._judged(record) for record in records)))
        return records

    async def _judged(self, record: Record) -> Record:
        """A scored record with the judge's verdict stored beside the rules' (score_details)."""
        if self.judge is None or record.score is None or record.completion is None:
            return record
        spent = self.limits.charge if self.limits is not None else None  # the caps count the judge too
        details = await self.judge.details(record.score.details, record.prompt, record.completion.text, spent)
        return dataclasses.replace(record, score=dataclasses.replace(record.score, details=details))

    def _admit(self, group: WorkGroup) -> int | None:
        """0 when no cap is set; a reservation ticket when the group's worst case fits; None to stop."""
        if self.limits is None or not self.limits.active:
            return 0
        shots = self.shots_for(group) if self.shots_for else ()
        request = GenerationRequest(group.sample, group.items[0].budget, group.seed, self.sampling, shots)
        ticket = self.limits.admit(group_bound(self.backend, request, [item.budget for item in group.items]))
        if ticket is None:
            self.stats.capped = self.limits.stopped_reason or "spending cap reached"
        return ticket

    def _halt(self, reason: str | None) -> None:
        """Stop the sweep now: cancel every other worker's group in flight (it is not written)."""
        self.stats.broken = reason
        self._halted = True
        self.backend.cancel()
        current = asyncio.current_task()
        for task in self._workers:
            if task is not current:
                task.cancel()

    async def run(self, groups: Sequence[WorkGroup]) -> RunStats:
        queue: asyncio.Queue[WorkGroup] = asyncio.Queue()
        for group in groups:
            queue.put_nowait(group)
        if self.breaker is not None and self.breaker.tripped:
            self.stats.broken = self.breaker.tripped
            return self.stats

        async def worker() -> None:
            try:
                await work()
            except asyncio.CancelledError:
                if not self._halted:  # cancelled from outside (the event loop ending): not ours to swallow
                    raise

        async def work() -> None:
            while not self._stopping and not self._halted and self.stats.capped is None:
                try:
                    group = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                ticket = self._admit(group)
                if ticket is None:
                    return
                records = await self._run_group(group)
                if self.limits is not None and ticket > 0:
                    self.limits.settle(ticket, [r.completion for r in records if r.completion is not None])
                if self._stopping and not records:
                    return
                written = self.store.write_many(records)
                tokens = sum(r.completion.total_generated for r in records if r.completion)
                self.stats.written += written
                self.stats.errors += sum(1 for r in records if r.status is Status.ERROR)
                self.stats.generated_tokens += tokens
                if self.progress:
                    self.progress(len(records), tokens)

        self._workers = [asyncio.create_task(worker()) for _ in range(max(1, self.concurrency))]
        try:
            await asyncio.gather(*self._workers)
        finally:
            self.stats.interrupted = self._stopping
        return self.stats
