"""Budget forcing on the real tiny model: exact budgets, nested == independent, natural ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from overthink.models.generation import GenerationConfig
from overthink.prompts.render import request_for
from overthink.tasks.misleading_math import generate
from overthink.types import Budget, Completion

pytestmark = pytest.mark.model

GREEDY = GenerationConfig(temperature=0.0, max_answer_tokens=12)
SAMPLED = GenerationConfig(temperature=0.6, top_p=0.95, max_answer_tokens=12)


def _nested(backend: Any, budgets: list[Budget], sampling: GenerationConfig, seed: int = 11) -> dict[str, Completion]:
    sample = generate(6, 3)[5]
    request = request_for(sample, budgets[0], seed, sampling)
    result: dict[str, Completion] = asyncio.run(backend.generate_nested(request, budgets))
    return result


def test_forced_budgets_are_realized_exactly(tiny_backend: Any) -> None:
    budgets = [Budget.parse(b) for b in ("0", "16", "40", "natural")]
    out = _nested(tiny_backend, budgets, GREEDY)
    assert out["0"].reasoning == "" and out["0"].usage.reasoning_tokens == 0
    assert out["16"].usage.reasoning_tokens == 16
    assert out["40"].usage.reasoning_tokens == 40
    assert all(c.text.startswith("<answer>") for c in out.values())
    natural = out["natural"]
    end = natural.extra["natural_end"]
    if natural.extra["censored"]:
        assert end is None and natural.usage.reasoning_tokens == 40
    else:
        assert natural.usage.reasoning_tokens == end
    # nested prefixes: the shorter trace is a prefix of the longer one
    assert out["40"].reasoning.startswith(out["16"].reasoning.rstrip("\ufffd"))


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
def test_nested_equals_independent(tiny_backend: Any, sampling: GenerationConfig) -> None:
    budgets = [Budget.parse(b) for b in ("0", "24", "48")]
    nested = _nested(tiny_backend, budgets, sampling)
    for budget in budgets:
        alone = _nested(tiny_backend, [budget], sampling)[budget.label]
        assert alone.reasoning == nested[budget.label].reasoning
        assert alone.text == nested[budget.label].text
        assert alone.usage.reasoning_tokens == nested[budget.label].usage.reasoning_tokens
        # what the answer cost alone does not depend on nesting (total_generated does, by design)
        assert alone.compute() == nested[budget.label].compute() == alone.usage.reasoning_tokens + alone.answer_tokens


def test_nested_generates_fewer_tokens(tiny_backend: Any) -> None:
    budgets = [Budget.parse(b) for b in ("0", "24", "48")]
    nested = _nested(tiny_backend, budgets, GREEDY)
    independent = sum(_nested(tiny_backend, [b], GREEDY)[b.label].total_generated for b in budgets)
    shared = sum(c.total_generated for c in nested.values())
    assert shared < independent
    # nested sampled thinking once: at most the largest budget plus the answers
    assert shared <= 48 + sum(c.answer_tokens for c in nested.values())


def test_seeds_change_sampled_traces(tiny_backend: Any) -> None:
    budgets = [Budget.parse("32")]
    first = _nested(tiny_backend, budgets, SAMPLED, seed=1)["32"].reasoning
    again = _nested(tiny_backend, budgets, SAMPLED, seed=1)["32"].reasoning
    other = _nested(tiny_backend, budgets, SAMPLED, seed=2)["32"].reasoning
    assert first == again
    assert first != other


def test_natural_only_run_owns_its_thinking(tiny_backend: Any) -> None:
    natural = Budget.parse("natural")
    out = _nested(tiny_backend, [natural], SAMPLING_NATURAL)["natural"]
    assert out.wait_insertions == 0  # no forcing in the natural regime
    assert out.usage.reasoning_tokens > 0
    # all thinking tokens were sampled for this one record, plus its answer
    assert out.total_generated >= out.usage.reasoning_tokens + out.answer_tokens


SAMPLING_NATURAL = GenerationConfig(temperature=0.0, max_answer_tokens=8, natural_cap=96)
