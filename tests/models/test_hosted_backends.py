"""Anthropic and OpenAI backends through their official SDKs against recorded HTTP responses.

The SDK versions in use send requests through `httpx2`, which respx does not intercept, so the
recorded responses are served by an `httpx2.MockTransport` that also keeps every request body: the
tests assert the exact body each budget produces and how each response's usage is read.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from overthink.errors import UserError
from overthink.models.base import BackendError
from overthink.models.generation import GenerationConfig
from overthink.models.hosted.anthropic import AnthropicBackend, AnthropicOptions
from overthink.models.hosted.openai import OpenAIBackend, OpenAIOptions
from overthink.prompts.render import NO_THINKING_INSTRUCTION, request_for, system_prompt
from overthink.types import Budget, Completion, Mechanism, Sample, TokenSource

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

SAMPLE = Sample(id="s1", task="t", prompt="What is 2+2?", target="4")
SAMPLING = GenerationConfig(temperature=0.6, max_answer_tokens=48, natural_cap=2048)
Handler = Callable[[httpx2.Request], httpx2.Response]


class Recorder:
    """A mock transport that answers from a handler and keeps (method, path, json body) of each request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body: Any = None
        if request.method == "POST" and request.content:
            try:
                body = json.loads(request.content)
            except ValueError:  # a multipart file upload
                body = request.content
        self.requests.append((request.method, request.url.path, body))
        return self.handler(request)

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))


def claude_message(
    text: str = "<answer>4</answer>",
    thinking: str | None = "Two and two.",
    output: int = 1500,
    thinking_tokens: int | None = 1400,
    stop: str = "end_turn",
) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if thinking is not None:
        content.append({"type": "thinking", "thinking": thinking, "signature": "sig"})
    content.append({"type": "text", "text": text})
    usage: dict[str, Any] = {"input_tokens": 40, "output_tokens": output}
    if thinking_tokens is not None:
        usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def _anthropic(recorder: Recorder, model: str = "claude-sonnet-4-5", **options: Any) -> AnthropicBackend:
    return AnthropicBackend(model, AnthropicOptions(**options), http_client=recorder.client())


def _generate(backend: Any, label: str, mechanism: Mechanism = Mechanism.NATIVE) -> Completion:
    async def go() -> Completion:
        try:
            result: Completion = await backend.generate(
                request_for(SAMPLE, Budget.parse(label, mechanism), 5, SAMPLING)
            )
            return result
        finally:
            await backend.aclose()

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")


NATIVE_SYSTEM = NO_THINKING_INSTRUCTION


