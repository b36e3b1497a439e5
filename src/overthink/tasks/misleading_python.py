"""Misleading Python: count objects while Python snippets about them try to pull attention away.

The paper's second counting family. The question and its answer are exactly those of misleading_math
(the object tables and phrasing are imported from there, so the two families differ only in the kind
of distractor); each distractor is a short Python snippet that computes something about the objects.
The code is shown as text and never executed, by the model's host or by us. Every number literal in
a snippet is recorded in `distractor_numbers` so diagnosis can spot an answer copied from the code.
"""

from __future__ import annotations

import random
import re
from typing import Any

from overthink.tasks import misleading_math
from overthink.tasks.base import TaskSpec
from overthink.tasks.metric import ACCURACY
from overthink.tasks.misleading_math import CATEGORIES, _count_phrase, _join
from overthink.types import Sample, Score

NAME = "misleading_python"
VERSION = "1"
DEFAULT_DISTRACTORS = (0, 1, 2, 3, 4, 5)
MAX_DISTRACTORS = 5

# Each snippet is a format string; {var} is a Python identifier made from an object name, {obj}/{objs}
# name the object, {cat} the category. Values are drawn per item like misleading_math's distractors.
SNIPPETS: tuple[str, ...] = (
    "import random\n{var} = ['{obj}'] * {count}\nrandom.shuffle({var})\nprint(len({var}) * {pct} / 100)",
    "def expected_{var}(n, p={prob}):\n    return n * p\n\nprint(expected_{var}({count}))",
    "prices = {{'{obj}': {avg}, 'other': {sd}}}\ntotal = sum(prices.values()) * {count}\nprint(total)",
    "import statistics\nsamples = [{count}, {avg}, {sd}, {var_value}]\nprint(statistics.variance(samples))",
    "{var}_per_week = {avg}\nweeks = {count}\nprint(f'{objs}: {{{var}_per_week * weeks}}')",
    "import math\nways = math.comb({big}, {count})\nprint(f'ways to pick {objs}: {{ways}}')",
    "class {klass}:\n    weight_kg = {sd}\n    def price(self):\n        return {avg} * {pct} / 100",
    "{cat}_owned = {{}}\nfor day in range({count}):\n    {cat}_owned[day] = day * {prob}\n"
    "print(max({cat}_owned.values()))",
)

_LITERAL = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def _snippet(rng: random.Random, template: str, objs: list[tuple[str, str]], category: str) -> str:
    singular, plural = objs[rng.randrange(len(objs))]
    values = {
        "pct": rng.randint(11, 93),
        "prob": round(rng.uniform(0.05, 0.95), 2),
        "avg": round(rng.uniform(2.5, 14.5), 1),
        "sd": round(rng.uniform(0.5, 4.0), 1),
        "var_value": round(rng.uniform(1.5, 9.5), 2),
        "count": rng.randint(2, 9),
        "big": rng.randint(10, 30),
    }
    return template.format(var=plural, obj=singular, objs=plural, cat=category,
                           klass=singular.capitalize(), **values)


def snippet_numbers(code: str) -> list[float]:
    """Every number literal in a snippet (identifiers such as `range` or `p` carry no digits)."""
    return [float(x) for x in _LITERAL.findall(code)]


def _make_item(rng: random.Random, num_distractors: int) -> tuple[str, int, dict[str, Any]]:
    category = rng.choice(sorted(CATEGORIES))
    kinds = rng.sample(CATEGORIES[category], rng.randint(2, 3))
    counts = [rng.randint(1, 3) for _ in kinds]
    owned = _join([_count_phrase(c, s, p) for c, (s, p) in zip(counts, kinds, strict=True)])
    blocks: list[str] = []
    numbers: list[float] = []
    for template in rng.sample(SNIPPETS, num_distractors):
        code = _snippet(rng, template, kinds, category)
        blocks.append(f"```python\n{code}\n```")
        numbers.extend(snippet_numbers(code))
    parts = [f"You have {owned}."]
    if blocks:
        intro = "A friend wrote this code about them:" if len(blocks) == 1 else \
            "A friend wrote these code snippets about them:"
        parts.append(intro + "\n" + "\n".join(blocks))
    parts.append(f"Calculate how many {category} you have.")
    meta = {
        "num_distractors": num_distractors,
        "control": num_distractors == 0,
        "category": category,
        "distractor_numbers": numbers,
    }
    return "\n".join(parts), sum(counts), meta


def generate(n: int, seed: int, distractors: tuple[int, ...] | list[int] = DEFAULT_DISTRACTORS,
             **params: Any) -> list[Sample]:
    """`n` items split evenly over the distractor counts (the strata), in a seed-stable order."""
    return misleading_math.generate_counting(NAME, VERSION, _make_item, n, seed, distractors, params)


def score(sample: Sample, answer_text: str) -> Score:
    """Exact count; `distractor_answer` flags a wrong answer equal to a number from the code."""
    return misleading_math.score(sample, answer_text)


def check(sample: Sample) -> bool:
    """Re-count from the prompt's first sentence, and confirm the code blocks match the stratum.

    The counting parser is misleading_math's (same first sentence, same closing question); the
    snippet count and their literals are re-read from the text, not taken from generator state.
    """
    if not misleading_math.check(sample):
        return False
    blocks = re.findall(r"```python\n(.*?)\n```", sample.prompt, re.DOTALL)
    if len(blocks) != sample.metadata.get("num_distractors"):
        return False
    literals = [x for code in blocks for x in snippet_numbers(code)]
    return literals == list(sample.metadata.get("distractor_numbers", []))


TASK = TaskSpec(
    name=NAME,
    version=VERSION,
    description="Count objects despite 0-5 Python-snippet distractors, shown and never run (paper family 2).",
    generate=generate,
    score=score,
    check=check,
    strata=("num_distractors",),
    default_n=3000,
    metric=ACCURACY,
)
