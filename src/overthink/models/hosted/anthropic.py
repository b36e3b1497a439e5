"""Claude through the official `anthropic` SDK: extended thinking with token budgets or effort levels.

Budget mapping (native):
- `0`: no thinking parameter at all;
- `N` tokens: `thinking={"type": "enabled", "budget_tokens": N}` with N >= 1024 and
  `max_tokens = N + answer allowance` (N must be below max_tokens);
- `effort:LEVEL`: adaptive thinking with `output_config={"effort": LEVEL}` (newer models);
- `natural`: adaptive thinking without an effort level (the model's default behaviour), or for models
  without adaptive thinking a budget of the natural cap (at least 1024).
No temperature is ever sent: thinking requires the default of 1, and the current SDK (2.x) no longer
exposes sampling parameters on `messages.create` at all, so every Claude record is sampled at the API
default whatever `--temperature` says (the record's extra notes `temperature: "api-default"`).
Models that only accept effort (option `effort_only`, or the API saying so) refuse token budgets with a
message naming effort budgets as the fix. `prompt` budgets send the shared budget sentence without any
thinking parameter; `forced` is refused (the API has no raw-completion endpoint).

Thinking tokens: Claude 4 returns summarized thinking text, so counting the text under-counts. The count
comes from `usage.output_tokens_details.thinking_tokens` (source `api`). When the API gives only
`output_tokens`, the visible answer is estimated at 4 characters per token and the rest of the output
is attributed to thinking (source `estimate`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from pydantic import Field

from overthink.errors import UserError
from overthink.models.base import BackendError, Capabilities, GenerationRequest, parse_options
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
    import anthropic

MIN_BUDGET = 1024
EFFORT_LEVELS = ("low", "medium", "high", "xhigh", "max")


def _sdk_client(**args: Any) -> Any:
    """The official SDK's async client (imported lazily: the SDK is an optional extra)."""
    import anthropic

    return anthropic.AsyncAnthropic(**args)


class AnthropicOptions(HostedOptions):
    """Settings of the Anthropic backend (on top of every hosted backend's)."""

    api_key_env: str = Field(default="ANTHROPIC_API_KEY", description="environment variable holding the API key")
    answer_allowance: int = Field(default=1024, ge=16, description="max_tokens = thinking budget + this")
    effort_max_tokens: int = Field(default=32_000, ge=1024, description="max_tokens of effort and natural budgets")
    effort_only: bool = Field(default=False, description="the model takes effort levels instead of token budgets")
    adaptive: bool = Field(default=True,
                           description='the model supports thinking.type="adaptive" (natural and effort budgets)')


