"""Task parameters from config files and the command line: wrong types are TaskErrors (UserErrors)."""

from __future__ import annotations

import pytest

from overthink.errors import TaskError, UserError
from overthink.registry import TASKS


def test_task_error_is_a_user_error() -> None:
    assert issubclass(TaskError, UserError)


@pytest.mark.parametrize(("task", "params", "needle"), [
    ("zebra", {"sizes": 5}, "sizes"),  # a number where a list belongs: was a TypeError inside generate
    ("misleading_math", {"distractors": "many"}, "distractors"),
    ("refusal", {"labels": 3}, "labels"),
    ("ai_risk", {"categories": 7}, "categories"),
])
def test_wrong_parameter_types_name_the_parameter(task: str, params: dict[str, object], needle: str) -> None:
    with pytest.raises(TaskError, match=needle):
        TASKS[task].samples(4, 0, params)


def test_valid_parameters_generate_as_before() -> None:
    spec = TASKS["misleading_math"]
    assert spec.samples(4, 3, {"distractors": [0, 2]}) == spec.generate(4, 3, distractors=[0, 2])
    with pytest.raises(TaskError, match="unknown parameter"):
        spec.samples(4, 3, {"distractor": [0]})
    with pytest.raises(TaskError, match="within 0"):
        spec.samples(4, 3, {"distractors": [-1]})
