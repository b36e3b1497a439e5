"""The OpenAI-compatible backend against a real llama-cpp-python server on loopback (tiny model).

The `server_url` fixture (tests/conftest.py) starts `python -m llama_cpp.server` on a free port once
per session, waits until it answers and stops it afterwards. Budgets and answers are kept short: the
machine is small and shared.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from overthink.models.generation import GenerationConfig
from overthink.models.remote.openai_compat import OpenAICompatBackend
from overthink.prompts.render import request_for
from overthink.tasks.misleading_math import generate
from overthink.types import Budget, Completion, Mechanism, Sample, TokenSource

pytestmark = [pytest.mark.model, pytest.mark.slow]  # a real server: ~1.5 min on 2 cores

GREEDY = GenerationConfig(temperature=0.0, max_answer_tokens=8, natural_cap=16)


def _backend(url: str, **options: Any) -> OpenAICompatBackend:
    return OpenAICompatBackend.from_options("tiny", base_urls=[url], max_attempts=2, **options)


def _run(
    url: str, sample: Sample, budgets: list[Budget], sampling: GenerationConfig = GREEDY
) -> dict[str, Completion]:
    async def go() -> dict[str, Completion]:
        backend = _backend(url)
        try:
            # Start every run from the same cache state: the server reuses the longest cached prefix, and
            # re-evaluating a prompt in a different batch shape changes logits in the last bits, enough to
            # flip a greedy near-tie. An unrelated one-token request empties the reusable prefix.
            await backend.complete("Hello", max_tokens=1, stop=(), seed=0)
            return await backend.generate_nested(request_for(sample, budgets[0], 11, sampling), budgets)
        finally:
            await backend.aclose()

    return asyncio.run(go())


async def _tokens(url: str, text: str) -> int:
    backend = _backend(url)
    try:
        return len(await backend.tokenize(text) or [])
    finally:
        await backend.aclose()


@pytest.fixture(scope="module")
def nested(server_url: str) -> dict[str, Completion]:
    budgets = [Budget.parse(b) for b in ("0", "16", "32", "natural")]
    return _run(server_url, generate(6, 3)[5], budgets)


def test_forced_budgets_are_realized_exactly(server_url: str, nested: dict[str, Completion]) -> None:
    assert nested["0"].reasoning == "" and nested["0"].usage.reasoning_tokens == 0
    for n in (16, 32):
        completion = nested[str(n)]
        assert completion.usage.reasoning_tokens == n
        assert completion.usage.reasoning_source is TokenSource.TOKENIZER
        assert asyncio.run(_tokens(server_url, completion.reasoning)) == n  # re-counted independently
        assert completion.text.startswith("<answer>")
        assert 0 < completion.answer_tokens <= GREEDY.max_answer_tokens
        assert completion.usage.input_tokens > 0
    assert nested["32"].reasoning.startswith(nested["16"].reasoning)
    natural = nested["natural"]
    if natural.extra["censored"]:
        assert natural.extra["natural_end"] is None and natural.usage.reasoning_tokens == 32
    else:
        assert natural.usage.reasoning_tokens == natural.extra["natural_end"]


def test_nested_equals_independent_runs(server_url: str, nested: dict[str, Completion]) -> None:
    sample = generate(6, 3)[5]
    for label in ("16", "32"):
        alone = _run(server_url, sample, [Budget.parse(label)])[label]
        assert alone.reasoning == nested[label].reasoning
        assert alone.text == nested[label].text


def test_chat_splits_thinking_from_the_answer(server_url: str) -> None:
    sample = Sample(id="think", task="echo", prompt="What is 2+2? Start your reply with <think>.", target="4")
    out = _run(server_url, sample, [Budget.parse("64", Mechanism.PROMPT)])["64"]
    assert out.reasoning, "the model was asked to open with <think> and did so at temperature 0"
    assert "</think>" not in out.text and "<think>" not in out.reasoning
    assert "<answer>" in out.text
    assert out.usage.reasoning_source is TokenSource.TOKENIZER
    assert out.usage.reasoning_tokens == asyncio.run(_tokens(server_url, out.reasoning))
    assert 0 < out.usage.reasoning_tokens < out.usage.output_tokens


def test_prompt_budgets_ask_in_words_and_count_with_the_model_tokenizer(server_url: str) -> None:
    sample = generate(6, 3)[0]
    budgets = [Budget.parse("0", Mechanism.PROMPT), Budget.parse("64", Mechanism.PROMPT)]
    backend = _backend(server_url)
    none_body = backend._chat_body(request_for(sample, budgets[0], 1, GREEDY), budgets[0])
    some_body = backend._chat_body(request_for(sample, budgets[1], 1, GREEDY), budgets[1])
    asyncio.run(backend.aclose())
    assert "Do not think" in none_body["messages"][0]["content"]
    assert "thinking budget of about 64 tokens" in some_body["messages"][0]["content"]
    assert "chat_template_kwargs" not in some_body  # prompt budgets send no native control
    out = _run(server_url, sample, budgets)
    for completion in out.values():
        assert completion.usage.output_tokens > 0
        assert completion.usage.reasoning_source is TokenSource.TOKENIZER
        assert completion.usage.output_tokens <= GREEDY.natural_cap * 2 * 64 // 16 + GREEDY.max_answer_tokens