@pytest.mark.parametrize(
    ("label", "mechanism", "expected"),
    [
        ("0", Mechanism.NATIVE, {"max_tokens": 1024}),
        ("2048", Mechanism.NATIVE, {"max_tokens": 3072, "thinking": {"type": "enabled", "budget_tokens": 2048}}),
        ("1024", Mechanism.NATIVE, {"max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024}}),
        (
            "effort:low",
            Mechanism.NATIVE,
            {"max_tokens": 32000, "thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}},
        ),
        ("natural", Mechanism.NATIVE, {"max_tokens": 32000, "thinking": {"type": "adaptive"}}),
        ("1024", Mechanism.PROMPT, {"max_tokens": 1024 + 2048}),
    ],
)
def test_anthropic_request_body_per_budget(label: str, mechanism: Mechanism, expected: dict[str, Any]) -> None:
    recorder = Recorder(lambda _: httpx2.Response(200, json=claude_message()))
    _generate(_anthropic(recorder), label, mechanism)
    [(method, path, body)] = recorder.requests
    budget = Budget.parse(label, mechanism)
    system = system_prompt(SAMPLE, budget) if mechanism is Mechanism.PROMPT else NATIVE_SYSTEM
    assert (method, path) == ("POST", "/v1/messages")
    assert body == {
        "model": "claude-sonnet-4-5",
        "system": system,
        "messages": [{"role": "user", "content": SAMPLE.prompt}],
        **expected,
    }


def test_anthropic_usage_thinking_tokens_come_from_the_api() -> None:
    recorder = Recorder(lambda _: httpx2.Response(200, json=claude_message()))
    out = _generate(_anthropic(recorder), "2048")
    assert out.usage.reasoning_tokens == 1400 and out.usage.reasoning_source is TokenSource.API
    assert out.reasoning == "Two and two." and out.text == "<answer>4</answer>"
    assert (out.usage.input_tokens, out.usage.output_tokens, out.answer_tokens) == (40, 1500, 100)
    assert out.usage.cost_usd == pytest.approx((40 * 3.0 + 1500 * 15.0) / 1e6)
    assert out.finish_reason == "stop"


def test_anthropic_without_thinking_details_estimates_and_says_so() -> None:
    answer = "<answer>4</answer> because two and two make four."
    recorder = Recorder(lambda _: httpx2.Response(200, json=claude_message(text=answer, thinking_tokens=None)))
    out = _generate(_anthropic(recorder), "2048")
    assert out.usage.reasoning_source is TokenSource.ESTIMATE
    assert out.usage.reasoning_tokens == 1500 - math.ceil(len(answer) / 4)


def test_anthropic_prompt_budget_splits_visible_thinking() -> None:
    text = "<think>\nTwo plus two.\n</think>\n<answer>4</answer>"
    recorder = Recorder(
        lambda _: httpx2.Response(200, json=claude_message(text=text, thinking=None, output=20, thinking_tokens=None))
    )
    out = _generate(_anthropic(recorder), "1024", Mechanism.PROMPT)
    assert out.reasoning == "Two plus two." and out.text == "<answer>4</answer>"
    # output tokens are exact; the visible answer is estimated at 4 characters a token, thinking is the rest
    assert out.usage.reasoning_source is TokenSource.ESTIMATE
    assert out.usage.reasoning_tokens == 20 - math.ceil(len("<answer>4</answer>") / 4)


@pytest.mark.parametrize(
    ("label", "mechanism", "options", "needle"),
    [
        ("512", Mechanism.NATIVE, {}, ">= 1024"),
        ("1", Mechanism.NATIVE, {}, ">= 1024"),
        ("256", Mechanism.FORCED, {}, "raw-completion"),
        ("4096", Mechanism.NATIVE, {"effort_only": True}, "effort"),
        ("effort:extreme", Mechanism.NATIVE, {}, "unknown effort level"),
    ],
)
def test_anthropic_refuses_impossible_budgets_before_any_request(
    label: str, mechanism: Mechanism, options: dict[str, Any], needle: str
) -> None:
    recorder = Recorder(lambda _: httpx2.Response(200, json=claude_message()))
    backend = _anthropic(recorder, **options)
    reason = backend.unsupported_reason(Budget.parse(label, mechanism))
    assert reason is not None and needle in reason
    with pytest.raises(UserError):
        _generate(backend, label, mechanism)
    assert recorder.requests == []


def test_anthropic_api_refusing_token_budgets_is_a_clear_user_error() -> None:
    error = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "thinking.type.enabled is not supported for this model"},
    }
    recorder = Recorder(lambda _: httpx2.Response(400, json=error))
    with pytest.raises(UserError, match="effort"):
        _generate(_anthropic(recorder, model="claude-future-1"), "2048")
    assert len(recorder.requests) == 1  # a refusal is not retried


# --------------------------------------------------------------------------------------------- OpenAI


def chat_response(reasoning: int | None = 640, completion: int = 700) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": 30,
        "completion_tokens": completion,
        "total_tokens": 30 + completion,
        "cost": 0.0123,
    }  # a proxy's cost figure: must never be read as tokens
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "o3",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "<answer>4</answer>"}}
        ],
        "usage": usage,
    }


