"""OpenAI reasoning models through the official `openai` SDK: effort levels and reasoning-token usage.

Budget mapping (native):
- `effort:LEVEL`: `reasoning_effort` (Chat Completions) or `reasoning.effort` (Responses API, option
  `api="responses"`);
- `N` tokens: mapped to an effort by budget.py's EFFORT_TABLE (the paper's: low for [1024, 4096), medium
  for [4096, 8192), high from 8192, "minimal" below 1024); the record's `extra` says
  {"mapped_effort": LEVEL}. A level the model does not offer (option `effort_levels`) is refused;
- `0`: effort "none" where the model offers it (GPT-5.1 and later), else refused: other reasoning
  models cannot switch reasoning off;
- `natural`: no effort parameter (the model's default).
`prompt` budgets send the shared budget sentence without an effort parameter; `forced` is refused.
No temperature or top_p is sent to reasoning models, which reject anything but the defaults.

Reasoning tokens come only from `usage.completion_tokens_details.reasoning_tokens` (Chat) or
`usage.output_tokens_details.reasoning_tokens` (Responses), source `api`; never from a cost figure.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import Field

from overthink.models.base import BackendError, Capabilities, GenerationRequest, parse_options
from overthink.models.budget import effort_for_tokens
from overthink.models.hosted.base import (
    HostedBackend,
    HostedOptions,
    estimate_tokens,
    messages_for,
    split_think,
)
from overthink.models.hosted.batches import BatchOutcome
from overthink.models.loops import is_looping
from overthink.models.secrets import scrub
from overthink.types import Budget, BudgetKind, Completion, Mechanism, TokenSource, Usage

if TYPE_CHECKING:
    import openai


def default_effort_levels(model: str) -> tuple[str, ...]:
    """Levels a model accepts, by family; override with the option `effort_levels`."""
    name = model.lower()
    if name.startswith(("gpt-5.1", "gpt-5.2")):
        return ("none", "low", "medium", "high")
    if name.startswith("gpt-5"):
        return ("minimal", "low", "medium", "high")
    return ("low", "medium", "high")


def _sdk_client(**args: Any) -> Any:
    """The official SDK's async client (imported lazily: the SDK is an optional extra)."""
    import openai

    return openai.AsyncOpenAI(**args)


class OpenAIOptions(HostedOptions):
    """Settings of the OpenAI backend (on top of every hosted backend's)."""

    api: Literal["chat", "responses"] = Field(default="chat", description="Chat Completions or the Responses API")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="environment variable holding the API key")
    effort_levels: list[str] | None = Field(default=None,
                                            description="effort levels the model accepts (default: by model family)")
    max_output_tokens: int = Field(default=32_000, ge=16,
                                   description="output cap of every request (reasoning + answer)")


