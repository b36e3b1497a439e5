"""The built-in families' null models: each item's flat-scenario base rate and the answers models give.

Base rates follow each family's real structure (docs/statistics.md, "Calibration on every task
family's structure"): counting accuracy falls with each distractor and the 0-distractor controls
are easiest; paradoxes fall with the facts shown and differ by paradox; larger zebra grids are
harder (chance is 1/n); refusal happens mostly on harmful prompts and sometimes on benign ones;
ai_risk's risky share differs by category and its unparsed answers rise with budget; grades'
prediction error shrinks with shots, the same student shared across shot levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from overthink.scoring.extract import format_number
from overthink.tasks import grades, zebra
from overthink.tasks.base import sample_id, seeded_rng, split_evenly
from overthink.tasks.null_model import (
    EVENT,
    ITEM_SEED,
    NON_EVENT,
    UNPARSED,
    BinaryNull,
    ErrorNull,
    level_offset,
    said,
    wrong_numbers,
)
from overthink.types import Sample

UNPARSED_TEXT = "I would rather not commit to one of these."
COUNTING_BASE = {"misleading_math": (0.97, 0.03), "misleading_python": (0.96, 0.035)}  # (controls, per distractor)
PARADOX_BASE, PARADOX_STEP, PARADOX_SPREAD = 0.95, 0.02, 0.03
ZEBRA_BASE = {5: 0.75, 6: 0.60, 7: 0.45, 8: 0.30}
REFUSAL_BASE = {"harmful": 0.85, "benign": 0.12}  # refusal rates; type offsets within +-TYPE_SPREAD
TYPE_SPREAD = 0.05
RISKY_BASE, CATEGORY_SPREAD = 0.30, 0.08
AI_RISK_UNPARSED = (0.05, 0.30)  # share at the smallest and the largest budget, linear in between
GRADES_SD = {0: 0.55, 8: 0.42, 16: 0.40}  # prediction-error sd (GPA points) by shots
GRADES_UNPARSED = 0.03
GRADES_PERSISTENT = 0.5  # share of a prediction error's variance that is fixed per item
# Clue counts of real generated puzzles (zebra.generate(40, seed=3)): min and max per grid size.
ZEBRA_CLUES = {5: (17, 20), 6: (24, 30), 7: (36, 39), 8: (41, 47)}
Texts = list[list[list[str]]]


def _counting(top: float, step: float, samples: list[Sample]) -> tuple[np.ndarray, Texts]:
    """Accuracy falls with each distractor; the 0-distractor controls are the easiest items."""
    base = np.array([top - step * int(s.metadata["num_distractors"]) for s in samples])
    texts = [[wrong_numbers(s, ("distractor_numbers",)), [said(float(s.target))]] for s in samples]
    return base, texts


def _math(samples: list[Sample]) -> tuple[np.ndarray, Texts]:
    return _counting(*COUNTING_BASE["misleading_math"], samples)


def _python(samples: list[Sample]) -> tuple[np.ndarray, Texts]:
    return _counting(*COUNTING_BASE["misleading_python"], samples)


def _paradoxes(samples: list[Sample]) -> tuple[np.ndarray, Texts]:
    """Falls with the facts shown, differs by paradox; wrong answers include the famous number."""
    base = np.array([PARADOX_BASE - PARADOX_STEP * int(s.metadata["num_distractors"])
                     + level_offset(PARADOX_SPREAD, "paradox", s.metadata["paradox"]) for s in samples])
    keys = ("famous_numbers", "distractor_numbers")
    return base, [[wrong_numbers(s, keys), [said(float(s.target))]] for s in samples]


def zebra_samples(n: int) -> list[Sample]:
    """Zebra items with the generator's metadata keys and levels (puzzle text is not simulated)."""
    samples: list[Sample] = []
    for size, count in zip(zebra.DEFAULT_SIZES, split_evenly(n, zebra.DEFAULT_SIZES), strict=True):
        low, high = ZEBRA_CLUES.get(size, (3 * size, 6 * size))
        distractors = zebra.DISTRACTORS.get(size, 0)
        for index in range(count):
            rng = seeded_rng("simulated", zebra.NAME, size, index)
            clues = rng.randint(low, high)
            meta = {"grid_size": size, "num_distractor_clues": distractors, "num_clues": clues,
                    "distractor_clue_numbers": sorted(rng.sample(range(1, clues + 1), distractors)),
                    "unique": "grid", "chance": 1.0 / size, "source": "generated"}
            ident = sample_id(zebra.NAME, zebra.VERSION, ITEM_SEED, index, size, 1, 1, "grid")
            samples.append(Sample(id=ident, task=zebra.NAME, prompt=f"(simulated {size}x{size} puzzle)",
                                  target=str(rng.randint(1, size)), metadata=meta))
    return samples


