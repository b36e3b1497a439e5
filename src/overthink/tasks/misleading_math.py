"""Misleading math: count objects while statistical and probability facts try to pull attention away.

The paper's first family. The question is trivially answerable from the first sentence; every
distractor adds numbers that look relevant (probabilities, averages, variances) but are not. Items with
zero distractors are the controls that let analysis separate distraction from forcing damage.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from overthink.scoring.extract import extract_number, format_number
from overthink.tasks.base import TaskSpec, check_generate_args, sample_id, seeded_rng, split_evenly, whole_levels
from overthink.tasks.metric import ACCURACY
from overthink.types import Sample, Score

NAME = "misleading_math"
VERSION = "1"
DEFAULT_DISTRACTORS = (0, 1, 2, 3, 4, 5)
MAX_DISTRACTORS = 5

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# category noun -> (singular, plural) object names
CATEGORIES: dict[str, list[tuple[str, str]]] = {
    "fruits": [("apple", "apples"), ("orange", "oranges"), ("pear", "pears"), ("banana", "bananas"),
               ("plum", "plums"), ("peach", "peaches"), ("mango", "mangoes"), ("lemon", "lemons")],
    "pets": [("cat", "cats"), ("dog", "dogs"), ("rabbit", "rabbits"), ("hamster", "hamsters"),
             ("parrot", "parrots"), ("goldfish", "goldfish"), ("turtle", "turtles")],
    "books": [("novel", "novels"), ("cookbook", "cookbooks"), ("atlas", "atlases"),
              ("dictionary", "dictionaries"), ("biography", "biographies"), ("comic", "comics")],
    "tools": [("hammer", "hammers"), ("wrench", "wrenches"), ("screwdriver", "screwdrivers"),
              ("saw", "saws"), ("drill", "drills"), ("chisel", "chisels")],
    "vehicles": [("car", "cars"), ("bicycle", "bicycles"), ("scooter", "scooters"),
                 ("motorcycle", "motorcycles"), ("van", "vans"), ("truck", "trucks")],
    "instruments": [("guitar", "guitars"), ("violin", "violins"), ("flute", "flutes"),
                    ("drum", "drums"), ("trumpet", "trumpets"), ("cello", "cellos")],
}

# Each template yields one distracting sentence; {obj}/{objs} name an object, {cat} the category.
# The numbers are drawn per item and recorded so diagnosis can spot an answer copied from them.
DISTRACTOR_TEMPLATES: tuple[str, ...] = (
    "The probability that one of your {objs} is of a rare variety is {pct}%.",
    "On average, a household like yours keeps {avg} {cat}, with a standard deviation of {sd}.",
    "A survey found that {pct}% of people who own {objs} also buy {count} more within a year.",
    "The variance in the number of {cat} owned by your neighbours is {var}.",
    "If you picked one of the {cat} at random {count} times, the expected number of times you would "
    "pick {a_obj} is {exp}.",
    "Your friend says the chance that exactly {count} of the {cat} came from the same shop is {pct}%.",
    "Statistically, {pct}% of {objs} are replaced every {count} years.",
    "The median price of {a_obj} is {avg} dollars, and prices rise {pct}% a year.",
)


def _count_phrase(count: int, singular: str, plural: str) -> str:
    article = "an" if singular[0] in "aeiou" else "a"
    return f"{article} {singular}" if count == 1 else f"{NUMBER_WORDS[count]} {plural}"


def _join(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _distractor(rng: Any, template: str, objs: list[tuple[str, str]], category: str) -> tuple[str, list[float]]:
    singular, plural = objs[rng.randrange(len(objs))]
    values = {
        "pct": rng.randint(11, 93),
        "avg": round(rng.uniform(2.5, 14.5), 1),
        "sd": round(rng.uniform(0.5, 4.0), 1),
        "var": round(rng.uniform(1.5, 9.5), 2),
        "count": rng.randint(2, 9),
        "exp": round(rng.uniform(0.5, 4.5), 2),
    }
    used = [float(values[key]) for key in values if "{" + key + "}" in template]
    article = "an" if singular[0] in "aeiou" else "a"
    text = template.format(obj=singular, a_obj=f"{article} {singular}", objs=plural, cat=category, **values)
    return text, used


def _make_item(rng: Any, num_distractors: int) -> tuple[str, int, dict[str, Any]]:
    category = rng.choice(sorted(CATEGORIES))
    kinds = rng.sample(CATEGORIES[category], rng.randint(2, 3))
    counts = [rng.randint(1, 3) for _ in kinds]
    owned = _join([_count_phrase(c, s, p) for c, (s, p) in zip(counts, kinds, strict=True)])
    templates = rng.sample(DISTRACTOR_TEMPLATES, num_distractors)
    distractors: list[str] = []
    numbers: list[float] = []
    for template in templates:
        sentence, used = _distractor(rng, template, kinds, category)
        distractors.append(sentence)
        numbers.extend(used)
    prompt = " ".join([f"You have {owned}.", *distractors, f"Calculate how many {category} you have."])
    meta = {
        "num_distractors": num_distractors,
        "control": num_distractors == 0,
        "category": category,
        "distractor_numbers": numbers,
    }
    return prompt, sum(counts), meta


ItemMaker = Callable[[Any, int], tuple[str, int, dict[str, Any]]]


def generate_counting(name: str, version: str, make_item: ItemMaker, n: int, seed: int,
                      distractors: tuple[int, ...] | list[int], params: dict[str, Any]) -> list[Sample]:
    """The counting families' shared generator: `n` items split evenly over the distractor counts
    (the strata), in a seed-stable order; `make_item` writes one item's text."""
    check_generate_args(name, n, params)
    levels = whole_levels(name, "distractor counts", distractors, 0, MAX_DISTRACTORS)
    samples: list[Sample] = []
    for level, size in zip(levels, split_evenly(n, levels), strict=True):
        for index in range(size):
            rng = seeded_rng(name, version, seed, level, index)
            prompt, answer, meta = make_item(rng, level)
            samples.append(Sample(
                id=sample_id(name, version, seed, index, level),
                task=name, prompt=prompt, target=format_number(answer), metadata=meta,
            ))
    return samples


