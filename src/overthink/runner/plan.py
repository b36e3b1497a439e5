"""Expand a configuration into work items, grouped so one backend call can serve many budgets.

Every item's seed derives from its key *without* the budget, so all budgets of one (sample, repeat)
share a seed: that is what lets a nested backend fork every budget off one trace and still give the
records that independent runs would. Repeats get distinct seeds.

Shards (`--shard K/N`) split the sweep by a content hash of each group's key without the budget, so
every machine computes the same partition from the config alone, no two shards share a key, a group
keeps its budgets together (a nested backend still forks them off one trace), and adding budgets to a
sweep later leaves every group in the shard it was in.

The plan is a stream: `iter_groups` yields one group at a time (runner/resume.py cuts the stream into
bounded chunks), so a sweep of millions of records never holds its whole (items x repeats x budgets)
product in memory; `plan_groups` is the same stream as a list, for small plans and tests. A
`SweepPlan` is one (model, task) of a run with every value its stream needs, built once by
runner/prepare.py: the runner asks the plan for its groups and never goes back to the config.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ParamSpec

from overthink.errors import UserError
from overthink.models.base import Backend
from overthink.prompts.render import Shots
from overthink.runner.outcome import sweep_title
from overthink.strategies.base import Strategy
from overthink.tasks.base import TaskSpec
from overthink.types import Budget, Sample, WorkKey, derive_seed

P = ParamSpec("P")


@dataclass(frozen=True)
class WorkItem:
    key: WorkKey
    sample: Sample
    budget: Budget
    seed: int


@dataclass(frozen=True)
class WorkGroup:
    """Items of one (model, sample, repeat) that share a seed; a nested backend runs them together."""

    sample: Sample
    seed: int
    repeat: int
    items: tuple[WorkItem, ...]


def iter_groups(
    *,
    experiment: str,
    model: str,
    task: str,
    task_version: str,
    samples: Sequence[Sample],
    budgets: Sequence[Budget],
    strategy: str,
    repeats: int,
    base_seed: int,
    for_repeat: Callable[[Sample, int], Sample] | None = None,
    part: tuple[int, int] | None = None,
) -> Iterator[WorkGroup]:
    """All work of one (model, task), one group at a time: repeat-major order, so a partial sweep
    covers every item once before any item twice.

    `for_repeat` gives an item its variant for one repeat (e.g. a fresh choice order); the item keeps
    its id, so analysis still pairs repeats by problem. A generator, so the caller decides how much
    of the plan is alive at once. `part` = (k, n) keeps shard k of n only (`--shard K/N`), decided
    before the group is built.
    """
    if part is not None and not 1 <= part[0] <= part[1]:
        raise UserError(f"shard {part[0]}/{part[1]}: K must be between 1 and N")
    labelled = [(budget, budget.label, budget.mechanism.value) for budget in budgets]  # once, not per item
    for repeat in range(repeats):
        for original in samples:
            if part is not None and _shard_of((experiment, model, task, task_version, original.id, strategy,
                                               repeat), part[1]) != part[0]:
                continue
            sample = for_repeat(original, repeat) if for_repeat else original
            seed = derive_seed(base_seed, model, task, task_version, sample.id, repeat)
            items = tuple(
                WorkItem(
                    key=WorkKey(
                        experiment=experiment, model=model, task=task, task_version=task_version,
                        sample_id=sample.id, budget=label, mechanism=mechanism, strategy=strategy, repeat=repeat,
                    ),
                    sample=sample,
                    budget=budget,
                    seed=seed,
                )
                for budget, label, mechanism in labelled
            )
            yield WorkGroup(sample=sample, seed=seed, repeat=repeat, items=items)


def _listed(generate: Callable[P, Iterator[WorkGroup]]) -> Callable[P, list[WorkGroup]]:
    """A plan generator as a function returning the whole list (same arguments, checked by mypy)."""

    def listed(*args: P.args, **kwargs: P.kwargs) -> list[WorkGroup]:
        return list(generate(*args, **kwargs))

    listed.__doc__ = "`iter_groups` as a list: the whole plan in memory, for small sweeps, tools and tests."
    return listed


plan_groups = _listed(iter_groups)


def pending(groups: Iterable[WorkGroup], done_keys: set[str]) -> list[WorkGroup]:
    """Groups reduced to the items not yet in the store (resume); empty groups dropped."""
    result = []
    for group in groups:
        items = tuple(item for item in group.items if item.key.digest() not in done_keys)
        if items:
            result.append(WorkGroup(group.sample, group.seed, group.repeat, items))
    return result


def _shard_of(fields: tuple[str | int, ...], n: int) -> int:
    text = "\x1f".join(str(p) for p in fields)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % n + 1


def group_shard(group: WorkGroup, n: int) -> int:
    """The shard (1..n) a group belongs to: a stable hash of its key fields except budget and mechanism."""
    key = group.items[0].key
    return _shard_of((key.experiment, key.model, key.task, key.task_version, key.sample_id, key.strategy,
                      key.repeat), n)


@dataclass(frozen=True)
class SweepPlan:
    """One (model, strategy, task) of a run, with every value its work stream needs (runner/prepare.py)."""

    experiment: str
    backend: Backend
    spec: TaskSpec
    samples: Sequence[Sample]
    budgets: Sequence[Budget]
    strategy: Strategy
    label: str  # the strategy's name in store keys ("cot", "cot+3shot", "vote@5")
    repeats: int
    base_seed: int
    shard: tuple[int, int] | None = None  # (k, n) of --shard K/N
    shots_of: Callable[[Sample], Shots] | None = None  # --shots: the worked examples of a sample
    concurrency: int = 1

    @property
    def title(self) -> str:
        """How progress and stop messages name this sweep (the same words as its report's title)."""
        return sweep_title(self.backend.model_id, self.spec.name, self.label)

    def groups(self) -> Iterator[WorkGroup]:
        """The work groups of this (model, task), reduced to the run's shard, streamed: a fresh generator
        per call, so each pass over a plan of millions of records holds one group at a time."""
        return iter_groups(
            experiment=self.experiment, model=self.backend.model_id, task=self.spec.name,
            task_version=self.spec.version, samples=self.samples, budgets=self.budgets, strategy=self.label,
            repeats=self.repeats, base_seed=self.base_seed, for_repeat=self.spec.for_repeat, part=self.shard,
        )

    def shots(self, group: WorkGroup) -> Shots:
        """The executor's `shots_for`: the worked examples in front of the group's question (none without --shots)."""
        return self.shots_of(group.sample) if self.shots_of is not None else ()