def responses_response() -> dict[str, Any]:
    return {
        "id": "r1",
        "object": "response",
        "created_at": 1,
        "model": "gpt-5",
        "status": "completed",
        "output": [
            {"type": "reasoning", "id": "rs1", "summary": [{"type": "summary_text", "text": "Adding."}]},
            {
                "type": "message",
                "id": "m1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "<answer>4</answer>", "annotations": []}],
            },
        ],
        "usage": {
            "input_tokens": 30,
            "output_tokens": 500,
            "total_tokens": 530,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 448},
        },
    }


def _openai(recorder: Recorder, model: str = "o3", **options: Any) -> OpenAIBackend:
    return OpenAIBackend(model, OpenAIOptions(**options), http_client=recorder.client())


def _messages(label: str, mechanism: Mechanism) -> list[dict[str, str]]:
    budget = Budget.parse(label, mechanism)
    system = system_prompt(SAMPLE, budget) if mechanism is Mechanism.PROMPT else NATIVE_SYSTEM
    return [{"role": "developer", "content": system}, {"role": "user", "content": SAMPLE.prompt}]


@pytest.mark.parametrize(
    ("model", "label", "mechanism", "extra", "mapped"),
    [
        ("o3", "effort:high", Mechanism.NATIVE, {"reasoning_effort": "high"}, None),
        ("o3", "5000", Mechanism.NATIVE, {"reasoning_effort": "medium"}, "medium"),
        ("o3", "1024", Mechanism.NATIVE, {"reasoning_effort": "low"}, "low"),
        ("o3", "8192", Mechanism.NATIVE, {"reasoning_effort": "high"}, "high"),
        ("gpt-5", "500", Mechanism.NATIVE, {"reasoning_effort": "minimal"}, "minimal"),
        ("gpt-5.1", "0", Mechanism.NATIVE, {"reasoning_effort": "none"}, None),
        ("o3", "natural", Mechanism.NATIVE, {}, None),
        ("o3", "2048", Mechanism.PROMPT, {}, None),
    ],
)
def test_openai_chat_request_body_per_budget(
    model: str, label: str, mechanism: Mechanism, extra: dict[str, Any], mapped: str | None
) -> None:
    recorder = Recorder(lambda _: httpx2.Response(200, json=chat_response()))
    out = _generate(_openai(recorder, model=model), label, mechanism)
    [(method, path, body)] = recorder.requests
    assert (method, path) == ("POST", "/v1/chat/completions")
    assert body == {"model": model, "messages": _messages(label, mechanism), "max_completion_tokens": 32000, **extra}
    assert out.extra.get("mapped_effort") == mapped


def test_openai_responses_api_body_and_usage() -> None:
    recorder = Recorder(lambda _: httpx2.Response(200, json=responses_response()))
    out = _generate(_openai(recorder, model="gpt-5", api="responses"), "4096")
    [(_, path, body)] = recorder.requests
    assert path == "/v1/responses"
    assert body == {
        "model": "gpt-5",
        "input": _messages("4096", Mechanism.NATIVE),
        "max_output_tokens": 32000,
        "reasoning": {"effort": "medium"},
    }
    assert out.usage.reasoning_tokens == 448 and out.usage.reasoning_source is TokenSource.API
    assert out.text == "<answer>4</answer>" and out.reasoning == "Adding."
    assert out.extra["mapped_effort"] == "medium"
    assert out.usage.cost_usd == pytest.approx((30 * 1.25 + 500 * 10.0) / 1e6)


def test_openai_reasoning_tokens_come_from_usage_details_never_cost() -> None:
    recorder = Recorder(lambda _: httpx2.Response(200, json=chat_response(reasoning=640)))
    out = _generate(_openai(recorder), "effort:low")
    assert out.usage.reasoning_tokens == 640 and out.usage.reasoning_source is TokenSource.API
    assert (out.usage.input_tokens, out.usage.output_tokens, out.answer_tokens) == (30, 700, 60)


