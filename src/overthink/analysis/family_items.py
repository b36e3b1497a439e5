"""Item tables for the simulated task families: the real generators' items and the answers a model gives.

Calibrating the analysis on stores whose structure differs from a real one (other strata, other
metadata, other score conventions) would calibrate the wrong thing, so the simulated families take
their items from the real generators (`overthink.registry.TASKS[name].generate`, item seed 0) and
every simulated answer is scored by the real scorer. Only zebra is synthesized: its generator proves
each puzzle unique with a solver (about a second per 8x8 grid), far too slow to call per store, so its
metadata is written with the generator's keys, grid sizes, distractor-clue counts and clue counts
measured on real puzzles.

Each item carries the base rate of its *event* (correct answer, refusal, risky choice) and a few
answer texts per outcome class; `families.py` draws an outcome per record and looks up the real
scorer's result for the matching text. Items are fixed per (family, n); only outcomes vary between
stores, so the scored answers are computed once and cached.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from overthink.scoring.extract import format_number
from overthink.tasks import zebra
from overthink.tasks.base import sample_id, seeded_rng, split_evenly
from overthink.types import Sample

NON_EVENT, EVENT, UNPARSED = 0, 1, 2
ITEM_SEED = 0  # the real generators' seed for the item tables (stores differ by outcomes, not items)
UNPARSED_TEXT = "I would rather not commit to one of these."

# Flat-scenario base rates of each family's event, by stratum level (see families.py for why).
COUNTING_BASE = {"misleading_math": (0.97, 0.03), "misleading_python": (0.96, 0.035)}  # (controls, per distractor)
PARADOX_BASE, PARADOX_STEP, PARADOX_SPREAD = 0.95, 0.02, 0.03
ZEBRA_BASE = {5: 0.75, 6: 0.60, 7: 0.45, 8: 0.30}
REFUSAL_BASE = {"harmful": 0.85, "benign": 0.12}  # refusal rates; type offsets within +-TYPE_SPREAD
TYPE_SPREAD = 0.05
RISKY_BASE, CATEGORY_SPREAD = 0.30, 0.08
GRADES_SD = {0: 0.55, 8: 0.42, 16: 0.40}  # prediction-error sd (GPA points) by shots
# Clue counts of real generated puzzles (zebra.generate(40, seed=3)): min and max per grid size.
ZEBRA_CLUES = {5: (17, 20), 6: (24, 30), 7: (36, 39), 8: (41, 47)}


@dataclass(frozen=True)
class ScoredAnswer:
    """One answer text and what the real scorer made of it (details as the store's JSON text)."""

    text: str
    extracted: str | None
    score: float
    correct: bool | None
    details: str


@dataclass(frozen=True)
class ItemTable:
    """A family's fixed items: samples, base rates, shared-effect units and scored answer variants.

    `sign` is +1 where the event is good on the item's curve (a correct answer, refusing a harmful
    prompt) and -1 where it is bad (a risky choice, refusing a benign prompt). `choices[i, c, k]`
    indexes `answers` for variant k of outcome class c of item i; `counts[i, c]` variants exist.
    """

    family: str
    samples: tuple[Sample, ...]
    base: np.ndarray
    unit: np.ndarray
    unit_share: float
    main: np.ndarray
    sign: np.ndarray
    answers: tuple[ScoredAnswer, ...]
    choices: np.ndarray
    counts: np.ndarray


def level_offset(spread: float, *parts: object) -> float:
    """A stable offset in [-spread, spread] per stratum level (levels differ, reproducibly)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return spread * (2.0 * int.from_bytes(digest[:8], "big") / 2**64 - 1.0)


def _said(value: float) -> str:
    return f"The answer is {format_number(value)}."


def _wrong_numbers(sample: Sample, extra_keys: tuple[str, ...]) -> list[str]:
    """Wrong answers a model gives on a counting item: off by one, and numbers the prompt planted."""
    target = float(sample.target)
    texts = [_said(target + 1), _said(target - 1)]
    for key in extra_keys:
        numbers = [float(x) for x in sample.metadata.get(key, [])]
        planted = [x for x in numbers if format_number(x) != sample.target]
        if planted:
            texts.append(_said(planted[0]))
    return texts


def _counting(family: str, samples: list[Sample]) -> tuple[np.ndarray, list[list[list[str]]]]:
    """Accuracy falls with each distractor; the 0-distractor controls are the easiest items."""
    top, step = COUNTING_BASE[family]
    base = np.array([top - step * int(s.metadata["num_distractors"]) for s in samples])
    texts = [[_wrong_numbers(s, ("distractor_numbers",)), [_said(float(s.target))]] for s in samples]
    return base, texts


def _paradoxes(samples: list[Sample]) -> tuple[np.ndarray, list[list[list[str]]]]:
    """Falls with the facts shown, differs by paradox; wrong answers include the famous number."""
    base = np.array([PARADOX_BASE - PARADOX_STEP * int(s.metadata["num_distractors"])
                     + level_offset(PARADOX_SPREAD, "paradox", s.metadata["paradox"]) for s in samples])
    keys = ("famous_numbers", "distractor_numbers")
    return base, [[_wrong_numbers(s, keys), [_said(float(s.target))]] for s in samples]


def _zebra_samples(n: int) -> list[Sample]:
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


def _zebra(samples: list[Sample]) -> tuple[np.ndarray, list[list[list[str]]]]:
    """Larger grids are harder; a wrong answer is any other position (chance is 1/n)."""
    base = np.array([ZEBRA_BASE.get(int(s.metadata["grid_size"]), 1.5 / int(s.metadata["grid_size"]))
                     for s in samples])
    texts = [[[f"Position {p}" for p in range(1, int(s.metadata["grid_size"]) + 1) if str(p) != s.target],
              [f"Position {s.target}"]] for s in samples]
    return base, texts


def _refusal(samples: list[Sample]) -> tuple[np.ndarray, list[list[list[str]]]]:
    """The event is a refusal: mostly on harmful prompts, sometimes on benign ones (over-refusal)."""
    base = np.array([REFUSAL_BASE[s.metadata["label"]] + level_offset(TYPE_SPREAD, s.metadata["label"],
                                                                      s.metadata["type"]) for s in samples])
    comply, refuse = "Sure, here is a practical answer to your question.", "I can't help with that request."
    return base, [[[comply], [refuse]] for _ in samples]


def _ai_risk(samples: list[Sample]) -> tuple[np.ndarray, list[list[list[str]]]]:
    """The event is a risky choice; a third class holds the answer the scorer cannot parse."""
    base = np.array([RISKY_BASE + level_offset(CATEGORY_SPREAD, "category", s.metadata["category"])
                     for s in samples])
    texts = [[[f"({x})" for x in s.metadata["not_matching"]], [f"({x})" for x in s.metadata["matching"]],
              [UNPARSED_TEXT]] for s in samples]
    return base, texts


def _base_and_texts(family: str, samples: list[Sample]) -> tuple[np.ndarray, list[list[list[str]]]]:
    """Per-item base event rate and answer texts per outcome class, by family."""
    if family in COUNTING_BASE:
        return _counting(family, samples)
    builders = {"paradoxes": _paradoxes, "zebra": _zebra, "refusal": _refusal, "ai_risk": _ai_risk}
    if family not in builders:
        raise KeyError(f"no simulated item table for task family {family!r}")
    return builders[family](samples)


def _expected_class(family: str, sample: Sample, answer: ScoredAnswer) -> int:
    """The outcome class the real scorer's result says an answer belongs to."""
    details = json.loads(answer.details)
    if family == "refusal":
        return EVENT if details["refused"] else NON_EVENT
    if family == "ai_risk":
        return UNPARSED if not details["parsed"] else EVENT if answer.score == 1.0 else NON_EVENT
    return EVENT if answer.correct else NON_EVENT


def _scored(family: str, samples: list[Sample], texts: list[list[list[str]]]) -> tuple[
        tuple[ScoredAnswer, ...], np.ndarray, np.ndarray]:
    """Score every variant with the real scorer; refuse to simulate if a text lands in another class."""
    from overthink.registry import TASKS

    scorer = TASKS[family].score
    width = max(len(variants) for item in texts for variants in item)
    choices = np.zeros((len(samples), 3, width), dtype=np.int64)
    counts = np.zeros((len(samples), 3), dtype=np.int64)
    answers: list[ScoredAnswer] = []
    for i, (sample, item) in enumerate(zip(samples, texts, strict=True)):
        for cls, variants in enumerate(item):
            for k, text in enumerate(variants):
                result = scorer(sample, text)
                answer = ScoredAnswer(text, result.extracted, float(result.value), result.correct,
                                      json.dumps(dict(result.details), sort_keys=True))
                if _expected_class(family, sample, answer) != cls:
                    raise RuntimeError(f"{family}: the real scorer puts {text!r} for {sample.id} in another "
                                       "outcome class; the simulated answers no longer match the scorer")
                choices[i, cls, k] = len(answers)
                answers.append(answer)
            counts[i, cls] = len(variants)
    return tuple(answers), choices, counts


@functools.lru_cache(maxsize=32)
def item_table(family: str, n: int) -> ItemTable:
    """The family's n items (real generator, seed 0) with base rates and scored answers (cached)."""
    from overthink.registry import TASKS

    samples = _zebra_samples(n) if family == "zebra" else TASKS[family].generate(n, ITEM_SEED)
    if family == "grades":
        base = np.array([GRADES_SD.get(int(s.metadata["shots"]), 0.55) for s in samples])
        unit = np.array([int(s.metadata["student"]) for s in samples])
        empty = np.zeros((n, 3, 1), dtype=np.int64)
        return ItemTable(family, tuple(samples), base, unit, 0.5, np.ones(n, bool), -np.ones(n),
                         (), empty, np.zeros((n, 3), dtype=np.int64))
    base, texts = _base_and_texts(family, samples)
    answers, choices, counts = _scored(family, samples, texts)
    if family == "ai_risk":  # items beyond the bundled pool are the same questions reshuffled
        lines = [int(s.metadata["source_line"]) for s in samples]
        unit, share = np.unique(lines, return_inverse=True)[1], 1.0
    else:
        unit, share = np.arange(n), 0.0
    if family == "refusal":
        harmful = np.array([s.metadata["label"] == "harmful" for s in samples])
        main, sign = harmful, np.where(harmful, 1.0, -1.0)
    else:
        main, sign = np.ones(n, bool), np.full(n, -1.0 if family == "ai_risk" else 1.0)
    return ItemTable(family, tuple(samples), base, unit, share, main, sign, answers, choices, counts)
