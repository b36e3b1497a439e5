"""The Backend contract's defaults and the one generation-settings type, on the smallest real backend."""

from __future__ import annotations

import asyncio

import pytest

from overthink.config import ExperimentConfig, validate_config
from overthink.errors import UserError
from overthink.models.base import Backend, Capabilities, GenerationRequest
from overthink.models.generation import DEFAULT_SAMPLING, GenerationConfig
from overthink.prompts.render import request_for
from overthink.runner.limits import group_bound
from overthink.tasks.misleading_math import generate
from overthink.types import Budget, Completion, Mechanism, Usage

SAMPLE = generate(1, 1)[0]


class Echo(Backend):
    """A backend that implements only what is abstract: everything else must have a safe default."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    @property
    def model_id(self) -> str:
        return "echo"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(mechanisms=frozenset({Mechanism.FORCED}), effort_levels=("low",))

    async def generate(self, request: GenerationRequest) -> Completion:
        self.asked.append(request.budget.label)
        return Completion(text=request.budget.label, reasoning="", usage=Usage(), finish_reason="stop")


def test_optional_abilities_have_safe_defaults() -> None:
    backend = Echo()
    backend.cancel()  # nothing runs locally: a no-op
    assert backend.live_tokens() == 0 and backend.estimate_cost(10**6, 10**6) == 0.0
    asyncio.run(backend.aclose())
    out = asyncio.run(backend.generate_nested(request_for(SAMPLE, Budget.parse("0"), 1),
                                              [Budget.parse("0"), Budget.parse("64")]))
    assert list(out) == ["0", "64"] and backend.asked == ["0", "64"]  # the default loops over generate


def test_default_refusal_names_what_the_capabilities_lack() -> None:
    backend = Echo()
    assert backend.unsupported_reason(Budget.parse("64")) is None
    reason = backend.unsupported_reason(Budget.parse("64", Mechanism.PROMPT))
    assert reason is not None and "prompt" in reason and "--mode forced" in reason
    assert backend.first_unsupported([Budget.parse("8"), Budget.parse("8", Mechanism.NATIVE)]) is not None
    with pytest.raises(UserError, match="native"):
        backend.require([Budget.parse("8", Mechanism.NATIVE)])


def test_default_worst_case_is_budget_or_natural_cap_plus_the_answer() -> None:
    backend = Echo()
    sampling = GenerationConfig(max_answer_tokens=10, natural_cap=100)
    request = request_for(SAMPLE, Budget.parse("0"), 1, sampling)
    assert backend.max_output_tokens(request.at(Budget.parse("256"))) == 266
    assert backend.max_output_tokens(request.at(Budget.parse("natural"))) == 110
    bound = group_bound(backend, request, [Budget.parse("0"), Budget.parse("256")])
    assert bound.cost == 0.0 and bound.tokens > 10 + 266


def test_generation_config_merges_layers_and_resolves_backend_defaults() -> None:
    base = GenerationConfig(temperature=0.6, max_answer_tokens=32)
    cli = GenerationConfig(temperature=0.0)
    merged = base.merge(cli)
    assert merged == GenerationConfig(temperature=0.0, max_answer_tokens=32)
    assert base.merge(GenerationConfig()) == base  # None never overrides
    resolved = merged.resolve()
    assert resolved.temperature == 0.0 and resolved.top_p == DEFAULT_SAMPLING.top_p
    assert GenerationConfig().resolve() == DEFAULT_SAMPLING


def test_config_and_library_defaults_agree() -> None:
    # the command line and a request built by hand decode alike: one source of defaults
    assert ExperimentConfig().generation().resolve() == GenerationConfig().resolve() == DEFAULT_SAMPLING
    assert (DEFAULT_SAMPLING.max_answer_tokens, DEFAULT_SAMPLING.natural_cap) == (32, 1024)
    config = validate_config({"temperature": 0.2, "natural_cap": 64})
    assert config.generation() == GenerationConfig(temperature=0.2, natural_cap=64)
    with pytest.raises(UserError, match="temperature"):
        validate_config({"temperature": 3})