@pytest.mark.parametrize(
    ("model", "label", "needle"),
    [("o3", "0", "cannot switch reasoning off"), ("o3", "500", "'minimal'"), ("o3", "effort:max", "'max'")],
)
def test_openai_refuses_levels_the_model_lacks(model: str, label: str, needle: str) -> None:
    recorder = Recorder(lambda _: httpx2.Response(200, json=chat_response()))
    backend = _openai(recorder, model=model)
    reason = backend.unsupported_reason(Budget.parse(label, Mechanism.NATIVE))
    assert reason is not None and needle in reason
    with pytest.raises(UserError):
        _generate(backend, label)
    assert recorder.requests == []


# -------------------------------------------------------------------------------------------- batches


class AnthropicBatchServer:
    """Message Batches: create, retrieve (in progress once, then ended), results as JSONL."""

    def __init__(self) -> None:
        self.batches: dict[str, list[dict[str, Any]]] = {}
        self.polls = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v1/messages/batches":
            batch_id = f"msgbatch_{len(self.batches) + 1}"
            self.batches[batch_id] = json.loads(request.content)["requests"]
            return httpx2.Response(200, json=self._batch(batch_id, "in_progress"))
        batch_id = path.split("/")[4]
        if path.endswith("/results"):
            lines = []
            for item in self.batches[batch_id]:
                if "fail" in item["params"]["messages"][0]["content"]:
                    result = {
                        "type": "errored",
                        "error": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
                    }
                else:
                    result = {"type": "succeeded", "message": claude_message()}
                lines.append(json.dumps({"custom_id": item["custom_id"], "result": result}))
            return httpx2.Response(200, content="\n".join(lines).encode())
        self.polls += 1
        return httpx2.Response(200, json=self._batch(batch_id, "ended" if self.polls > 1 else "in_progress"))

    @staticmethod
    def _batch(batch_id: str, status: str) -> dict[str, Any]:
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "created_at": "2026-01-01T00:00:00Z",
            "expires_at": "2026-01-02T00:00:00Z",
            "ended_at": None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"https://api.anthropic.com/v1/messages/batches/{batch_id}/results"
            if status == "ended"
            else None,
        }


def _batch_run(backend: Any, prompts: list[str]) -> list[Completion | BaseException]:
    async def go() -> list[Completion | BaseException]:
        try:
            requests = [
                request_for(
                    Sample(id=p, task="t", prompt=p, target="4"), Budget.parse("2048", Mechanism.NATIVE), 1, SAMPLING
                )
                for p in prompts
            ]
            return list(await asyncio.gather(*(backend.generate(r) for r in requests), return_exceptions=True))
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_anthropic_batch_submits_once_and_resumes_without_resubmitting(tmp_path: Path) -> None:
    server = AnthropicBatchServer()
    state = tmp_path / "store.db.batches.json"
    options: dict[str, Any] = {"batch": True, "batch_state": str(state), "poll_interval": 0.01, "batch_window": 0.05}
    prompts = ["What is 2+2?", "What is 1+3?", "please fail"]
    first = _batch_run(_anthropic(Recorder(server), **options), prompts)
    assert len(server.batches) == 1 and len(server.batches["msgbatch_1"]) == 3
    assert [isinstance(r, Completion) for r in first] == [True, True, False]
    assert isinstance(first[2], BackendError)
    ok = first[0]
    assert isinstance(ok, Completion) and ok.extra["batch"] is True
    assert ok.usage.cost_usd == pytest.approx((40 * 3.0 + 1500 * 15.0) / 1e6 * 0.5)
    saved = json.loads(state.read_text())["requests"]
    assert sorted(saved.values()) == ["msgbatch_1", "msgbatch_1"]  # the failed request was forgotten

    # a restart: a new backend reads the side file; finished requests are fetched, not resubmitted
    again = _batch_run(_anthropic(Recorder(server), **options), prompts[:2])
    assert len(server.batches) == 1
    assert all(isinstance(r, Completion) for r in again)
    # the failed request goes into a new batch on its own
    _batch_run(_anthropic(Recorder(server), **options), prompts[2:])
    assert len(server.batches) == 2 and len(server.batches["msgbatch_2"]) == 1


class OpenAIBatchServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.created = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v1/files":
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = request.content
            return httpx2.Response(
                200,
                json={
                    "id": file_id,
                    "object": "file",
                    "bytes": 1,
                    "created_at": 1,
                    "filename": "b.jsonl",
                    "purpose": "batch",
                    "status": "processed",
                },
            )
        if request.method == "POST" and path == "/v1/batches":
            self.created += 1
            return httpx2.Response(200, json=self._batch("in_progress"))
        if path.startswith("/v1/batches/"):
            return httpx2.Response(200, json=self._batch("completed"))
        if path == "/v1/files/file-out/content":
            raw = next(iter(self.files.values())).decode()
            body_start = raw.index(b"custom_id".decode())  # the multipart body holds the JSONL upload
            lines = [
                json.loads(line)
                for line in raw[raw.rfind("\n", 0, body_start) + 1 :].splitlines()
                if line.startswith("{")
            ]
            out = [
                json.dumps(
                    {
                        "id": "r",
                        "custom_id": line["custom_id"],
                        "error": None,
                        "response": {"status_code": 200, "request_id": "q", "body": chat_response()},
                    }
                )
                for line in lines
            ]
            return httpx2.Response(200, content="\n".join(out).encode())
        return httpx2.Response(404, json={"error": {"message": "not found"}})

    @staticmethod
    def _batch(status: str) -> dict[str, Any]:
        return {
            "id": "batch_1",
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "created_at": 1,
            "input_file_id": "file-1",
            "status": status,
            "output_file_id": "file-out" if status == "completed" else None,
            "error_file_id": None,
        }


def test_openai_batch_uploads_jsonl_and_resumes(tmp_path: Path) -> None:
    server = OpenAIBatchServer()
    options: dict[str, Any] = {
        "batch": True,
        "batch_state": str(tmp_path / "b.json"),
        "poll_interval": 0.01,
        "batch_window": 0.05,
    }
    results = _batch_run(_openai(Recorder(server), **options), ["a?", "b?"])
    assert server.created == 1 and all(isinstance(r, Completion) for r in results)
    upload = server.files["file-1"].decode()
    assert upload.count('"url": "/v1/chat/completions"') == 2 and '"reasoning_effort": "low"' in upload
    again = _batch_run(_openai(Recorder(server), **options), ["a?", "b?"])
    assert server.created == 1 and all(isinstance(r, Completion) for r in again)


def test_anthropic_batch_mode_puts_every_budget_of_a_group_in_one_batch(tmp_path: Path) -> None:
    server = AnthropicBatchServer()
    options: dict[str, Any] = {
        "batch": True,
        "batch_state": str(tmp_path / "s.json"),
        "poll_interval": 0.01,
        "batch_window": 0.05,
    }
    backend = _anthropic(Recorder(server), **options)
    budgets = [Budget.parse(b, Mechanism.NATIVE) for b in ("0", "1024", "4096")]

    async def go() -> dict[str, Completion]:
        try:
            return await backend.generate_nested(request_for(SAMPLE, budgets[0], 1, SAMPLING), budgets)
        finally:
            await backend.aclose()

    out = asyncio.run(go())
    assert set(out) == {"0", "1024", "4096"} and len(server.batches) == 1
    thinking = [item["params"].get("thinking") for item in server.batches["msgbatch_1"]]
    assert sorted(str(t) for t in thinking) == sorted(
        str(t) for t in (None, {"type": "enabled", "budget_tokens": 1024}, {"type": "enabled", "budget_tokens": 4096})
    )
