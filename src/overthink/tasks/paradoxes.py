"""Famous paradoxes: a trivially answerable question dressed in the framing of a well-known paradox.

The paper's third family. A model that has memorised the birthday paradox may answer "23" when asked
how many rooms a party is held in; more reasoning can make this worse (it talks itself into the
famous problem). Each item records the paradox's textbook answer (`famous_answer`, plus the numbers
and words it is usually written with) so analysis can separate *overfitting to the framing* from other
errors. Distractors are true facts about the paradox; with 0 distractors the scene alone is asked
(`control`: the same question with no paradox framing to be pulled by).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import replace
from typing import Any

from overthink.scoring.extract import extract_answer, extract_number, format_number, parse_number
from overthink.tasks import misleading_math
from overthink.tasks.base import (
    TaskError,
    TaskSpec,
    check_generate_args,
    sample_id,
    seeded_rng,
    split_evenly,
    whole_levels,
)
from overthink.tasks.metric import ACCURACY
from overthink.tasks.paradox_texts import PARADOXES, Paradox, Params, Question
from overthink.types import Sample, Score

NAME = "paradoxes"
VERSION = "1"
DEFAULT_DISTRACTORS = (0, 1, 3, 5, 7)
MAX_DISTRACTORS = min(len(p.facts) for p in PARADOXES)
_BY_NAME = {p.name: p for p in PARADOXES}
_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+|(?<![\w.^])\d+(?:\.\d+)?")


def _params(rng: random.Random, paradox: Paradox) -> Params:
    params = {name: rng.randint(lo, hi) for name, (lo, hi) in sorted(paradox.ranges.items())}
    params.update(paradox.derive(params))
    return params


def _answer(question: Question, params: Params) -> int:
    return int(question.answer) if question.answer.isdigit() else params[question.answer]


def is_famous(value: float, famous: list[float]) -> bool:
    """A number equal (to 1%) to one of the ways the paradox's textbook answer is written."""
    return any(math.isclose(value, f, rel_tol=0.01, abs_tol=0.005) for f in famous)


def fact_numbers(text: str) -> list[float]:
    """Numbers written in distractor text (1,000,000 counts as one number)."""
    return [float(x.replace(",", "")) for x in _NUMBER.findall(text)]


def _make_item(rng: random.Random, paradox: Paradox, level: int) -> tuple[str, int, dict[str, Any]]:
    question = paradox.questions[rng.randrange(len(paradox.questions))]
    for _ in range(100):  # the trivial answer must never coincide with the textbook one
        params = _params(rng, paradox)
        answer = _answer(question, params)
        if not is_famous(float(answer), paradox.famous_numbers(params)):
            break
    else:  # pragma: no cover - the catalogue's ranges make this unreachable
        raise TaskError(f"{NAME}: cannot draw a {paradox.name} item whose answer differs from the famous one")
    facts: list[str] = []
    if level:
        rest = rng.sample(paradox.facts[1:], level - 1)
        facts = [paradox.facts[0], *rest]
    facts = [f.format(**params) for f in facts]
    prompt = " ".join([paradox.scene.format(**params), *facts, question.text])
    meta = {
        "num_distractors": level,
        "control": level == 0,
        "paradox": paradox.name,
        "question": question.text,
        "famous_answer": paradox.famous_answer,
        "famous_numbers": paradox.famous_numbers(params),
        "famous_terms": list(paradox.famous_terms),
        "distractor_numbers": [x for f in facts for x in fact_numbers(f)],
    }
    return prompt, answer, meta


def generate(n: int, seed: int, distractors: tuple[int, ...] | list[int] = DEFAULT_DISTRACTORS,
             paradoxes: tuple[str, ...] | list[str] | None = None, **params: Any) -> list[Sample]:
    """`n` items split evenly over distractor counts; paradoxes rotate so each level covers them all."""
    check_generate_args(NAME, n, params)
    levels = whole_levels(NAME, "distractor counts", distractors, 0, MAX_DISTRACTORS)
    names = list(paradoxes) if paradoxes is not None else [p.name for p in PARADOXES]
    unknown = sorted(set(names) - set(_BY_NAME))
    if unknown or not names:
        raise TaskError(f"{NAME}: unknown paradox(es) {unknown or names}; choose from {', '.join(_BY_NAME)}")
    samples: list[Sample] = []
    for offset, (level, size) in enumerate(zip(levels, split_evenly(n, levels), strict=True)):
        for index in range(size):
            paradox = _BY_NAME[names[(index + offset) % len(names)]]
            rng = seeded_rng(NAME, VERSION, seed, level, index, paradox.name)
            prompt, answer, meta = _make_item(rng, paradox, level)
            samples.append(Sample(
                id=sample_id(NAME, VERSION, seed, index, level, paradox.name),
                task=NAME, prompt=prompt, target=format_number(answer), metadata=meta,
            ))
    return samples


def _famous_flag(sample: Sample, answer_text: str, value: float | None) -> bool:
    numbers = [float(x) for x in sample.metadata.get("famous_numbers", [])]
    if value is not None and is_famous(value, numbers):
        return True
    span = (extract_answer(answer_text) or "").lower()
    return any(term.lower() in span for term in sample.metadata.get("famous_terms", []))


def score(sample: Sample, answer_text: str) -> Score:
    """Exact number (the counting scorer); details add whether a wrong answer is the paradox's own."""
    base = misleading_math.score(sample, answer_text)
    famous = not base.correct and _famous_flag(sample, answer_text, extract_number(answer_text))
    return replace(base, details={**base.details, "famous_answer": bool(famous)})


def _sentences(text: str) -> int:
    """Sentence ends in a text (abbreviations such as "Mr." and "St." are not ends)."""
    return len(re.findall(r"[.!?](?:\s|$)", text.replace("Mr.", "Mr").replace("St.", "St")))


def check(sample: Sample) -> bool:
    """Re-read the answer from the scene with the question's own pattern (found exactly once).

    Also proves the item discriminates: the trivial answer is not one of the famous numbers, and the
    number of sentences between scene and question equals the recorded distractor count.
    """
    paradox = _BY_NAME.get(str(sample.metadata.get("paradox")))
    if paradox is None:
        return False
    asked = [q for q in paradox.questions if sample.prompt.endswith(" " + q.text)]
    if len(asked) != 1:
        return False
    found = re.findall(asked[0].pattern, sample.prompt)
    if len(found) != 1:
        return False
    value = parse_number(found[0])
    if value is None or format_number(value) != sample.target:
        return False
    if is_famous(value, [float(x) for x in sample.metadata.get("famous_numbers", [])]):
        return False
    scene_sentences = _sentences(paradox.scene)
    sentences = _sentences(sample.prompt[: -len(asked[0].text)])
    return sentences - scene_sentences == sample.metadata.get("num_distractors")


TASK = TaskSpec(
    name=NAME,
    version=VERSION,
    description="Trivial questions framed as famous paradoxes, 0/1/3/5/7 paradox facts (paper family 3).",
    generate=generate,
    score=score,
    check=check,
    strata=("num_distractors", "paradox"),
    default_n=900,
    metric=ACCURACY,
)
