"""grades: the generative model's signal is where it should be; keys recomputed from the prompt."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest

from overthink.tasks import grades as task
from overthink.tasks.base import TaskError
from overthink.types import Sample


def _bytes(samples: list[Sample]) -> str:
    return "\n".join(s.to_json() for s in samples)


def test_same_seed_same_bytes_and_other_seed_other_items() -> None:
    assert _bytes(task.generate(30, 1)) == _bytes(task.generate(30, 1))
    first, other = task.generate(30, 1), task.generate(30, 2)
    assert {s.id for s in first}.isdisjoint({s.id for s in other})
    assert all(a.prompt != b.prompt for a, b in zip(first, other, strict=True))


def test_study_hours_carry_the_signal_and_the_rest_is_weak() -> None:
    samples = task.generate(4000, 5, shots=[0])
    grade = np.array([float(s.target) for s in samples])
    corr = {key: float(np.corrcoef([s.metadata["features"][key] for s in samples], grade)[0, 1])
            for key, _ in task.FEATURES}
    assert 0.65 <= corr["study_hours"] <= 0.75
    for noise in ("physical_activity_hours", "extracurricular_hours"):
        assert abs(corr[noise]) < 0.06
    for spurious in ("sleep_hours", "social_hours"):
        assert abs(corr[spurious]) < 0.3
    assert abs(corr["stress_level"]) < corr["study_hours"]
    assert grade.min() >= 0.0 and grade.max() <= 4.0


def test_every_answer_key_is_recomputed_from_the_prompt() -> None:
    samples = task.generate(300, 8)
    assert all(task.check(s) for s in samples)


def test_check_rejects_a_wrong_key_and_a_changed_feature() -> None:
    sample = task.generate(3, 4, shots=[8])[0]
    off = Sample(sample.id, sample.task, sample.prompt, "3.99" if sample.target != "3.99" else "0.5",
                 sample.metadata)
    assert not task.check(off)
    study = sample.metadata["features"]["study_hours"]
    line = f"Study hours per day: {study:.1f}"
    changed = sample.prompt[::-1].replace(line[::-1], f"Study hours per day: {study + 1:.1f}"[::-1], 1)[::-1]
    assert changed != sample.prompt
    assert not task.check(Sample(sample.id, sample.task, changed, sample.target, sample.metadata))


def test_shot_levels_are_paired_and_nested() -> None:
    samples = task.generate(30, 3)
    assert collections.Counter(s.metadata["shots"] for s in samples) == {0: 10, 8: 10, 16: 10}
    by_level: dict[int, list[Sample]] = collections.defaultdict(list)
    for s in samples:
        by_level[s.metadata["shots"]].append(s)
        assert s.prompt.count("-> GPA: ") == s.metadata["shots"]
        assert s.metadata["control"] is (s.metadata["shots"] > 0)
    for zero, eight, sixteen in zip(by_level[0], by_level[8], by_level[16], strict=True):
        assert zero.target == eight.target == sixteen.target  # the same student at every level
        examples8 = [line for line in eight.prompt.splitlines() if "-> GPA" in line]
        examples16 = [line for line in sixteen.prompt.splitlines() if "-> GPA" in line]
        assert examples16[:8] == examples8


@pytest.mark.parametrize("bad", [{"shots": [-1]}, {"shots": [99]}, {"k": 3}])
def test_bad_parameters(bad: dict[str, object]) -> None:
    with pytest.raises(TaskError):
        task.generate(5, 0, **bad)  # type: ignore[arg-type]


def test_scorer_absolute_error_on_messy_outputs() -> None:
    sample = task.generate(1, 0)[0]
    target = float(sample.target)
    assert task.score(sample, f"<answer>{sample.target}</answer>").value == 0.0
    assert math.isclose(task.score(sample, "<answer>GPA 3.5 out of 4</answer>").value, abs(3.5 - target))
    several = task.score(sample, "<answer>2.0</answer> hmm <answer>3.0</answer>")
    assert math.isclose(several.value, abs(3.0 - target))
    clipped = task.score(sample, "<answer>85</answer>")
    assert clipped.details["clipped"] is True and math.isclose(clipped.value, abs(4.0 - target))
    missing = task.score(sample, "I cannot tell.")
    assert missing.details["parsed"] is False and math.isclose(missing.value, abs(2.0 - target))
    assert task.TASK.metric.name == "abs_error" and task.TASK.higher_is_better is False
