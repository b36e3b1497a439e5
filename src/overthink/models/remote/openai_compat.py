"""Any OpenAI-compatible server: vLLM, SGLang, llama.cpp's server, llama-cpp-python's server, Ollama.

Mechanisms:
- `prompt`: the chat endpoint with the budget sentence of the rendered prompt in the system message;
- `native`: the chat endpoint with the server's own controls: `chat_template_kwargs.enable_thinking`
  (off for budget 0), a server-side thinking-token budget sent as an extra body field where the server
  has one (vLLM: `thinking_token_budget`; option `native_budget_field`), `reasoning_effort` for effort
  budgets; reasoning text from `reasoning_content` / `reasoning`, or split on `</think>`;
- `forced`: budget forcing over `/v1/completions` with the model's chat template (forcing.py);
- `natural` (a natural budget under `forced`): no forcing, the trace stops at its first close or the cap.

Realized reasoning tokens: the API's `completion_tokens_details.reasoning_tokens` when the server reports
it (`api`); else the server's own tokenizer endpoint (`tokenizer`); else the completion's tokens split in
proportion to characters (`estimate`).

With forced budgets the backend also has the capabilities strategies use (models/capabilities.py):
k samples of one prompt (the server's prefix cache holds the shared prompt), a forced trace probed at
points with early stopping, and step scores from the top log-probabilities of `/v1/completions`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from overthink.models.base import (
    Backend,
    BackendError,
    Capabilities,
    Collected,
    GenerationRequest,
    parse_options,
    per_budget,
    per_seed,
    settle,
)
from overthink.models.capabilities import MAX_STEP_TOKENS, ForcedTrace, StepScores, StopWhen, yes_probability
from overthink.models.forcing_spec import THINK_OPEN, Fork, Trace, TracePlan, fork_key
from overthink.models.http import JsonClient
from overthink.models.loops import is_looping
from overthink.models.preflight import PREFLIGHT_TIMEOUT, verdict
from overthink.models.pricing import PriceTable
from overthink.models.remote.chat import TEMPLATES, render_prompt, split_reasoning
from overthink.models.remote.served_forcing import LOOKAHEAD, NoTokenizer, RemoteForcer
from overthink.models.remote.server import BoundServer, ServerEndpoints, check_completion
from overthink.models.retry import RetryPolicy
from overthink.models.secrets import api_key
from overthink.types import Budget, BudgetKind, Completion, Mechanism, TokenSource, Usage

__all__ = ["TEMPLATES", "OpenAICompatBackend", "OpenAICompatOptions", "render_prompt", "split_reasoning"]

PROMPT_HEADROOM = 1024
TOP_LOGPROBS = 20  # candidates read for a step score; a missing Yes or No is bounded by the last of them


class OpenAICompatOptions(BaseModel):
    """Settings of the OpenAI-compatible backend; unknown keys are an error (a typo is not a default)."""

    model_config = ConfigDict(extra="forbid")

    base_urls: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8000/v1"],
                                 description="server URL(s) ending in /v1; several are replicas used round-robin")
    served_model: str | None = Field(default=None, description="the name the server expects (default: --model)")
    api_key_env: str | None = Field(default="OPENAI_COMPAT_API_KEY",
                                    description="environment variable holding the key (optional for local servers)")
    key_file: str | None = Field(default=None, description="file whose first line is the key (instead of the env)")
    chat_template: str = Field(default="chatml", description='"chatml", "llama3", or a Jinja template over messages')
    think_open: str = Field(default=THINK_OPEN, description="text that opens thinking after the assistant header")
    tokenizer: bool = Field(default=True, description="count tokens with the server's tokenizer endpoint")
    token_prompts: bool = Field(default=False,
                                description="send forced prompts as token ids (vLLM, llama.cpp's own server)")
    native_budget_field: str | None = Field(
        default=None, description='body field of a native thinking-token budget (vLLM: "thinking_token_budget")')
    max_context: int | None = Field(default=None, description="the model's context window, to refuse budgets early")
    timeout: float = Field(default=600.0, gt=0, description="seconds per request")
    max_attempts: int = Field(default=6, ge=1, description="HTTP attempts per request "
                              "within one run (retries with backoff) before the item is stored as an "
                              "error; not --max-attempts, which counts an item's stored failures over re-runs")
    price_file: str | None = Field(default=None, description="TOML/JSON price table for --max-cost")
    server_sampling: dict[str, Any] = Field(
        default_factory=lambda: {"repeat_penalty": 1.0, "min_p": 0.0},
        description="server-specific sampling fields sent with the raw completions of forced budgets; the "
                    "default switches off llama.cpp's repeat penalty (1.1 in llama-cpp-python) and min-p "
                    "(0.05), which the embedded engine does not apply, so both force alike",
    )

    @field_validator("base_urls", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class OpenAICompatBackend(ServerEndpoints, Backend):
    """One model on one or more OpenAI-compatible replicas."""

    def __init__(self, model: str, options: OpenAICompatOptions) -> None:
        self._model_id = model
        self.options = options
        key = api_key(options.api_key_env, options.key_file, required=False)
        self.has_key = key is not None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        policy = RetryPolicy(max_attempts=options.max_attempts, timeout=options.timeout)
        super().__init__(JsonClient(options.base_urls, headers=headers, policy=policy),
                         options.served_model or model, tokenizer=options.tokenizer,
                         token_prompts=options.token_prompts)
        self.prices = PriceTable.load(options.price_file) if options.price_file else PriceTable({}, warn_missing=False)

    @classmethod
    def from_options(cls, model: str, **options: object) -> OpenAICompatBackend:
        parsed = parse_options(OpenAICompatOptions, options, "openai-compat")
        return cls(model, parsed)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            mechanisms=frozenset({Mechanism.FORCED, Mechanism.PROMPT, Mechanism.NATIVE}),
            nested=True,
            max_context=self.options.max_context,
            effort_levels=("low", "medium", "high"),
        )

    def unsupported_reason(self, budget: Budget) -> str | None:
        if budget.mechanism is Mechanism.FORCED and budget.kind is BudgetKind.EFFORT:
            return "forcing counts tokens; effort levels need --mode native (or prompt)"
        if (
            budget.mechanism is Mechanism.NATIVE
            and budget.kind is BudgetKind.TOKENS
            and not self.options.native_budget_field
        ):
            return (
                "this server has no native thinking-token budget configured; set the option "
                "native_budget_field (vLLM: thinking_token_budget) or use --mode forced or prompt"
            )
        tokens = budget.tokens or 0
        if self.options.max_context and tokens + PROMPT_HEADROOM > self.options.max_context:
            return (
                f"budget {tokens} does not fit the context of {self.options.max_context} tokens "
                f"(leave {PROMPT_HEADROOM} for the prompt)"
            )
        return None

    async def preflight(self, budgets: Sequence[Budget]) -> str | None:
        """One 1-token request to every replica, on the endpoint the sweep will use (raw completions for
        forced budgets, chat otherwise): a rejected key, an unknown model or a server that is not there
        fails here, before the store exists. Returns the warnings of inconclusive answers (busy servers)."""
        if any(b.mechanism is Mechanism.FORCED for b in budgets):
            path, body = "/completions", {"model": self.served, "prompt": "Hi", "max_tokens": 1}
        else:
            path = "/chat/completions"
            body = {"model": self.served, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
        if self.has_key:
            hint = f"check the key in {self.options.key_file or self.options.api_key_env}"
        else:
            hint = f"no key was sent: set {self.options.api_key_env or 'api_key_env'} or the option key_file"
        warnings = []
        for url in self.client.pool.urls:
            try:
                await self.client.probe(url, path, body, timeout=min(PREFLIGHT_TIMEOUT, self.options.timeout))
            except Exception as exc:  # classified by `verdict`: raises PreflightError or gives a warning
                warnings.append(verdict(exc, where=f"openai-compat {self.model_id} at {url}", model=self.served,
                                        key_hint=hint))
        return "; ".join(warnings) or None

    @staticmethod
    def _sampling(request: GenerationRequest) -> dict[str, Any]:
        s = request.sampling.resolve()
        fields: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p}
        if s.top_k > 0:
            fields["top_k"] = s.top_k
        return fields

    def max_output_tokens(self, request: GenerationRequest) -> int:
        """Most tokens one budget's request can generate (the runner's worst case for spending caps)."""
        budget, sampling = request.budget, request.sampling.resolve()
        if budget.mechanism is Mechanism.FORCED:
            thinking = budget.tokens if budget.tokens is not None else sampling.natural_cap
            return thinking + LOOKAHEAD + sampling.max_answer_tokens
        return int(self._chat_body(request, budget)["max_tokens"])

    def estimate_cost(self, input_tokens: int, output_tokens: int) -> float:
        return self.prices.cost(self.served, input_tokens, output_tokens)

    async def generate(self, request: GenerationRequest) -> Completion:
        results = await self.generate_nested(request, [request.budget])
        return results[request.budget.label]

    async def generate_nested(self, request: GenerationRequest, budgets: Sequence[Budget]) -> dict[str, Completion]:
        """Forced budgets off one trace, chat budgets one request each; a failed request costs only the
        budgets that needed it (`PartialFailure` carries the rest)."""
        self.require(budgets)
        collected = Collected()
        forced = [b for b in budgets if b.mechanism is Mechanism.FORCED]
        if forced:
            await collected.part(forced, self._forced(request, forced))
        chat = [b for b in budgets if b.mechanism is not Mechanism.FORCED]
        if chat:
            await collected.part(chat, per_budget(chat, lambda budget: self._chat(request, budget)))
        return collected.settle()

    def _forcer(self, request: GenerationRequest) -> RemoteForcer:
        # forcing decodes on the server what the embedded engine decodes locally: no server-side extras
        server = BoundServer(self, {**self.options.server_sampling, **self._sampling(request)})
        return RemoteForcer(server, request.sampling.resolve().max_answer_tokens)

    def _forced_prompt(self, request: GenerationRequest) -> str:
        return render_prompt(self.options.chat_template, request.chat()) + self.options.think_open

    async def _forced(self, request: GenerationRequest, budgets: list[Budget]) -> dict[str, Completion]:
        plan = TracePlan.of(budgets, request.sampling.resolve().natural_cap)
        prompt = self._forced_prompt(request.at(budgets[0]))
        trace = await self._forcer(request).run(prompt, plan.points, request.seed, natural=plan.natural,
                                                force_minimum=plan.force_minimum, natural_cap=plan.natural_cap)
        failures = {b.label: trace.failed[fork_key(b)] for b in budgets if fork_key(b) in trace.failed}
        made = {b.label: self._forced_completion(trace, trace.forks[fork_key(b)]) for b in budgets
                if b.label not in failures}
        return settle(made, failures)

    # -------------------------------------------------------------------------------- capabilities

    async def sample_k(
        self, request: GenerationRequest, budgets: Sequence[Budget], seeds: Sequence[int]
    ) -> list[dict[str, Completion]]:
        """One nested trace per seed, one after the other: the server's prefix cache holds the prompt."""
        self.require(budgets)
        return await per_seed(budgets, seeds, lambda seed: self.generate_nested(request.reseeded(seed), budgets))

    async def forced_trace(
        self, request: GenerationRequest, points: Sequence[int], stop_when: StopWhen | None = None
    ) -> ForcedTrace:
        """A trace generated in pieces ending at each point, answered there (needs the tokenizer)."""

        def stop(fork: Fork) -> bool:
            return stop_when is not None and stop_when(fork.budget, _answer_text(fork))

        try:
            trace = await self._forcer(request).run_probed(self._forced_prompt(request), points, request.seed, stop)
        except NoTokenizer as exc:
            raise BackendError(str(exc)) from None
        if trace.failed and not trace.forks:  # nothing came back: the failure is the whole trace's
            raise next(iter(trace.failed.values()))
        return ForcedTrace({at: self._forced_completion(trace, f) for at, f in trace.forks.items()}, trace.stopped_at,
                           failed=dict(trace.failed))

    async def score_steps(
        self, messages: list[dict[str, str]], placeholder: str, steps: Sequence[str]
    ) -> StepScores:
        """P(Yes) over {Yes, No} after each step, from the first answer token's top log-probabilities."""
        head, _, tail = render_prompt(self.options.chat_template, messages).partition(placeholder)
        limit = self.options.max_context  # unknown: the server refuses what does not fit (an error record)
        used = await self._count(head) + await self._count(tail) + 1 if limit else 0
        scores: list[float] = []
        sent = 0
        body = ""
        for index, step in enumerate(steps):
            piece = await self._clip(("\n" if index else "") + step)
            if limit:
                used += await self._count(piece)
                if used > limit:
                    break  # the rest does not fit the context: score what fits, as the embedded engine does
            body += piece
            top, prompt_tokens = await self.top_logprobs(head + body + tail, TOP_LOGPROBS)
            sent += prompt_tokens
            scores.append(_yes_probability(top))
        return StepScores(tuple(scores), sent, generated=len(scores))  # each request samples max_tokens=1

    async def _count(self, text: str) -> int:
        ids = await self.tokenize(text)
        return len(ids) if ids is not None else -(-len(text) // 3)  # no tokenizer: a pessimistic estimate

    async def _clip(self, text: str) -> str:
        """The first MAX_STEP_TOKENS tokens of a step (by the server's tokenizer; else by characters)."""
        ids = await self.tokenize(text)
        if ids is None:
            return text[: MAX_STEP_TOKENS * 4]
        return text if len(ids) <= MAX_STEP_TOKENS else await self.detokenize(ids[:MAX_STEP_TOKENS])

    def _forced_completion(self, trace: Trace, fork: Fork) -> Completion:
        output = fork.thinking_tokens + fork.answer_tokens
        return Completion(
            text=_answer_text(fork),
            reasoning=fork.thinking,
            usage=Usage(
                input_tokens=trace.prompt_tokens,
                output_tokens=output,
                reasoning_tokens=fork.thinking_tokens,
                reasoning_source=TokenSource.TOKENIZER if trace.exact else TokenSource.ESTIMATE,
                cost_usd=self.prices.cost(self.served, trace.prompt_tokens, output),
            ),
            finish_reason=fork.finish_reason,
            wall_time_s=fork.wall_time_s,
            wait_insertions=fork.wait_insertions,
            answer_tokens=fork.answer_tokens,
            looping=is_looping(fork.thinking),
            total_generated=fork.generated,
            extra={
                "natural_end": trace.natural_end,
                "censored": fork.censored,
                "token_prompts": self.token_prompts,
            },
        )

    def _chat_body(self, request: GenerationRequest, budget: Budget) -> dict[str, Any]:
        sampling = request.sampling.resolve()
        tokens = budget.tokens
        thinking_cap = max(sampling.natural_cap, 2 * tokens if tokens else 0)
        body: dict[str, Any] = {
            "model": self.served,
            "messages": request.prompt.chat(budget),
            "max_tokens": thinking_cap + sampling.max_answer_tokens,
            "seed": request.seed & 0x7FFFFFFF,
            **self._sampling(request),
        }
        if budget.mechanism is Mechanism.NATIVE:
            body["chat_template_kwargs"] = {"enable_thinking": budget.kind is not BudgetKind.NONE}
            if budget.kind is BudgetKind.TOKENS and self.options.native_budget_field:
                body[self.options.native_budget_field] = tokens
                body["max_tokens"] = int(tokens or 0) + sampling.max_answer_tokens
            if budget.kind is BudgetKind.EFFORT:
                body["reasoning_effort"] = budget.value
        return body

    async def _chat(self, request: GenerationRequest, budget: Budget) -> Completion:
        started = time.perf_counter()
        data = await self.client.post("/chat/completions", self._chat_body(request, budget), validate=check_completion)
        choice = data["choices"][0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise BackendError("chat response has no message")
        reasoning, answer = split_reasoning(message)
        usage = data.get("usage") or {}
        completion_tokens = int(usage.get("completion_tokens") or 0)
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        details = usage.get("completion_tokens_details") or {}
        if isinstance(details, dict) and isinstance(details.get("reasoning_tokens"), int) and reasoning:
            thinking, source = int(details["reasoning_tokens"]), TokenSource.API
        else:
            ids = await self.tokenize(reasoning) if reasoning else []
            if ids is not None:
                thinking, source = len(ids), TokenSource.TOKENIZER
            else:
                share = len(reasoning) / max(1, len(reasoning) + len(answer))
                thinking, source = round(completion_tokens * share), TokenSource.ESTIMATE
        return Completion(
            text=answer,
            reasoning=reasoning,
            usage=Usage(
                prompt_tokens,
                completion_tokens,
                thinking,
                source,
                self.prices.cost(self.served, prompt_tokens, completion_tokens),
            ),
            finish_reason=str(choice.get("finish_reason") or "stop"),
            wall_time_s=time.perf_counter() - started,
            answer_tokens=max(0, completion_tokens - thinking),
            looping=is_looping(reasoning),
            total_generated=completion_tokens,
            extra={"endpoint": "chat", "censored": choice.get("finish_reason") == "length"},
        )

    async def aclose(self) -> None:
        """Close connections; the backend stays usable (the runner reuses it across tasks and loops)."""
        await self.client.aclose()
        self.reset_connections()


def _answer_text(fork: Fork) -> str:
    """The answer as a record holds it: the tag, the text, and the closing tag when the model wrote it."""
    return "<answer>" + fork.answer + ("</answer>" if fork.finish_reason == "stop" else "")


def _yes_probability(top: dict[str, float]) -> float:
    """P(Yes) over {Yes, No}; a word missing from the top candidates is bounded by the least likely one."""
    floor = min(top.values()) if top else 0.0

    def best(word: str) -> float:
        found = [lp for token, lp in top.items() if token.strip() == word]
        return max(found) if found else floor

    return yes_probability(best("Yes"), best("No"))
