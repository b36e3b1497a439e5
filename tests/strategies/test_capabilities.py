"""Strategies through the capability Protocols, on the scripted backend (no model).

`ScriptedTracer` (scripted_tracer.py) offers shared-prompt sampling, probed forced traces and step
scores from a script, so every rule of the strategies (who is asked what, when a trace stops, which
candidate wins, how compute is counted) has a known right answer.
"""

from __future__ import annotations

import asyncio

import pytest
from scripted_tracer import ScriptedTracer

from overthink.errors import UserError
from overthink.models.base import Backend, GenerationRequest
from overthink.models.capabilities import ForcedTracer, SharedPromptSampler, StepScorer
from overthink.models.scripted import ScriptedBackend
from overthink.prompts.render import request_for
from overthink.strategies.best_of_n import BestOfNStrategy
from overthink.strategies.common import item_for, sub_seed
from overthink.strategies.scheduler import SchedulerStrategy
from overthink.strategies.vote import VoteStrategy
from overthink.tasks.misleading_math import generate, score
from overthink.types import Budget, Completion, Mechanism

SAMPLE = generate(1, 2)[0]


def _request(seed: int = 3) -> GenerationRequest:
    return request_for(SAMPLE, Budget.parse("0"), seed)


def _run(strategy: object, backend: Backend, budgets: list[Budget], seed: int = 3) -> dict[str, Completion]:
    result: dict[str, Completion] = asyncio.run(strategy.run(backend, _request(seed), budgets, item_for(SAMPLE, score)))  # type: ignore[attr-defined]
    return result


def test_the_scripted_tracer_has_every_capability_and_the_plain_one_none() -> None:
    tracer, plain = ScriptedTracer(), ScriptedBackend()
    for protocol in (SharedPromptSampler, ForcedTracer, StepScorer):
        assert isinstance(tracer, protocol) and not isinstance(plain, protocol)


def test_vote_asks_the_sampler_once_with_the_sub_seeds_and_matches_the_plain_loop() -> None:
    script = lambda r: ("w " * (r.budget.tokens or 0), f"<answer>{r.seed % 3}</answer>")  # noqa: E731
    budgets = [Budget.parse("0"), Budget.parse("6")]
    tracer = ScriptedTracer(script)
    through = _run(VoteStrategy(5), tracer, budgets, seed=8)
    plain = _run(VoteStrategy(5), ScriptedBackend(script), budgets, seed=8)
    assert tracer.sampled == [[sub_seed(8, i) for i in range(5)]]
    assert through == plain  # the Protocol path gives exactly the records of k plain calls
    assert sum(through["6"].extra["votes"].values()) == 5


def _probe_script(settle_at: int) -> ScriptedTracer:
    """Interim answers differ at every probe until `settle_at` thinking tokens, then stay at 5."""

    def script(request: GenerationRequest) -> tuple[str, str]:
        tokens = request.budget.tokens or 0
        answer = 5 if tokens >= settle_at else 100 + tokens
        return " ".join(f"t{i}" for i in range(tokens)), f"<answer>{answer}</answer>"

    return ScriptedTracer(script)


def test_scheduler_stops_when_the_last_probes_agree() -> None:
    backend = _probe_script(settle_at=12)
    out = _run(SchedulerStrategy(every=4, agree=2), backend, [Budget.parse("8"), Budget.parse("32")])
    assert backend.traced == [[4, 8, 12, 16, 20, 24, 28, 32]]  # probes and limits, in one trace
    short, long = out["8"], out["32"]
    # budget 8 ends before the probes settle: answered at its limit, like cot
    assert short.extra["stopped_early"] is False and short.usage.reasoning_tokens == 8
    assert [p["answer"] for p in short.extra["probes"]] == ["104", "108"]
    # budget 32: probes 12 and 16 agree on 5, so thinking stops at 16 with that answer
    assert long.extra["stopped_early"] is True and long.extra["stop_step"] == 16
    assert long.usage.reasoning_tokens == 16 and score(SAMPLE, long.text).extracted == "5"
    assert long.extra["probes_made"] == 4
    # compute: budget 8 owns forks 4 and 8, budget 32 forks 12 and 16 (thinking since the last fork + answer)
    answer = 1  # "<answer>N</answer>" is one scripted word
    assert short.total_generated == (4 + answer) + (4 + answer)
    assert long.total_generated == (4 + answer) + (4 + answer)
    assert long.extra["compute"] == 16 + 4 * answer  # stand-alone: 16 thinking tokens, four probe answers


def test_a_scheduler_that_stops_at_the_budget_itself_did_not_stop_early() -> None:
    out = _run(SchedulerStrategy(every=4, agree=2), _probe_script(settle_at=12),
               [Budget.parse("16"), Budget.parse("32")])
    at_limit, longer = out["16"], out["32"]  # probes 12 and 16 agree: the trace stops at 16
    assert at_limit.extra["stopped_early"] is False and at_limit.extra["stop_step"] is None
    assert longer.extra["stopped_early"] is True and longer.extra["stop_step"] == 16
    assert at_limit.usage.reasoning_tokens == longer.usage.reasoning_tokens == 16


def test_scheduler_needs_a_forced_tracer_and_forced_token_budgets() -> None:
    strategy = SchedulerStrategy(every=4, agree=2)
    forced = [Budget.parse("8")]
    assert strategy.unsupported_reason(ScriptedTracer(), forced) is None
    assert "embedded engine" in (strategy.unsupported_reason(ScriptedBackend(), forced) or "")
    assert strategy.unsupported_reason(ScriptedTracer(), [Budget.parse("8", Mechanism.PROMPT)]) is not None
    assert "natural" in (strategy.unsupported_reason(ScriptedTracer(), [Budget.parse("natural")]) or "")
    with pytest.raises(UserError):
        _run(strategy, ScriptedBackend(), forced)


def test_best_of_n_judges_steps_on_the_generating_backend() -> None:
    def script(request: GenerationRequest) -> tuple[str, str]:
        good = request.seed == sub_seed(4, 2)
        lines = ["careful check of every number in the question " * 4, "so the answer follows " * 8]
        return "\n".join(lines) if good else "guess", f"<answer>{7 if good else 9}</answer>"

    backend = ScriptedTracer(script, judge=lambda step: 0.9 if "careful" in step or "Final answer: 7" in step
                             or "follows" in step else 0.2)
    out = _run(BestOfNStrategy(3), backend, [Budget.parse("0")], seed=4)["0"]
    assert out.extra["chosen"] == 2 and out.text == "<answer>7</answer>"
    assert out.extra["verifier"] == "step-judge:scripted"
    assert [len(steps) for steps in out.extra["step_scores"]] == [2, 2, 3]  # steps + the final answer
    assert out.extra["scores"] == [0.2, 0.2, 0.9]


def test_best_of_n_refuses_a_backend_without_step_scores_unless_a_judge_is_loaded() -> None:
    budgets = [Budget.parse("0")]
    assert BestOfNStrategy(2).unsupported_reason(ScriptedBackend(), budgets) is not None
    loaded = BestOfNStrategy(2, load_judge=lambda name: ScriptedTracer(judge=lambda step: 0.5))
    assert loaded.unsupported_reason(ScriptedBackend(), budgets) is None
    out = _run(loaded, ScriptedBackend(), budgets)["0"]
    assert out.extra["scores"] == [0.5, 0.5] and out.extra["verifier"] == "step-judge:scripted"
