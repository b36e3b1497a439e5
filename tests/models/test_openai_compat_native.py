"""Native and prompt budgets of the OpenAI-compatible backend against recorded vLLM-style responses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from overthink.errors import UserError
from overthink.models.generation import GenerationConfig
from overthink.models.remote.openai_compat import OpenAICompatBackend, render_prompt, split_reasoning
from overthink.prompts.render import request_for
from overthink.types import Budget, Completion, Mechanism, Sample, TokenSource

SAMPLE = Sample(id="s", task="t", prompt="What is 2+2?", target="4")
SAMPLING = GenerationConfig(temperature=0.6, top_p=0.95, top_k=20, max_answer_tokens=32, natural_cap=256)


def _serve(message: dict[str, Any], usage: dict[str, Any], **options: Any) -> tuple[OpenAICompatBackend, list[Any]]:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, json.loads(request.content)))
        if request.url.path.endswith("/chat/completions"):
            return httpx.Response(
                200, json={"choices": [{"index": 0, "finish_reason": "stop", "message": message}], "usage": usage}
            )
        return httpx.Response(404, json={"detail": "Not Found"})  # no tokenizer endpoint

    backend = OpenAICompatBackend.from_options("qwen3", base_urls=["http://vllm.test/v1"], **options)
    backend.client._transport = httpx.MockTransport(handler)
    return backend, seen


def _generate(backend: OpenAICompatBackend, label: str, mechanism: Mechanism = Mechanism.NATIVE) -> Completion:
    async def go() -> Completion:
        try:
            return await backend.generate(request_for(SAMPLE, Budget.parse(label, mechanism), 7, SAMPLING))
        finally:
            await backend.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("0", {"chat_template_kwargs": {"enable_thinking": False}, "max_tokens": 256 + 32}),
        (
            "512",
            {"chat_template_kwargs": {"enable_thinking": True}, "thinking_token_budget": 512, "max_tokens": 512 + 32},
        ),
        (
            "effort:high",
            {"chat_template_kwargs": {"enable_thinking": True}, "reasoning_effort": "high", "max_tokens": 256 + 32},
        ),
        ("natural", {"chat_template_kwargs": {"enable_thinking": True}, "max_tokens": 256 + 32}),
    ],
)
def test_native_request_bodies(label: str, expected: dict[str, Any]) -> None:
    message = {"role": "assistant", "content": "<answer>4</answer>", "reasoning_content": "Two and two."}
    backend, seen = _serve(
        message, {"prompt_tokens": 20, "completion_tokens": 30}, native_budget_field="thinking_token_budget"
    )
    _generate(backend, label)
    chats = [body for path, body in seen if path.endswith("/chat/completions")]
    assert len(chats) == 1
    body = chats[0]
    assert {k: body[k] for k in expected} == expected
    assert (body["model"], body["seed"], body["temperature"], body["top_p"], body["top_k"]) == (
        "qwen3",
        7,
        0.6,
        0.95,
        20,
    )
    assert body["messages"][1] == {"role": "user", "content": SAMPLE.prompt}


def test_native_token_budget_needs_a_configured_server_field() -> None:
    backend, seen = _serve({"role": "assistant", "content": "x"}, {})
    reason = backend.unsupported_reason(Budget.parse("512", Mechanism.NATIVE))
    assert reason is not None and "native_budget_field" in reason
    with pytest.raises(UserError):
        _generate(backend, "512")
    assert seen == []
    assert backend.unsupported_reason(Budget.parse("effort:low", Mechanism.FORCED)) is not None


def test_reasoning_field_with_api_count_is_used_as_is() -> None:
    message = {"role": "assistant", "content": "<answer>4</answer>", "reasoning_content": "Two and two."}
    usage = {"prompt_tokens": 20, "completion_tokens": 30, "completion_tokens_details": {"reasoning_tokens": 24}}
    backend, _ = _serve(message, usage, native_budget_field="thinking_token_budget")
    out = _generate(backend, "512")
    assert (out.reasoning, out.text) == ("Two and two.", "<answer>4</answer>")
    assert out.usage.reasoning_tokens == 24 and out.usage.reasoning_source is TokenSource.API
    assert out.answer_tokens == 6


def test_think_tags_are_split_and_counted_as_an_estimate_without_a_tokenizer() -> None:
    content = "<think>\nabcdefghijklmnopqrstuvwxyz0123\n</think>\n\n<answer>4</answer>"
    backend, _ = _serve({"role": "assistant", "content": content}, {"prompt_tokens": 20, "completion_tokens": 20})
    out = _generate(backend, "64", Mechanism.PROMPT)
    assert out.reasoning == "abcdefghijklmnopqrstuvwxyz0123" and out.text == "<answer>4</answer>"
    assert out.usage.reasoning_source is TokenSource.ESTIMATE
    assert out.usage.reasoning_tokens == round(20 * 30 / (30 + len("<answer>4</answer>")))


def test_split_reasoning_and_templates() -> None:
    assert split_reasoning({"content": "a", "reasoning": "r"}) == ("r", "a")
    assert split_reasoning({"content": "no think here"}) == ("", "no think here")
    assert split_reasoning({"content": "<think>x</think>y"}) == ("x", "y")
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert render_prompt("chatml", messages) == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    )
    assert render_prompt("llama3", messages).endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    custom = "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}>"
    assert render_prompt(custom, messages) == "[system]S[user]U>"
