"""A family's null model: how calibration simulates stores with that family's real structure.

Calibrating the analysis and the gate on stores whose structure differs from a real one (other
strata, other metadata, other scorer conventions) would calibrate the wrong thing, so each family
says how its items behave and `overthink.analysis.families` turns that into store records. Two
shapes cover the families so far:

* `BinaryNull`: each record is an *event* (correct answer, refusal, risky choice), a non-event, or
  an unparsed answer. The family gives each item's flat-scenario base event rate and a few answer
  texts per outcome class; the real scorer scores every text, and `classify` checks that its result
  lands in the intended class (so a scorer change cannot silently desynchronise the simulation).
* `ErrorNull`: a numeric prediction with a normal error, clipped to the task's scale, a fixed guess
  when unparsed, scored as an absolute error (grades' GPA).

The items come from the task's own generator (seed 0) unless `samples` synthesizes them (zebra's
generator proves each puzzle unique with a solver, far too slow to call per store).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from overthink.scoring.extract import format_number
from overthink.types import Sample

__all__ = ["EVENT", "ITEM_SEED", "NON_EVENT", "TAIL_N", "UNPARSED", "BinaryNull", "ErrorNull", "NullModel",
           "by_correct", "independent", "level_offset", "said", "wrong_numbers"]

NON_EVENT, EVENT, UNPARSED = 0, 1, 2
ITEM_SEED = 0  # the real generators' seed for the item tables (stores differ by outcomes, not items)
TAIL_N = 300  # items per store of the tail4 scenario unless a family keeps its own size

# Per-item base event rates and, per item, answer texts by outcome class (non-event, event[, unparsed]).
ItemBuilder = Callable[[list[Sample]], tuple[np.ndarray, list[list[list[str]]]]]
# (scorer details, score value, correct) -> outcome class the scorer's result says an answer is in.
Classifier = Callable[[Mapping[str, Any], float, "bool | None"], int]
# Items -> (unit index per item, share of an item's effect its unit shares).
Units = Callable[[list[Sample]], tuple[np.ndarray, float]]


def by_correct(details: Mapping[str, Any], value: float, correct: bool | None) -> int:
    """The default classifier: a correct answer is the event."""
    return EVENT if correct else NON_EVENT


def independent(samples: list[Sample]) -> tuple[np.ndarray, float]:
    """The default units: every item its own, nothing shared."""
    return np.arange(len(samples)), 0.0


@dataclass(frozen=True)
class BinaryNull:
    """Event / non-event / unparsed records (see the module docstring).

    `main` is the (metadata key, value) of the items the main curve holds when it is not every item
    (refusal: label=harmful); `event_good` says whether the event is good on the main curve (a
    correct answer, refusing a harmful prompt) or bad (a risky choice); off the main curve it reads
    the other way (refusing a benign prompt). `unparsed` is the unparsed share at the smallest and
    the largest budget, linear in between and independent of the item. `tail_n`: items per tail4
    store (None: the family's own calibration size).
    """

    items: ItemBuilder
    classify: Classifier = by_correct
    samples: Callable[[int], list[Sample]] | None = None
    units: Units = independent
    main: tuple[str, str] | None = None
    event_good: bool = True
    unparsed: tuple[float, float] = (0.0, 0.0)
    tail_n: int | None = TAIL_N


@dataclass(frozen=True)
class ErrorNull:
    """A clipped numeric prediction scored as its absolute error (see the module docstring).

    `sd(sample)` is the item's flat-scenario error sd; `persistent` the share of an error's variance
    fixed per item; `unit_key` names the metadata of the unit sharing `unit_share` of an item's
    effect (the same student at every shot level); `answer(prediction)` the text a model says.
    """

    sd: Callable[[Sample], float]
    scale: tuple[float, float]
    unparsed_guess: float
    answer: Callable[[float], str]
    unparsed_text: str
    unit_key: str
    unit_share: float = 0.5
    unparsed_share: float = 0.0
    persistent: float = 0.5
    tail_n: int | None = TAIL_N

    @property
    def unparsed(self) -> tuple[float, float]:
        """Unparsed share at the smallest and the largest budget (constant)."""
        return self.unparsed_share, self.unparsed_share


NullModel = BinaryNull | ErrorNull


def level_offset(spread: float, *parts: object) -> float:
    """A stable offset in [-spread, spread] per stratum level (levels differ, reproducibly)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return spread * (2.0 * int.from_bytes(digest[:8], "big") / 2**64 - 1.0)


def said(value: float) -> str:
    """The answer text of a numeric answer."""
    return f"The answer is {format_number(value)}."


def wrong_numbers(sample: Sample, extra_keys: Sequence[str]) -> list[str]:
    """Wrong answers a model gives on a counting item: off by one, and numbers the prompt planted."""
    target = float(sample.target)
    texts = [said(target + 1), said(target - 1)]
    for key in extra_keys:
        numbers = [float(x) for x in sample.metadata.get(key, [])]
        planted = [x for x in numbers if format_number(x) != sample.target]
        if planted:
            texts.append(said(planted[0]))
    return texts
