"""Run work groups on a backend, score each completion and write it to the store as it finishes.

Nothing is held back: every group's records are committed the moment the group ends, errors become
error records and the sweep goes on, and a stop request (Ctrl-C) ends the sweep between tokens without
writing a half-finished group. Re-running the same plan skips what the store already has.

Every budget's record stands on its own: when one budget of an (item, repeat) fails, the backend or
strategy raises `PartialFailure` with the answers that did come back, and the group is written as ok
records for those and error records, each with its own reason and kind, for the budgets that failed.
A re-run plans only the missing keys (runner/resume.py), so it sends only the failed budgets.

A sweep that can only fail is stopped by a circuit breaker instead of filling the store with error rows.
It reads the failure *rate* over the last W records (one outcome per budget record, any kind of
failure), W = max(`--stop-after-failures`, 2 x the records that can be in flight at once, i.e.
concurrency x budgets per group), and trips when the window is full and at least 95% of it failed.
A streak in completion order would not do: failures that went through every retry finish after the
successes around them, so at a steady 10% error rate they reach the end of a chunk together and look
like an outage. At most `concurrency x budgets` failures can pile up that way, half a window, so a
steady error rate far below 95% never trips it; when (nearly) every request fails it trips after W
failed records. A failure no retry heals (a rejected key, a missing SDK) trips it at once. Groups still
in flight are cancelled, not written; everything finished stays, and running the same command again
continues.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from overthink.errors import UserError
from overthink.models.base import Backend, BackendError, FailureKind, GenerationRequest, PartialFailure
from overthink.models.generation import GenerationConfig
from overthink.models.secrets import scrub
from overthink.prompts.render import Shots, prompt_chars, request_for
from overthink.runner.limits import CostTracker, group_bound
from overthink.runner.plan import WorkGroup, WorkItem
from overthink.scoring.judge import Judge
from overthink.store import Store
from overthink.strategies.base import CotStrategy, Strategy
from overthink.strategies.common import item_for
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


def _scored_samples(item: WorkItem, completion: Completion, task: TaskSpec) -> Completion:
    """A vote's or best-of-n's completion with each of its samples (a probed cot's with each probe) scored
    by the task's rules, as the record is (the refusal judge, when one runs, judges the record's answer only)."""
    if not completion.samples and not completion.probes:
        return completion
    scored = tuple(dataclasses.replace(s, score=task.score(item.sample, s.text)) for s in completion.samples)
    probes = tuple(dataclasses.replace(p, score=task.score(item.sample, p.text)) for p in completion.probes)
    return dataclasses.replace(completion, samples=scored, probes=probes)


def _record(item: WorkItem, completion: Completion | None, task: TaskSpec, error: str | None,
            kind: FailureKind | None = None) -> Record:
    score = task.score(item.sample, completion.text) if completion is not None else None
    if completion is not None:
        completion = _scored_samples(item, completion, task)
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


TRIP_SHARE = 0.95  # share of failed records in a full window that trips the breaker


@dataclass
class CircuitBreaker:
    """The failure rate over the last `size` records (see the module docstring); shared by a run's executors.

    `limit` is the smallest window; `expect(in_flight)` widens it to twice the records one executor can
    have in flight, the most that retries can reorder into one burst of failures. Counts are kept as
    records come and go, so noting an outcome costs O(1) however wide the window.
    """

    limit: int = 20
    share: float = TRIP_SHARE
    outcomes: deque[FailureKind | None] = field(default_factory=deque)  # None: an ok record
    failed: Counter[FailureKind] = field(default_factory=Counter)  # the failures in the window, by kind
    size: int = 0  # the window's length (0 until first used: `limit`)
    tripped: str | None = None  # the one-line reason, once tripped

    def expect(self, in_flight: int) -> None:
        """Make room for `in_flight` records finishing together (concurrency x budgets per group)."""
        size = max(self.limit, 2 * in_flight, self.size)
        if size != self.size:  # only ever wider: nothing falls out of the window
            self.size = size
            self.outcomes = deque(self.outcomes, maxlen=size)

    def success(self) -> None:
        """Note one ok record."""
        if self.tripped is None:
            self._note(None)

    def failure(self, kind: FailureKind, message: str) -> bool:
        """Note one failed record; True when the sweep must stop."""
        if self.tripped is None:
            self._note(kind)
            last = message if len(message) <= 200 else message[:200] + "..."
            failed = self.failed.total()
            if kind in FATAL:
                self.tripped = f"a {kind.value} failure, which retrying cannot fix ({last})"
            elif len(self.outcomes) == self.size and failed >= math.ceil(self.share * self.size):
                kinds = ", ".join(f"{k.value} {n}" for k, n in self.failed.most_common() if n > 0)
                self.tripped = f"{failed} of the last {self.size} records failed ({kinds}; last: {last})"
        return self.tripped is not None

    def _note(self, outcome: FailureKind | None) -> None:
        if self.size == 0:
            self.expect(0)
        if len(self.outcomes) == self.size:
            dropped = self.outcomes[0]
            if dropped is not None:
                self.failed[dropped] -= 1
        self.outcomes.append(outcome)
        if outcome is not None:
            self.failed[outcome] += 1


class Executor:
    """Drives one (backend, task) sweep; `stop()` makes it finish the current tokens and return."""

    def __init__(
        self,
        backend: Backend,
        task: TaskSpec,
        store: Store,
        sampling: GenerationConfig,
        *,
        shots_for: Callable[[WorkGroup], Shots] | None = None,
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
        self.judge = judge if judge is not None and task.metric.judged else None
        self.stats = RunStats()
        self._stopping = False
        self._halted = False  # the breaker cancelled the workers
        self._workers: list[asyncio.Task[None]] = []

    def stop(self) -> None:
        self._stopping = True
        self.backend.cancel()

    async def _run_group(self, group: WorkGroup) -> list[Record]:
        request = self._request(group)
        budgets = [item.budget for item in group.items]
        failures: dict[str, Exception] = {}
        try:  # the strategy reads answers with the task's scorer; the backend sees only the prompt
            results = await self.strategy.run(self.backend, request, budgets, item_for(group.sample, self.task.score))
        except UserError:
            raise
        except PartialFailure as exc:  # some budgets came back: they keep their answers
            results, failures = exc.completions, exc.failures
        except Exception as exc:  # nothing came back: every budget failed with this one error
            results, failures = {}, {budget.label: exc for budget in budgets}
        if failures and self._stopping:
            return []  # cut short by a stop request: a half-finished group is not written
        records = [self._outcome(item, results, failures) for item in group.items]
        self._watch(records)
        if self.judge is not None:
            records = list(await asyncio.gather(*(self._judged(record) for record in records)))
        return records

    def _request(self, group: WorkGroup) -> GenerationRequest:
        """The group's request: its item rendered with its shots (prompts/), at its first budget."""
        shots = self.shots_for(group) if self.shots_for else ()
        return request_for(group.sample, group.items[0].budget, group.seed, self.sampling, shots)

    def _outcome(self, item: WorkItem, results: dict[str, Completion], failures: dict[str, Exception]) -> Record:
        """The record of one budget: its answer, or its own failure (reason scrubbed, kind classified)."""
        label = item.budget.label
        failure = failures.get(label)
        if failure is not None:
            reason = scrub(f"{type(failure).__name__}: {failure}")  # every loaded key and key-shaped text
            return _record(item, None, self.task, reason, failure_kind(failure))
        if label not in results:
            return _record(item, None, self.task, "backend returned no completion for this budget")
        return _record(item, results[label], self.task, None)

    def _watch(self, records: list[Record]) -> None:
        """Count error records by kind and show every outcome to the breaker (halting when it trips)."""
        for record in records:
            if record.status is Status.ERROR:
                kind = FailureKind(record.error_kind or FailureKind.BACKEND.value)
                self.stats.error_classes[kind.value] += 1
                if self.breaker is not None:
                    self.breaker.failure(kind, record.error or "")
            elif self.breaker is not None:
                self.breaker.success()
        if self.breaker is not None and self.breaker.tripped and not self._halted:
            self._halt(self.breaker.tripped)

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
        request = request_for(group.sample, group.items[0].budget, group.seed, self.sampling, shots)
        chars = prompt_chars(group.sample, shots)
        budgets = [item.budget for item in group.items]
        bound = group_bound(self.backend, request, budgets, chars, self.strategy.spend(budgets))
        ticket = self.limits.admit(bound)
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
        if self.breaker is not None and groups:
            self.breaker.expect(max(1, self.concurrency) * max(len(group.items) for group in groups))

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