class AnthropicBackend(HostedBackend[AnthropicOptions]):
    sdk = "anthropic"

    def __init__(self, model: str, options: AnthropicOptions, *, http_client: Any = None) -> None:
        super().__init__(model, options, _sdk_client, http_client=http_client)

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        """The SDK client of the running event loop."""
        return cast("anthropic.AsyncAnthropic", self._sdk.get())

    @classmethod
    def from_options(cls, model: str, **options: object) -> AnthropicBackend:
        parsed = parse_options(AnthropicOptions, options, "anthropic")
        return cls(model, parsed)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            mechanisms=frozenset({Mechanism.NATIVE, Mechanism.PROMPT}),
            effort_levels=EFFORT_LEVELS,
            min_token_budget=MIN_BUDGET,
        )

    def unsupported_reason(self, budget: Budget) -> str | None:
        if budget.mechanism is Mechanism.FORCED:
            return "the Anthropic API has no raw-completion endpoint to force budgets on; use --mode native or prompt"
        if budget.mechanism is Mechanism.PROMPT:
            return None
        if budget.kind is BudgetKind.TOKENS:
            tokens = budget.tokens or 0
            if self.options.effort_only:
                return (
                    f"{self._model_id} takes effort levels, not token budgets; "
                    "use e.g. --budgets 0,effort:low,effort:high"
                )
            if tokens < MIN_BUDGET:
                return (
                    f"extended thinking needs budget_tokens >= {MIN_BUDGET}, got {tokens}; "
                    f"use 0 (no thinking) or a budget >= {MIN_BUDGET}"
                )
        if budget.kind is BudgetKind.EFFORT:
            if budget.value not in EFFORT_LEVELS:
                return f"unknown effort level {budget.value!r}; choose one of {', '.join(EFFORT_LEVELS)}"
            if not self.options.adaptive:
                return f"{self._model_id} has no effort levels (option adaptive=false); give token budgets >= 1024"
        return None

    def request_params(self, request: GenerationRequest) -> dict[str, Any]:
        """The exact Messages API parameters for a request (also the batch request's `params`)."""
        budget = request.budget
        system, turns = messages_for(request)
        params: dict[str, Any] = {
            "model": self._model_id,
            "system": system,
            "messages": turns,
        }
        sampling = request.sampling.resolve()
        allowance = max(self.options.answer_allowance, sampling.max_answer_tokens)
        if budget.mechanism is Mechanism.PROMPT or budget.kind is BudgetKind.NONE:
            thinking_cap = max(sampling.natural_cap, 2 * (budget.tokens or 0))
            params["max_tokens"] = allowance + (thinking_cap if budget.mechanism is Mechanism.PROMPT else 0)
        elif budget.kind is BudgetKind.TOKENS:
            tokens = int(budget.tokens or 0)
            params["thinking"] = {"type": "enabled", "budget_tokens": tokens}
            params["max_tokens"] = tokens + allowance
        elif budget.kind is BudgetKind.EFFORT:
            params["thinking"] = {"type": "adaptive"}
            params["output_config"] = {"effort": budget.value}
            params["max_tokens"] = self.options.effort_max_tokens
        elif self.options.adaptive:  # natural
            params["thinking"] = {"type": "adaptive"}
            params["max_tokens"] = self.options.effort_max_tokens
        else:
            tokens = max(MIN_BUDGET, sampling.natural_cap)
            params["thinking"] = {"type": "enabled", "budget_tokens": tokens}
            params["max_tokens"] = tokens + allowance
        return params

    def max_output_tokens(self, request: GenerationRequest) -> int:
        """The max_tokens this request would send (the runner's worst case for --max-cost/--max-tokens)."""
        return int(self.request_params(request)["max_tokens"])

    async def _create(self, params: dict[str, Any]) -> Any:
        import anthropic

        try:
            return await self.client.messages.create(**params)
        except anthropic.BadRequestError as exc:
            message = str(getattr(exc, "message", exc))
            if "budget_tokens" in message or "thinking.type" in message or "thinking type" in message:
                raise UserError(
                    f"{self._model_id} refused the thinking request ({scrub(message)[:160]}); newer models take "
                    "effort budgets (e.g. --budgets 0,effort:low,effort:high) instead of token budgets, older ones "
                    "only token budgets >= 1024 (set the option adaptive=false for them)"
                ) from None
            raise

    def parse(self, data: dict[str, Any], budget: Budget, seconds: float = 0.0) -> Completion:
        """A Completion from a Messages API response body (direct or from a batch)."""
        blocks = data.get("content")
        usage = data.get("usage")
        if not isinstance(blocks, list) or not isinstance(usage, dict):
            raise BackendError("Messages API response without content or usage")
        thinking = "".join(str(b.get("thinking", "")) for b in blocks if b.get("type") == "thinking")
        redacted = sum(1 for b in blocks if b.get("type") == "redacted_thinking")
        text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        if budget.mechanism is Mechanism.PROMPT:
            thinking, text = split_think(text)
        input_tokens = int(usage.get("input_tokens") or 0)
        output_tokens = int(usage.get("output_tokens") or 0)
        details = usage.get("output_tokens_details") or {}
        reported = details.get("thinking_tokens") if isinstance(details, dict) else None
        if isinstance(reported, int):
            reasoning, source = reported, TokenSource.API
        elif thinking or redacted:
            reasoning, source = max(0, output_tokens - estimate_tokens(text)), TokenSource.ESTIMATE
        elif budget.mechanism is Mechanism.PROMPT:
            reasoning, source = estimate_tokens(thinking), TokenSource.ESTIMATE
        else:
            reasoning, source = 0, TokenSource.API
        stop = str(data.get("stop_reason") or "")
        batch = self.queue is not None
        return Completion(
            text=text,
            reasoning=thinking,
            usage=Usage(
                input_tokens,
                output_tokens,
                reasoning,
                source,
                self.prices.cost(self._model_id, input_tokens, output_tokens, batch=batch),
            ),
            finish_reason={"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}.get(stop, stop),
            wall_time_s=seconds,
            answer_tokens=max(0, output_tokens - reasoning),
            looping=is_looping(thinking),
            total_generated=output_tokens,
            extra={
                "stop_reason": stop,
                "redacted_thinking_blocks": redacted,
                "batch": batch,
                "censored": stop == "max_tokens",
            },
        )

    # ------------------------------------------------------------------------------------------ batches

    async def _submit_batch(self, items: list[tuple[str, dict[str, Any]]]) -> str:
        requests = [{"custom_id": cid, "params": params} for cid, params in items]
        batch = await self.call(lambda: self.client.messages.batches.create(requests=requests))  # type: ignore[arg-type]
        return str(batch.id)

    async def _batch_status(self, batch_id: str) -> str:
        batch = await self.call(lambda: self.client.messages.batches.retrieve(batch_id))
        return "ended" if batch.processing_status == "ended" else "running"

    async def _batch_results(self, batch_id: str) -> dict[str, BatchOutcome]:
        async def fetch() -> dict[str, BatchOutcome]:
            outcomes: dict[str, BatchOutcome] = {}
            async for entry in await self.client.messages.batches.results(batch_id):
                result = entry.result
                if result.type == "succeeded":
                    outcomes[entry.custom_id] = BatchOutcome(response=result.message)
                else:
                    detail = getattr(getattr(result, "error", None), "error", None)
                    outcomes[entry.custom_id] = BatchOutcome(error=f"{result.type}: {scrub(str(detail or ''))[:200]}")
            return outcomes

        return await self.call(fetch)
