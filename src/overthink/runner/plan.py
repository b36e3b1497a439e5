"""Expand a configuration into work items, grouped so one backend call can serve many budgets.

Every item's seed derives from its key *without* the budget, so all budgets of one (sample, repeat)
share a seed: that is what lets a nested backend fork every budget off one trace and still give the
records that independent runs would. Repeats get distinct seeds.

Shards (`--shard K/N`) split the sweep by a content hash of each group's key without the budget, so
every machine computes the same partition from the config alone, no two shards share a key, a group
keeps its budgets together (a nested backend still forks them off one trace), and adding budgets to a
sweep later leaves every group in the shard it was in.

The plan is a stream: `iter_groups` yields one group at a time and `chunked` cuts the stream into
bounded lists, so a sweep of millions of records never holds its whole (items x repeats x budgets)
product in memory; `plan_groups` is the same stream as a list, for small plans and tests.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import ParamSpec

from overthink.errors import UserError
from overthink.types import Budget, BudgetKind, Mechanism, Sample, WorkKey, derive_seed

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


def sweep_budgets(budgets: Sequence[Budget], *, add_natural: bool) -> list[Budget]:
    """The budgets a sweep records: forced sweeps always add the free natural-end record."""
    result = list(budgets)
    if add_natural and not any(b.kind is BudgetKind.NATURAL for b in result):
        mechanism = result[0].mechanism if result else Mechanism.FORCED
        result.append(Budget(BudgetKind.NATURAL, None, mechanism))
    return result


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
) -> Iterator[WorkGroup]:
    """All work of one (model, task), one group at a time: repeat-major order, so a partial sweep
    covers every item once before any item twice.

    `for_repeat` gives an item its variant for one repeat (e.g. a fresh choice order); the item keeps
    its id, so analysis still pairs repeats by problem. A generator, so the caller decides how much
    of the plan is alive at once (see `chunked`).
    """
    labelled = [(budget, budget.label, budget.mechanism.value) for budget in budgets]  # once, not per item
    for repeat in range(repeats):
        for original in samples:
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


def chunked(groups: Iterable[WorkGroup], size: int) -> Iterator[list[WorkGroup]]:
    """Consecutive lists of at most `size` groups, in plan order: the unit that is alive at once."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, not {size}")
    stream = iter(groups)
    while chunk := list(islice(stream, size)):
        yield chunk


def keys_of(groups: Iterable[WorkGroup]) -> list[str]:
    """The store keys (digests) of every item of `groups`, in plan order."""
    return [item.key.digest() for group in groups for item in group.items]


def pending(groups: Iterable[WorkGroup], done_keys: set[str]) -> list[WorkGroup]:
    """Groups reduced to the items not yet in the store (resume); empty groups dropped."""
    result = []
    for group in groups:
        items = tuple(item for item in group.items if item.key.digest() not in done_keys)
        if items:
            result.append(WorkGroup(group.sample, group.seed, group.repeat, items))
    return result


def group_shard(group: WorkGroup, n: int) -> int:
    """The shard (1..n) a group belongs to: a stable hash of its key fields except budget and mechanism."""
    key = group.items[0].key
    text = "\x1f".join(str(p) for p in (key.experiment, key.model, key.task, key.task_version, key.sample_id,
                                        key.strategy, key.repeat))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % n + 1


def shard(groups: Iterable[WorkGroup], k: int, n: int) -> Iterator[WorkGroup]:
    """The groups of shard `k` of `n` (1-based), streamed in plan order; shards 1..n partition the plan."""
    if not 1 <= k <= n:
        raise UserError(f"shard {k}/{n}: K must be between 1 and N")
    return (group for group in groups if group_shard(group, n) == k)


def parse_shard(text: str) -> tuple[int, int]:
    """`"K/N"` (as typed after --shard) as (k, n); anything else is a UserError saying what is expected."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise UserError(f"--shard {text!r}: expected K/N, e.g. 1/4 for the first of four shards")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise UserError(f"--shard {text}: K must be between 1 and N (shards are numbered 1..N)")
    return k, n
