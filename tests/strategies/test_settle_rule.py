"""`settle@m,s,eps`: stop once the probes' answer distribution stops changing (scripted traces, known truth)."""

from __future__ import annotations

import asyncio

import pytest
from scripted_tracer import ScriptedTracer

from overthink.errors import UserError
from overthink.models.base import GenerationRequest
from overthink.prompts.render import request_for
from overthink.registry import get_strategy
from overthink.strategies.common import item_for
from overthink.strategies.scheduler import SchedulerStrategy, agreed, distribution_settled
from overthink.tasks.misleading_math import generate, score
from overthink.types import Budget, Completion

SAMPLE = generate(1, 2)[0]


def _wavering(start: int) -> ScriptedTracer:
    """Distinct answers below `start` thinking tokens; from there the answer alternates 5, 6, 5, 6, ..."""

    def script(request: GenerationRequest) -> tuple[str, str]:
        tokens = request.budget.tokens or 0
        answer = 100 + tokens if tokens < start else 5 + (tokens // 4) % 2
        return " ".join(f"t{i}" for i in range(tokens)), f"<answer>{answer}</answer>"

    return ScriptedTracer(script)


def _run(strategy: SchedulerStrategy, backend: ScriptedTracer, limit: int) -> Completion:
    request = request_for(SAMPLE, Budget.parse("0"), 3)
    out = asyncio.run(strategy.run(backend, request, [Budget.parse(str(limit))], item_for(SAMPLE, score)))
    return out[str(limit)]


def test_the_windows_compare_distributions_not_single_answers() -> None:
    assert distribution_settled(["5", "6", "5", "6"], 2, 0.0)  # {5: 1/2, 6: 1/2} twice
    assert not distribution_settled(["1", "2", "5", "6"], 2, 0.5)  # disjoint windows: distance 1
    assert distribution_settled(["5", "5", "5", "6"], 2, 0.5) and not distribution_settled(["5", "5", "5", "6"], 2, 0.4)
    assert not distribution_settled(["5", "6", "5"], 2, 0.0)  # fewer than two windows
    assert not distribution_settled(["5", None, "5", None], 2, 0.0)  # the last probe must have an answer
    assert agreed(["1", "5", "5"], 2) and not agreed(["5", "6", "5", "6"], 2)


def test_settle_stops_on_a_wavering_answer_that_agreement_never_stops_on() -> None:
    settle = _run(SchedulerStrategy(every=4, agree=2, tolerance=0.0), _wavering(start=16), 64)
    # probes 16, 20, 24, 28 answer 5, 6, 5, 6: the windows (16, 20) and (24, 28) match at 28
    assert settle.extra["stopped_early"] is True and settle.extra["stop_step"] == 28
    assert settle.extra["rule"] == "settle" and settle.usage.reasoning_tokens == 28
    agree = _run(SchedulerStrategy(every=4, agree=2), _wavering(start=16), 64)
    assert agree.extra["stopped_early"] is False and agree.usage.reasoning_tokens == 64
    assert settle.compute_tokens < agree.compute_tokens


def test_settle_is_a_registered_strategy_with_its_own_label() -> None:
    strategy = get_strategy("settle@16,3,0.2")
    assert isinstance(strategy, SchedulerStrategy) and strategy.name == "settle@16,3,0.2"
    assert get_strategy("scheduler@16,3").name == "scheduler@16,3"
    with pytest.raises(UserError, match="tolerance"):
        get_strategy("settle@16,3,1.5")
    with pytest.raises(UserError):
        get_strategy("settle@16,3")
