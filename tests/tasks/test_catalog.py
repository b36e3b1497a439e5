"""The family catalog: built-ins registered through the same hook as plugins, typed metrics by name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from overthink.errors import UserError
from overthink.registry import TASKS
from overthink.tasks import refusal
from overthink.tasks.catalog import families, family, metric_named
from overthink.tasks.family import REGISTERED, Family, register_family
from overthink.tasks.metric import ABS_ERROR, RMSE, Metric, register_metric


@pytest.fixture
def scratch() -> Iterator[None]:
    """Families registered by a test are removed again, so no other test sees them."""
    before = dict(REGISTERED)
    yield
    REGISTERED.clear()
    REGISTERED.update(before)


def test_every_registry_task_is_a_catalog_family_with_its_traits() -> None:
    assert list(families())[:7] == ["refusal", "misleading_math", "misleading_python", "paradoxes", "grades",
                                    "zebra", "ai_risk"]
    for name, spec in TASKS.items():
        assert family(name).task is spec and family(name).traits() == spec.traits()
    assert family("refusal").main_stratum() == "label=harmful" and family("grades").main_stratum() == "all"


def test_stored_names_read_back_as_their_metric() -> None:
    assert metric_named("abs_error") is RMSE and ABS_ERROR.name == "abs_error"  # the store keeps abs_error
    assert metric_named("refusal").per_label == (("harmful", "refusal"), ("benign", "over_refusal"))
    assert metric_named("matching_behavior", False).higher_is_better is False  # the task directs it
    assert metric_named("over_refusal", True).higher_is_better is False  # a refusal rate means one thing
    unknown = metric_named("f1", False)
    assert (unknown.name, unknown.unit, unknown.higher_is_better, unknown.rmse) == ("f1", "score", False, False)


def test_a_name_cannot_be_taken_twice(scratch: None) -> None:
    register_family(family("refusal"))  # the same family again is a no-op
    other = replace(refusal.TASK, description="someone else's refusal task")
    with pytest.raises(UserError, match="registered twice"):
        register_family(Family(other))
    with pytest.raises(ValueError, match="already registered"):
        register_metric(Metric("refusal", False, 0.1))


def test_a_registered_family_without_null_model_is_known_but_not_simulated(scratch: None) -> None:
    from overthink.analysis.family_items import as_family, family_names

    register_family(Family(replace(refusal.TASK, name="refusal_copy")))
    assert "refusal_copy" in families() and "refusal_copy" not in family_names()
    with pytest.raises(UserError, match="declares no null model"):
        as_family("refusal_copy")