def generate(n: int, seed: int, distractors: tuple[int, ...] | list[int] = DEFAULT_DISTRACTORS,
             **params: Any) -> list[Sample]:
    """`n` items split evenly over the distractor counts (the strata), in a seed-stable order."""
    return generate_counting(NAME, VERSION, _make_item, n, seed, distractors, params)


def score(sample: Sample, answer_text: str) -> Score:
    value = extract_number(answer_text)
    extracted = None if value is None else format_number(value)
    correct = extracted == sample.target
    numbers = {format_number(x) for x in sample.metadata.get("distractor_numbers", [])}
    return Score(
        value=1.0 if correct else 0.0,
        correct=correct,
        extracted=extracted,
        details={"distractor_answer": bool(extracted is not None and not correct and extracted in numbers)},
    )


_OWNED = re.compile(r"^You have (.+?)\.\s")
_PART = re.compile(r"^(an?|zero|one|two|three|four|five|six|seven|eight|nine)\s+(\w+)$")


def check(sample: Sample) -> bool:
    """Re-count the objects by parsing the prompt's first sentence, independent of the generator."""
    match = _OWNED.match(sample.prompt)
    if not match:
        return False
    total = 0
    for part in re.split(r",\s*|\s+and\s+", match.group(1)):
        words = _PART.match(part.strip())
        if not words:
            return False
        quantity = words.group(1)
        total += 1 if quantity in ("a", "an") else NUMBER_WORDS.index(quantity)
    asks_category = sample.prompt.endswith(f"how many {sample.metadata.get('category')} you have.")
    return asks_category and str(total) == sample.target


TASK = TaskSpec(
    name=NAME,
    version=VERSION,
    description="Count objects despite 0-5 statistical/probability distractors (paper family 1).",
    generate=generate,
    score=score,
    check=check,
    strata=("num_distractors",),
    default_n=3000,
    metric=ACCURACY,
)
