"""The Inspect provider over a served backend: `overthink/openai-compat/<model>` against a real llama.cpp
server on loopback, with exact budget forcing (the provider is one adapter over any Backend)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("inspect_ai")

from inspect_ai import eval as inspect_eval
from inspect_ai._eval.registry import task_create
from inspect_ai.model import ContentReasoning, GenerateConfig, get_model

from overthink.inspect.provider import OverthinkAPI
from overthink.inspect.tasks import messages_for
from overthink.models.generation import GenerationConfig
from overthink.models.remote.openai_compat import OpenAICompatBackend
from overthink.prompts.render import request_for
from overthink.registry import TASKS
from overthink.types import Budget, BudgetKind

pytestmark = [pytest.mark.model, pytest.mark.slow]  # a real server (the session's `server_url` fixture)


def test_inspect_eval_forces_exact_budgets_through_a_served_backend(server_url: str, tmp_path: Path) -> None:
    model = get_model("overthink/openai-compat/tiny", base_url=server_url, max_attempts=2)
    try:
        assert isinstance(model.api, OverthinkAPI)
        assert isinstance(model.api.backend(), OpenAICompatBackend)
        task = task_create("overthink/misleading_math", n=2, distractors=[1])
        [log] = inspect_eval(task, model=model, reasoning_tokens=16, max_tokens=8, temperature=0.0, limit=2,
                             log_dir=str(tmp_path), display="none")
    finally:
        asyncio.run(model.api.backend().aclose())
    assert log.status == "success", log.error
    assert log.samples is not None and len(log.samples) == 2
    for sample in log.samples:
        usage = sample.output.usage
        assert usage is not None and usage.reasoning_tokens == 16  # forced exactly, counted by the server
        assert (sample.output.metadata or {})["budget"] == "16"
        assert sample.output.completion.lstrip().startswith("<answer>")


def test_the_served_provider_gives_the_backends_own_completion(server_url: str) -> None:
    """Same item, seed and budget: the Inspect path sends what `overthink run` would send."""
    sample = TASKS["misleading_math"].samples(1, 0, {"distractors": [2]})[0]
    model = get_model("overthink/openai-compat/tiny", base_url=server_url, max_attempts=2)
    assert isinstance(model.api, OverthinkAPI)
    backend = model.api.backend()
    try:
        config = GenerateConfig(reasoning_tokens=16, seed=11, max_tokens=8, temperature=0.0)
        request = request_for(sample=sample, budget=Budget(BudgetKind.TOKENS, 16), seed=11,
                              sampling=GenerationConfig(max_answer_tokens=8, temperature=0.0))

        async def both() -> tuple[object, object]:
            await backend.complete("Hello", max_tokens=1, stop=(), seed=0)  # same cache state for both
            served = await model.generate(messages_for(sample), config=config)
            await backend.complete("Hello", max_tokens=1, stop=(), seed=0)
            return served, await backend.generate(request)

        output, own = asyncio.run(both())
    finally:
        asyncio.run(backend.aclose())
    reasoning = output.message.content[0]  # type: ignore[attr-defined]
    assert isinstance(reasoning, ContentReasoning)
    assert (reasoning.reasoning, output.completion) == (own.reasoning, own.text)  # type: ignore[attr-defined]
