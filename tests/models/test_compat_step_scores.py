"""Step scores over `/v1/completions` log-probabilities, against a recorded llama.cpp-style server.

The stub answers every one-token request with top log-probabilities that depend on the prompt, and
tokenizes one token per character, so what is asked, what is read and where scoring stops are exact.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import httpx
import pytest

from overthink.models.capabilities import MAX_STEP_TOKENS
from overthink.models.remote.openai_compat import OpenAICompatBackend

PLACEHOLDER = "\x00S\x00"
MESSAGES = [{"role": "user", "content": f"Steps:\n{PLACEHOLDER}\nIs the last step correct?"}]


def _backend(top: dict[str, float], **options: Any) -> tuple[OpenAICompatBackend, list[str]]:
    prompts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path.endswith("/extras/tokenize"):
            return httpx.Response(200, json={"tokens": [ord(c) for c in body["input"]]})
        if request.url.path.endswith("/extras/detokenize"):
            return httpx.Response(200, json={"text": "".join(map(chr, body["tokens"]))})
        assert body["max_tokens"] == 1 and body["temperature"] == 0.0 and body["logprobs"] >= 2
        prompts.append(body["prompt"])
        return httpx.Response(200, json={
            "choices": [{"index": 0, "text": "Yes", "finish_reason": "length",
                         "logprobs": {"tokens": ["Yes"], "top_logprobs": [top]}}],
            "usage": {"prompt_tokens": len(body["prompt"]), "completion_tokens": 1},
        })

    backend = OpenAICompatBackend.from_options("tiny", base_urls=["http://llama.test/v1"], **options)
    backend.client._transport = httpx.MockTransport(handler)
    return backend, prompts


def _score(backend: OpenAICompatBackend, steps: list[str]) -> Any:
    async def go() -> Any:
        try:
            return await backend.score_steps(MESSAGES, PLACEHOLDER, steps)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_each_step_is_asked_with_the_steps_before_it_and_read_as_p_yes() -> None:
    backend, prompts = _backend({"Yes": math.log(0.6), "No": math.log(0.2), "Maybe": math.log(0.2)})
    scores = _score(backend, ["a = 1", "b = 2"])
    assert scores.probabilities == pytest.approx((0.75, 0.75))  # 0.6 / (0.6 + 0.2), over {Yes, No} only
    assert "a = 1\nb = 2\nIs the last step" in prompts[1] and "b = 2" not in prompts[0]
    assert PLACEHOLDER not in "".join(prompts)
    assert scores.tokens == sum(len(p) for p in prompts)


def test_a_word_missing_from_the_top_candidates_is_bounded_by_the_least_likely_one() -> None:
    backend, _ = _backend({"Yes": math.log(0.9), "Sure": math.log(0.05)})
    (p,) = _score(backend, ["x"]).probabilities
    assert p == pytest.approx(0.9 / (0.9 + 0.05))


def test_steps_are_clipped_and_scoring_stops_where_the_context_ends() -> None:
    backend, prompts = _backend({"Yes": -1.0, "No": -1.0}, max_context=len(MESSAGES[0]["content"]) + 700)
    long = "y" * (MAX_STEP_TOKENS * 2)
    scores = _score(backend, [long, long, long])
    assert all(prompt.count("y") <= MAX_STEP_TOKENS * len(scores.probabilities) for prompt in prompts)
    assert len(scores.probabilities) == 2  # the third clipped step would overflow the context
