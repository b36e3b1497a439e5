"""The task contract: every family is a `TaskSpec` built from plain functions in its own module.

A task module exposes `generate(n, seed, **params)`, `score(sample, answer_text)`, an independent
`check(sample)` that re-derives the answer key without the generator's code path, a version, and the
strata analysis draws lines by. `TaskSpec` bundles them so the runner never imports a family by name.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError, validate_call

from overthink.errors import TaskError, first_problem
from overthink.tasks.metric import ACCURACY, Metric
from overthink.types import Sample, Score, TaskTraits

__all__ = ["Checker", "Generator", "Scorer", "TaskError", "TaskSpec", "check_generate_args", "sample_id",
           "seeded_rng", "split_evenly", "whole_levels"]

Generator = Callable[..., list[Sample]]
Scorer = Callable[[Sample, str], Score]
Checker = Callable[[Sample], bool]


@dataclass(frozen=True)
class TaskSpec:
    """Everything the runner and analysis need to know about a task family."""

    name: str
    version: str
    description: str
    generate: Generator
    score: Scorer
    check: Checker
    strata: tuple[str, ...] = ()
    # Metadata keys naming the independent unit when items are variants of one another (a question
    # shown with several choice orders, one student at several shot levels): analysis resamples
    # these clusters, not the items, so variants do not count as independent evidence.
    cluster: tuple[str, ...] = ()
    default_n: int = 100
    # What the task's curves measure (direction, unit, minimum effect, how records feed it); the store
    # keeps its name in the traits.
    metric: Metric = ACCURACY
    higher_is_better: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    # Optional per-repeat variant of an item (same id), e.g. a fresh choice order to remove position
    # bias; repeat 0 must return the item unchanged.
    for_repeat: Callable[[Sample, int], Sample] | None = None

    def traits(self) -> TaskTraits:
        """What analysis needs of this task, written to the store with its records."""
        return TaskTraits(name=self.name, version=self.version, metric=self.metric.name,
                          higher_is_better=self.higher_is_better, strata=self.strata, cluster=self.cluster)

    def samples(self, n: int, seed: int, params: Mapping[str, Any] | None = None) -> list[Sample]:
        """`generate` with user-given parameters checked against its signature first.

        Parameters come from config files and the command line, so a wrong type ("sizes: 5" for a
        list) must be a TaskError naming the parameter, not a TypeError from deep inside a generator.
        """
        checked = _validated(self.generate)
        try:
            return checked(n, seed, **dict(params or {}))
        except ValidationError as exc:
            where, what = first_problem(exc)
            raise TaskError(f"{self.name}: parameter {where}: {what}") from None


_VALIDATED: dict[Generator, Generator] = {}


def _validated(generate: Generator) -> Generator:
    """The generator wrapped by pydantic's argument validation (built once per generator)."""
    if generate not in _VALIDATED:
        _VALIDATED[generate] = validate_call(generate)
    return _VALIDATED[generate]


def check_generate_args(name: str, n: int, params: Mapping[str, Any]) -> None:
    """What every generator checks first: no parameter it does not know, and at least one item."""
    if params:
        raise TaskError(f"{name}: unknown parameter(s) {', '.join(sorted(params))}")
    if n < 1:
        raise TaskError(f"{name}: n must be >= 1, got {n}")


def whole_levels(name: str, what: str, values: Iterable[int], low: int, high: int) -> list[int]:
    """Stratum levels (distractor counts, shot counts, grid sizes) as whole numbers within [low, high]."""
    levels = [int(v) for v in values]
    if not levels or any(v < low or v > high for v in levels):
        raise TaskError(f"{name}: {what} must be within {low}..{high}, got {levels}")
    return levels


def seeded_rng(*parts: object) -> random.Random:
    """A `random.Random` seeded from a stable hash of its parts (never Python's salted `hash`)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def sample_id(task: str, version: str, seed: int, index: int, *extra: object) -> str:
    """Short stable id; the same (task, version, seed, index) always names the same item."""
    text = "\x1f".join(str(p) for p in (task, version, seed, index, *extra))
    return f"{task}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def split_evenly(n: int, groups: Sequence[object]) -> list[int]:
    """Sizes of `len(groups)` parts adding up to n, the first parts one larger when n does not divide."""
    if not groups:
        raise TaskError("no strata to split items across")
    base, extra = divmod(n, len(groups))
    return [base + (1 if i < extra else 0) for i in range(len(groups))]
