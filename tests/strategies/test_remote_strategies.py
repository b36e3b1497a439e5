"""The seam proved: vote@k, scheduler@m,s and best-of-n on `openai-compat --mode forced` against a real
llama.cpp server on loopback (the `server_url` fixture), with the records the embedded engine gives.

Both run the same tiny GGUF at temperature 0, where decoding is deterministic, so the embedded engine
and the server must agree on every trace, every interim answer and every vote. Compute counters are
not compared: the server samples a few lookahead tokens per request that the embedded engine does not.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from overthink.models.base import GenerationRequest
from overthink.models.capabilities import ForcedTracer, SharedPromptSampler, StepScorer
from overthink.models.generation import GenerationConfig
from overthink.models.remote.openai_compat import OpenAICompatBackend
from overthink.prompts.render import request_for
from overthink.strategies.best_of_n import BestOfNStrategy
from overthink.strategies.common import item_for
from overthink.strategies.scheduler import SchedulerStrategy
from overthink.strategies.vote import VoteStrategy
from overthink.tasks.misleading_math import generate, score
from overthink.types import Budget, Completion

pytestmark = [pytest.mark.model, pytest.mark.slow]

SAMPLE = generate(6, 3)[5]
GREEDY = GenerationConfig(temperature=0.0, max_answer_tokens=8, natural_cap=16)
SAME = ("reasoning", "wait_insertions", "finish_reason")


def _request() -> GenerationRequest:
    return request_for(SAMPLE, Budget.parse("0"), 11, GREEDY)


def _remote(url: str, strategy: Any, budgets: list[Budget]) -> dict[str, Completion]:
    async def go() -> dict[str, Completion]:
        backend = OpenAICompatBackend.from_options("tiny", base_urls=[url], max_attempts=2)
        assert all(isinstance(backend, p) for p in (SharedPromptSampler, ForcedTracer, StepScorer))
        assert strategy.unsupported_reason(backend, budgets) is None
        try:
            await backend.complete("Hello", max_tokens=1, stop=(), seed=0)  # the same (empty) cache every time
            result: dict[str, Completion] = await strategy.run(backend, _request(), budgets, item_for(SAMPLE, score))
            return result
        finally:
            await backend.aclose()

    return asyncio.run(go())


def _embedded(backend: Any, strategy: Any, budgets: list[Budget]) -> dict[str, Completion]:
    result: dict[str, Completion] = asyncio.run(strategy.run(backend, _request(), budgets, item_for(SAMPLE, score)))
    return result


def _answer(completion: Completion) -> str | None:
    return score(SAMPLE, completion.text).extracted


def _assert_same(remote: Completion, local: Completion) -> None:
    for name in SAME:
        assert getattr(remote, name) == getattr(local, name), name
    assert remote.usage.reasoning_tokens == local.usage.reasoning_tokens
    assert _answer(remote) == _answer(local)


def test_vote_on_a_served_model_gives_the_embedded_records(server_url: str, tiny_backend: Any) -> None:
    budgets = [Budget.parse("0"), Budget.parse("16")]
    remote = _remote(server_url, VoteStrategy(3), budgets)
    local = _embedded(tiny_backend, VoteStrategy(3), budgets)
    for label in ("0", "16"):
        _assert_same(remote[label], local[label])
        for key in ("answers", "votes", "tie", "seeds", "reasoning_tokens_each"):
            assert remote[label].extra[key] == local[label].extra[key], (label, key)
        # one definition of compute on both: the server's lookahead is in total_generated only
        assert remote[label].compute() == local[label].compute()
        assert [s.text for s in remote[label].samples] == [s.text for s in local[label].samples]
    assert remote["16"].usage.reasoning_tokens == 16


def test_scheduler_on_a_served_model_probes_and_stops_as_the_embedded_engine(
    server_url: str, tiny_backend: Any
) -> None:
    budgets = [Budget.parse("16"), Budget.parse("32")]
    strategy = SchedulerStrategy(every=8, agree=2)
    remote = _remote(server_url, strategy, budgets)
    local = _embedded(tiny_backend, strategy, budgets)
    for label in ("16", "32"):
        _assert_same(remote[label], local[label])
        for key in ("probes", "probes_made", "stop_step", "stopped_early", "max_tokens"):
            assert remote[label].extra[key] == local[label].extra[key], (label, key)
        assert remote[label].compute() == local[label].compute()
        assert remote[label].extra["probes_made"] >= 1


def test_best_of_n_judges_steps_on_the_served_model(server_url: str, tiny_backend: Any) -> None:
    budgets = [Budget.parse("12")]
    remote = _remote(server_url, BestOfNStrategy(2), budgets)["12"]
    local = _embedded(tiny_backend, BestOfNStrategy(2), budgets)["12"]
    assert remote.extra["verifier"] == "step-judge:tiny" == local.extra["verifier"]
    assert [len(s) for s in remote.extra["step_scores"]] == [len(s) for s in local.extra["step_scores"]]
    assert all(0.0 < p < 1.0 for steps in remote.extra["step_scores"] for p in steps)
    # the same model reading the same prompt: P(Yes) agrees to a few decimals (logits vs top log-probs)
    for mine, theirs in zip(remote.extra["scores"], local.extra["scores"], strict=True):
        assert mine == pytest.approx(theirs, abs=0.02)
    assert remote.extra["chosen"] == local.extra["chosen"]
    # compute: the candidates, the prompt tokens sent for every step, one generated token per step request
    steps = sum(len(s) for s in remote.extra["step_scores"])
    candidates = sum(s.reasoning_tokens + s.answer_tokens for s in remote.samples)
    assert remote.compute() == candidates + remote.extra["verifier_tokens"] + steps
    assert sum(s.verifier_generated for s in remote.samples) == steps
    assert sum(s.verifier_generated for s in local.samples) == 0  # the embedded judge reads logits only


@pytest.mark.parametrize("strategy", ["vote@2", "scheduler@8,2"])
def test_run_command_sweeps_a_strategy_on_a_served_model(server_url: str, strategy: str, tmp_path: Any) -> None:
    import json
    import sqlite3

    from typer.testing import CliRunner

    from overthink.cli import app

    store = tmp_path / "remote.db"
    args = ["run", "--backend", "openai-compat", "--model", "tiny", "--base-url", server_url, "--mode", "forced",
            "--strategy", strategy, "--budgets", "8,16", "--n", "1", "--temperature", "0", "--max-answer-tokens", "8",
            "--store", str(store), "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = sqlite3.connect(store).execute("SELECT strategy, budget, status, extra, reasoning_tokens FROM records")
    records = rows.fetchall()
    assert sorted(r[1] for r in records) == ["16", "8"] and {r[0] for r in records} == {strategy}
    assert all(r[2] == "ok" for r in records)
    for _, budget, _, extra, thinking in records:
        data = json.loads(extra)
        assert data["strategy"] == strategy.split("@")[0]
        assert thinking <= int(budget)
        if strategy.startswith("scheduler"):
            assert data["probes_made"] >= 1 and all(p["at"] % 8 == 0 for p in data["probes"])
