"""Engine-specific strategies on the real tiny model: votes, probes and compute are recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from overthink.models.base import GenerationRequest
from overthink.models.generation import GenerationConfig
from overthink.prompts.render import request_for
from overthink.strategies.common import answer_key, item_for
from overthink.strategies.scheduler import SchedulerStrategy
from overthink.strategies.vote import VoteStrategy
from overthink.tasks.misleading_math import generate, score
from overthink.types import Budget, Completion

pytestmark = pytest.mark.model

SAMPLE = generate(2, 5)[0]
SAMPLED = GenerationConfig(temperature=0.7, top_p=0.95, max_answer_tokens=8)


def _request() -> GenerationRequest:
    return request_for(SAMPLE, Budget.parse("0"), 21, SAMPLED)


def _run(strategy: Any, backend: Any, budgets: list[Budget]) -> dict[str, Completion]:
    result: dict[str, Completion] = asyncio.run(strategy.run(backend, _request(), budgets, item_for(SAMPLE, score)))
    return result


def test_vote_records_each_sample_and_sums_compute(tiny_backend: Any) -> None:
    budgets = [Budget.parse("0"), Budget.parse("12")]
    out = _run(VoteStrategy(3), tiny_backend, budgets)
    for label in ("0", "12"):
        record = out[label]
        assert record.extra["k"] == 3 and len(record.extra["answers"]) == 3
        voted = record.extra["answers"]
        counts = record.extra["votes"]
        assert sum(counts.values()) == sum(a is not None for a in voted)
        assert record.text.startswith("<answer>") and record.text.endswith("</answer>")
    # budget 12: each of 3 samples thinks 12 tokens (some sampled, "Wait" tokens are forced)
    assert out["12"].usage.reasoning_tokens == 12
    assert out["0"].total_generated > 0
    total = out["0"].total_generated + out["12"].total_generated
    assert total >= 3 * 1  # every sample generated at least one answer token
    # sample 0 of the vote keeps the group's seed: it is the cot trace of the same (sample, repeat)
    assert out["12"].extra["seeds"][0] == 21 and len(set(out["12"].extra["seeds"])) == 3
    cot = asyncio.run(tiny_backend.generate_nested(_request(), budgets))
    assert [answer_key(SAMPLE, cot[b].text, score) for b in ("0", "12")] == [
        out["0"].extra["answers"][0], out["12"].extra["answers"][0]]


def test_scheduler_records_probes_and_counts_their_compute(tiny_backend: Any) -> None:
    budgets = [Budget.parse("16"), Budget.parse("48")]
    out = _run(SchedulerStrategy(every=8, agree=2), tiny_backend, budgets)
    for label, limit in (("16", 16), ("48", 48)):
        record = out[label]
        extra = record.extra
        assert extra["probes_made"] == len(extra["probes"]) >= 1
        assert all(p["at"] % 8 == 0 and p["at"] <= limit for p in extra["probes"])
        assert record.usage.reasoning_tokens <= limit
        if extra["stopped_early"]:
            assert extra["stop_step"] == record.usage.reasoning_tokens
            last = [p["answer"] for p in extra["probes"][-2:]]
            assert last[0] is not None and last[0] == last[1]
        else:
            assert record.usage.reasoning_tokens == limit
        # stand-alone compute includes every probe's answer tokens on top of the thinking
        assert extra["compute"] >= record.usage.reasoning_tokens - 8 * record.wait_insertions
        assert extra["compute"] > 0
    assert out["48"].extra["compute"] >= out["16"].extra["compute"]
    # probes never disturb the trace: the scheduler's thinking is a prefix of cot's trace (same seed)
    cot = asyncio.run(tiny_backend.generate_nested(_request(), [Budget.parse("48")]))["48"]
    assert cot.reasoning.startswith(out["48"].reasoning.rstrip("\ufffd"))


def test_best_of_n_judges_every_step_and_keeps_the_winner(tiny_backend: Any) -> None:
    from overthink.strategies.best_of_n import BestOfNStrategy

    budgets = [Budget.parse("0"), Budget.parse("10")]
    out = _run(BestOfNStrategy(2), tiny_backend, budgets)
    for label in ("0", "10"):
        extra = out[label].extra
        scores, steps = extra["scores"], extra["step_scores"]
        assert len(scores) == len(steps) == 2
        assert all(0.0 <= s <= 1.0 for s in scores)
        # budget 0 has no reasoning: only the final answer is judged; the score is the weakest step
        if label == "0":
            assert all(len(s) == 1 for s in steps)
        assert all(score == min(step) for score, step in zip(scores, steps, strict=True))
        assert scores[extra["chosen"]] == max(scores)
        assert extra["verifier_tokens"] > 0 and extra["verifier"].startswith("step-judge:")
    assert out["10"].usage.reasoning_tokens == 10