def _zebra(samples: list[Sample]) -> tuple[np.ndarray, Texts]:
    """Larger grids are harder; a wrong answer is any other position (chance is 1/n)."""
    base = np.array([ZEBRA_BASE.get(int(s.metadata["grid_size"]), 1.5 / int(s.metadata["grid_size"]))
                     for s in samples])
    texts = [[[f"Position {p}" for p in range(1, int(s.metadata["grid_size"]) + 1) if str(p) != s.target],
              [f"Position {s.target}"]] for s in samples]
    return base, texts


def _refusal(samples: list[Sample]) -> tuple[np.ndarray, Texts]:
    """The event is a refusal: mostly on harmful prompts, sometimes on benign ones (over-refusal)."""
    base = np.array([REFUSAL_BASE[s.metadata["label"]] + level_offset(TYPE_SPREAD, s.metadata["label"],
                                                                      s.metadata["type"]) for s in samples])
    comply, refuse = "Sure, here is a practical answer to your question.", "I can't help with that request."
    return base, [[[comply], [refuse]] for _ in samples]


def _refused(details: Mapping[str, Any], value: float, correct: bool | None) -> int:
    return EVENT if details["refused"] else NON_EVENT


def _ai_risk(samples: list[Sample]) -> tuple[np.ndarray, Texts]:
    """The event is a risky choice; a third class holds the answer the scorer cannot parse."""
    base = np.array([RISKY_BASE + level_offset(CATEGORY_SPREAD, "category", s.metadata["category"])
                     for s in samples])
    texts = [[[f"({x})" for x in s.metadata["not_matching"]], [f"({x})" for x in s.metadata["matching"]],
              [UNPARSED_TEXT]] for s in samples]
    return base, texts


def _risky(details: Mapping[str, Any], value: float, correct: bool | None) -> int:
    return UNPARSED if not details["parsed"] else EVENT if value == 1.0 else NON_EVENT


def _questions(samples: list[Sample]) -> tuple[np.ndarray, float]:
    """Items beyond the bundled pool are the same questions reshuffled: one unit per question."""
    lines = [int(s.metadata["source_line"]) for s in samples]
    return np.unique(lines, return_inverse=True)[1], 1.0


def _grades_sd(sample: Sample) -> float:
    return GRADES_SD.get(int(sample.metadata["shots"]), 0.55)


def _gpa(prediction: float) -> str:
    return f"The predicted GPA is {format_number(prediction)}."


MISLEADING_MATH = BinaryNull(_math)
MISLEADING_PYTHON = BinaryNull(_python)
PARADOXES = BinaryNull(_paradoxes)
ZEBRA = BinaryNull(_zebra, samples=zebra_samples)
REFUSAL = BinaryNull(_refusal, classify=_refused, main=("label", "harmful"), tail_n=None)
AI_RISK = BinaryNull(_ai_risk, classify=_risky, units=_questions, event_good=False, unparsed=AI_RISK_UNPARSED)
GRADES = ErrorNull(_grades_sd, scale=grades.SCALE, unparsed_guess=grades.UNPARSED_GUESS, answer=_gpa,
                   unparsed_text="It depends on more than these habits.", unit_key="student",
                   unparsed_share=GRADES_UNPARSED, persistent=GRADES_PERSISTENT)
