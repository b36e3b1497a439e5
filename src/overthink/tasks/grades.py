"""Grades regression: predict a student's GPA from daily habits where only study time carries signal.

The paper's regression family. Students come from a known generative model (below): GPA rises with
study hours (correlation about 0.7 with the GPA), sleep adds a weak real effect, stress and social time
are *spurious* (correlated with study time, not causes of the GPA) and physical activity and
extracurricular time are pure noise. The paper's diagnosis is that longer reasoning drifts away from
study hours toward plausible-sounding spurious features and that worked examples remove the drift, so
every item stores its features for analysis to correlate predictions with.

Strata: `shots` (0, 8, 16 examples from the same generator). The same query students appear under
every shot level (item i of each level is the same student), and the 16-shot examples extend the
8-shot ones, so the levels are paired. `control` is true for the k-shot items: zero-shot is treated,
the anchored k-shot prompts are the comparison. The GPA scale (0-4) is the paper's, which is why the
analysis's 0.05-RMSE threshold fits. Metric: absolute error (RMSE in analysis), lower is better.
"""

from __future__ import annotations

import random
import re
from typing import Any

from overthink.scoring.extract import extract_number, format_number
from overthink.tasks.base import TaskSpec, check_generate_args, sample_id, seeded_rng, split_evenly, whole_levels
from overthink.tasks.metric import ABS_ERROR
from overthink.types import Sample, Score

NAME = "grades"
VERSION = "1"
DEFAULT_SHOTS = (0, 8, 16)
MAX_SHOTS = 32
SCALE = (0.0, 4.0)
UNPARSED_GUESS = 2.0  # an answer without a number is scored as the uninformed mid-scale guess

# Generative model: GPA = INTERCEPT + STUDY_SLOPE * study + SLEEP_SLOPE * (sleep - 7.5) + noise.
INTERCEPT, STUDY_SLOPE, SLEEP_SLOPE, NOISE_SD = 1.15, 0.22, 0.03, 0.32

# (metadata key, label in the prompt) in prompt order.
FEATURES: tuple[tuple[str, str], ...] = (
    ("study_hours", "Study hours per day"),
    ("sleep_hours", "Sleep hours per day"),
    ("social_hours", "Social hours per day"),
    ("physical_activity_hours", "Physical activity hours per day"),
    ("extracurricular_hours", "Extracurricular hours per day"),
    ("stress_level", "Stress level (1-10)"),
)
QUERY_HEADER = "Student to predict:"
_QUESTION = "What is this student's GPA? Answer with a single number between 0 and 4."


def _student(rng: random.Random) -> dict[str, float]:
    """One student's habits: study drives GPA; stress and social time follow study, not GPA."""
    study = round(rng.uniform(5.0, 10.0), 1)
    social = round(min(6.0, max(0.0, rng.uniform(0.0, 6.0) - 0.3 * (study - 7.5))), 1)
    stress = min(10, max(1, round(3 + 0.9 * (study - 5.0) + rng.gauss(0.0, 1.5))))
    return {
        "study_hours": study,
        "sleep_hours": round(rng.uniform(5.0, 10.0), 1),
        "social_hours": social,
        "physical_activity_hours": round(rng.uniform(0.0, 8.0), 1),
        "extracurricular_hours": round(rng.uniform(0.0, 4.0), 1),
        "stress_level": float(stress),
    }


def expected_gpa(features: dict[str, float], noise: float) -> float:
    """The generative model's GPA for shown (rounded) features and the student's noise draw."""
    raw = INTERCEPT + STUDY_SLOPE * features["study_hours"] + SLEEP_SLOPE * (features["sleep_hours"] - 7.5)
    return round(min(SCALE[1], max(SCALE[0], raw + noise)), 2)


def _draw(rng: random.Random) -> tuple[dict[str, float], float, float]:
    features = _student(rng)
    noise = rng.gauss(0.0, NOISE_SD)
    return features, noise, expected_gpa(features, noise)


def _line(features: dict[str, float]) -> str:
    """Hours with one decimal, stress as a whole number (the way a survey would show them)."""
    return ", ".join(
        f"{label}: {int(features[key]) if key == 'stress_level' else format(features[key], '.1f')}"
        for key, label in FEATURES
    )