class OpenAIBackend(HostedBackend[OpenAIOptions]):
    sdk = "openai"

    def __init__(self, model: str, options: OpenAIOptions, *, http_client: Any = None) -> None:
        super().__init__(model, options, _sdk_client, http_client=http_client)
        self.levels = tuple(options.effort_levels or default_effort_levels(model))

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client of the running event loop."""
        return cast("openai.AsyncOpenAI", self._sdk.get())

    @classmethod
    def from_options(cls, model: str, **options: object) -> OpenAIBackend:
        parsed = parse_options(OpenAIOptions, options, "openai")
        return cls(model, parsed)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(mechanisms=frozenset({Mechanism.NATIVE, Mechanism.PROMPT}), effort_levels=self.levels)

    def effort(self, budget: Budget) -> str | None:
        """The effort level a native budget is sent as (None: no effort parameter)."""
        if budget.kind is BudgetKind.EFFORT:
            return str(budget.value)
        if budget.kind is BudgetKind.NONE:
            return "none"
        if budget.kind is BudgetKind.TOKENS:
            return effort_for_tokens(int(budget.tokens or 0))
        return None

    def unsupported_reason(self, budget: Budget) -> str | None:
        if budget.mechanism is Mechanism.FORCED:
            return "the OpenAI API has no raw-completion endpoint for reasoning models; use --mode native or prompt"
        if budget.mechanism is Mechanism.PROMPT:
            return None
        level = self.effort(budget)
        if level is None or level in self.levels:
            return None
        if budget.kind is BudgetKind.NONE:
            return f"{self._model_id} cannot switch reasoning off (its levels: {', '.join(self.levels)})"
        mapped = f" (budget {budget.tokens} maps to {level!r} by the effort table)" if budget.tokens else ""
        return f"{self._model_id} has no effort level {level!r}{mapped}; its levels: {', '.join(self.levels)}"

    def request_params(self, request: GenerationRequest) -> dict[str, Any]:
        """The exact API parameters for a request (also the body of a batch line)."""
        budget = request.budget
        system, turns = messages_for(request)
        level = self.effort(budget) if budget.mechanism is Mechanism.NATIVE else None
        messages = [{"role": "developer", "content": system}, *turns]
        if self.options.api == "responses":
            params: dict[str, Any] = {
                "model": self._model_id,
                "input": messages,
                "max_output_tokens": self.options.max_output_tokens,
            }
            if level is not None:
                params["reasoning"] = {"effort": level}
            return params
        params = {
            "model": self._model_id,
            "messages": messages,
            "max_completion_tokens": self.options.max_output_tokens,
        }
        if level is not None:
            params["reasoning_effort"] = level
        return params

    def max_output_tokens(self, request: GenerationRequest) -> int:
        """The output cap every request carries (the runner's worst case for --max-cost/--max-tokens)."""
        return self.options.max_output_tokens

    async def _create(self, params: dict[str, Any]) -> Any:
        if self.options.api == "responses":
            return await self.client.responses.create(**params)
        return await self.client.chat.completions.create(**params)

    def parse(self, data: dict[str, Any], budget: Budget, seconds: float = 0.0) -> Completion:
        usage = data.get("usage")
        if not isinstance(usage, dict):
            raise BackendError("OpenAI response without usage")
        if "choices" in data:
            choice = (data.get("choices") or [{}])[0]
            text = str((choice.get("message") or {}).get("content") or "")
            finish = str(choice.get("finish_reason") or "")
            input_tokens, output_tokens = (
                int(usage.get("prompt_tokens") or 0),
                int(usage.get("completion_tokens") or 0),
            )
            details = usage.get("completion_tokens_details") or {}
            summary = ""
        else:
            text, summary = _responses_text(data)
            incomplete = (data.get("incomplete_details") or {}).get("reason")
            finish = "length" if incomplete == "max_output_tokens" else str(data.get("status") or "")
            input_tokens, output_tokens = (
                int(usage.get("input_tokens") or 0),
                int(usage.get("output_tokens") or 0),
            )
            details = usage.get("output_tokens_details") or {}
        reported = details.get("reasoning_tokens") if isinstance(details, dict) else None
        reasoning_text = summary
        if budget.mechanism is Mechanism.PROMPT:
            visible, text = split_think(text)
            reasoning_text = visible or summary
        if isinstance(reported, int) and (reported > 0 or budget.mechanism is Mechanism.NATIVE):
            reasoning, source = reported, TokenSource.API
        else:  # a prompt budget on a model without hidden reasoning: the visible think block, estimated
            reasoning, source = estimate_tokens(reasoning_text), TokenSource.ESTIMATE
        extra: dict[str, Any] = {
            "api": self.options.api,
            "batch": self.queue is not None,
            "censored": finish == "length",
        }
        if budget.mechanism is Mechanism.NATIVE:
            extra["effort"] = self.effort(budget)
            if budget.kind is BudgetKind.TOKENS:
                extra["mapped_effort"] = self.effort(budget)
        return Completion(
            text=text,
            reasoning=reasoning_text,
            usage=Usage(
                input_tokens,
                output_tokens,
                reasoning,
                source,
                self.prices.cost(self._model_id, input_tokens, output_tokens, batch=self.queue is not None),
            ),
            finish_reason=finish,
            wall_time_s=seconds,
            answer_tokens=max(0, output_tokens - reasoning),
            looping=is_looping(reasoning_text),
            total_generated=output_tokens,
            extra=extra,
        )

    # ------------------------------------------------------------------------------------------ batches

    @property
    def _endpoint(self) -> str:
        return "/v1/responses" if self.options.api == "responses" else "/v1/chat/completions"

    async def _submit_batch(self, items: list[tuple[str, dict[str, Any]]]) -> str:
        lines = [
            json.dumps({"custom_id": cid, "method": "POST", "url": self._endpoint, "body": params})
            for cid, params in items
        ]
        payload = ("\n".join(lines) + "\n").encode()
        upload = await self.call(
            lambda: self.client.files.create(file=("overthink-batch.jsonl", payload), purpose="batch")
        )
        batch = await self.call(
            lambda: self.client.batches.create(
                input_file_id=upload.id,
                endpoint=self._endpoint,  # type: ignore[arg-type]
                completion_window="24h",
            )
        )
        return str(batch.id)

    async def _batch_status(self, batch_id: str) -> str:
        batch = await self.call(lambda: self.client.batches.retrieve(batch_id))
        if batch.status == "completed":
            return "ended"
        return "failed" if batch.status in {"failed", "expired", "cancelled"} else "running"

    async def _batch_results(self, batch_id: str) -> dict[str, BatchOutcome]:
        batch = await self.call(lambda: self.client.batches.retrieve(batch_id))
        outcomes: dict[str, BatchOutcome] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await self.call(lambda f=file_id: self.client.files.content(f))  # type: ignore[misc]
            for line in content.text.splitlines():
                if line.strip():
                    outcomes.update(_batch_line(line))
        return outcomes


def _responses_text(data: dict[str, Any]) -> tuple[str, str]:
    """(answer text, reasoning summary) from a Responses API body."""
    texts, summaries = [], []
    for item in data.get("output") or []:
        if item.get("type") == "message":
            texts += [str(c.get("text", "")) for c in item.get("content") or [] if c.get("type") == "output_text"]
        elif item.get("type") == "reasoning":
            summaries += [str(s.get("text", "")) for s in item.get("summary") or []]
    return "".join(texts), "\n".join(summaries)


def _batch_line(line: str) -> dict[str, BatchOutcome]:
    try:
        entry = json.loads(line)
        cid = str(entry["custom_id"])
    except (ValueError, KeyError, TypeError):
        return {}
    response = entry.get("response") or {}
    if entry.get("error") or int(response.get("status_code") or 0) != 200:
        detail = entry.get("error") or (response.get("body") or {}).get("error")
        return {cid: BatchOutcome(error=scrub(str(detail))[:200])}
    return {cid: BatchOutcome(response=response.get("body"))}