def _prompt(query: dict[str, float], examples: list[tuple[dict[str, float], float]]) -> str:
    parts = ["Predict a university student's GPA (on a 0.00 to 4.00 scale) from their daily habits."]
    if examples:
        rows = [f"- {_line(f)} -> GPA: {format_number(g)}" for f, g in examples]
        parts.append("Records of other students from the same university:\n" + "\n".join(rows))
    parts.append(f"{QUERY_HEADER}\n- {_line(query)}")
    parts.append(_QUESTION)
    return "\n\n".join(parts)


def generate(n: int, seed: int, shots: tuple[int, ...] | list[int] = DEFAULT_SHOTS,
             **params: Any) -> list[Sample]:
    """`n` items split evenly over shot levels; item i of every level asks about the same student."""
    check_generate_args(NAME, n, params)
    levels = whole_levels(NAME, "shot counts", shots, 0, MAX_SHOTS)
    longest = max(levels)
    samples: list[Sample] = []
    for level, size in zip(levels, split_evenly(n, levels), strict=True):
        for index in range(size):
            query, noise, gpa = _draw(seeded_rng(NAME, VERSION, seed, "student", index))
            example_rng = seeded_rng(NAME, VERSION, seed, "examples", index)
            pool = [_draw(example_rng) for _ in range(longest)]  # nested: k-shot is a prefix of 16-shot
            examples = [(f, g) for f, _, g in pool[:level]]
            meta: dict[str, Any] = {
                "shots": level,
                "control": level > 0,
                "student": index,
                "features": query,
                "noise": noise,
            }
            samples.append(Sample(
                id=sample_id(NAME, VERSION, seed, index, level),
                task=NAME, prompt=_prompt(query, examples), target=format_number(gpa), metadata=meta,
            ))
    return samples


def score(sample: Sample, answer_text: str) -> Score:
    """Absolute error of the predicted GPA, clipped to the 0-4 scale (lower is better).

    An answer with no number is scored as the mid-scale guess (details["parsed"] is False), so the
    error stays defined and bounded; analysis can drop those records by that flag.
    """
    value = extract_number(answer_text)
    target = float(sample.target)
    if value is None:
        return Score(value=abs(UNPARSED_GUESS - target), correct=None, extracted=None,
                     details={"parsed": False, "clipped": False})
    scale = sample.metadata.get("scale", SCALE)  # imported paper items carry None: no clipping
    clipped = value if scale is None else min(float(scale[1]), max(float(scale[0]), value))
    return Score(
        value=round(abs(clipped - target), 6),
        correct=None,
        extracted=format_number(value),
        details={"parsed": True, "clipped": clipped != value},
    )


_FIELD = re.compile(r"([A-Za-z ()0-9-]+?): (-?\d+(?:\.\d+)?)")


def parse_student(line: str) -> dict[str, float]:
    """Features from one prompt line ("Study hours per day: 7.3, ..."), keyed like metadata."""
    labels = {label: key for key, label in FEATURES}
    found = {labels.get(name.strip(), name.strip()): float(value) for name, value in _FIELD.findall(line)}
    return {key: found[key] for key, _ in FEATURES if key in found}


def check(sample: Sample) -> bool:
    """Recompute the GPA from the features *read back from the prompt* and the stored noise draw.

    Also re-counts the worked examples against `shots` and checks each shown example GPA is what the
    generative model allows (within 5 noise SDs), so a mislabeled example cannot slip in.
    """
    head, sep, tail = sample.prompt.partition(QUERY_HEADER + "\n- ")
    if not sep:
        return False
    query = parse_student(tail.split("\n", 1)[0])
    if len(query) != len(FEATURES) or query != dict(sample.metadata.get("features", {})):
        return False
    if format_number(expected_gpa(query, float(sample.metadata["noise"]))) != sample.target:
        return False
    rows = [line for line in head.splitlines() if line.startswith("- ") and "-> GPA: " in line]
    if len(rows) != sample.metadata.get("shots"):
        return False
    for row in rows:
        habits, _, gpa = row[2:].partition(" -> GPA: ")
        features = parse_student(habits)
        if len(features) != len(FEATURES) or abs(expected_gpa(features, 0.0) - float(gpa)) > 5 * NOISE_SD:
            return False
    return True


TASK = TaskSpec(
    name=NAME,
    version=VERSION,
    description="Predict GPA from habits; study time is the signal, others spurious (paper family 4).",
    generate=generate,
    score=score,
    check=check,
    strata=("shots",),
    cluster=("student",),
    default_n=1500,
    metric=ABS_ERROR,
    higher_is_better=False,
)
