"""Any OpenAI-compatible server: vLLM, SGLang, llama.cpp's server, llama-cpp-python's server, Ollama.

Mechanisms:
- `prompt`: the chat endpoint with the budget sentence of prompting.py in the system message;
- `native`: the chat endpoint with the server's own controls: `chat_template_kwargs.enable_thinking`
  (off for budget 0), a server-side thinking-token budget sent as an extra body field where the server
  has one (vLLM: `thinking_token_budget`; option `native_budget_field`), `reasoning_effort` for effort
  budgets; reasoning text from `reasoning_content` / `reasoning`, or split on `</think>`;
- `forced`: budget forcing over `/v1/completions` with the model's chat template (compat_forcing.py);
- `natural` (a natural budget under `forced`): no forcing, the trace stops at its first close or the cap.

Realized reasoning tokens: the API's `completion_tokens_details.reasoning_tokens` when the server reports
it (`api`); else the server's own tokenizer endpoint (`tokenizer`); else the completion's tokens split in
proportion to characters (`estimate`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from overthink.models.base import Backend, BackendError, Capabilities, GenerationRequest, parse_options
from overthink.models.http import JsonClient, Malformed, RetryPolicy
from overthink.models.loops import is_looping
from overthink.models.pricing import PriceTable
from overthink.models.prompting import chat_messages
from overthink.models.remote.forcing import LOOKAHEAD, NATURAL, RemoteForcer, RemoteFork, RemoteTrace, Segment
from overthink.models.secrets import api_key
from overthink.types import Budget, BudgetKind, Completion, Mechanism, TokenSource, Usage

TEMPLATES = {
    "chatml": (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "<|im_start|>assistant\n"
    ),
    "llama3": (
        "<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
        "{{ m.content }}<|eot_id|>{% endfor %}<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
}
PROMPT_HEADROOM = 1024


class OpenAICompatOptions(BaseModel):
    """Settings of the OpenAI-compatible backend; unknown keys are an error (a typo is not a default)."""

    model_config = ConfigDict(extra="forbid")

    base_urls: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8000/v1"])
    served_model: str | None = None  # the name the server expects in "model"; default: the model name
    api_key_env: str | None = "OPENAI_COMPAT_API_KEY"  # optional for local servers
    key_file: str | None = None
    chat_template: str = "chatml"  # "chatml", "llama3", or a Jinja template over `messages`
    think_open: str = "<think>\n"
    tokenizer: bool = True  # use the server's tokenizer endpoint when it has one
    token_prompts: bool = False  # send forced prompts as token ids (vLLM, llama.cpp's own server)
    native_budget_field: str | None = None  # e.g. "thinking_token_budget" (vLLM)
    max_context: int | None = None
    timeout: float = Field(default=600.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    price_file: str | None = None

    @field_validator("base_urls", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def render_prompt(template: str, messages: list[dict[str, str]]) -> str:
    """The chat template applied to the messages, in a sandbox (templates may come from config files)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    source = TEMPLATES.get(template, template)
    env = ImmutableSandboxedEnvironment(keep_trailing_newline=True)
    return env.from_string(source).render(messages=messages, add_generation_prompt=True)


def split_reasoning(message: dict[str, Any]) -> tuple[str, str]:
    """(reasoning, answer) from a chat message: the server's reasoning field, else split on </think>."""
    content = message.get("content") or ""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value, content
    if "</think>" in content:
        head, _, tail = content.partition("</think>")
        return head.replace("<think>", "", 1).strip("\n"), tail.lstrip("\n")
    return "", content


def _check_completion(data: Any) -> None:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Malformed("response has no choices")
    first = choices[0]
    if "text" not in first and not isinstance(first.get("message"), dict):
        raise Malformed("response choice has neither text nor message")


class OpenAICompatBackend(Backend):
    """One model on one or more OpenAI-compatible replicas."""

    def __init__(self, model: str, options: OpenAICompatOptions) -> None:
        self._model_id = model
        self.options = options
        key = api_key(options.api_key_env, options.key_file, required=False)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = JsonClient(
            options.base_urls,
            headers=headers,
            policy=RetryPolicy(max_attempts=options.max_attempts, timeout=options.timeout),
        )
        self.prices = PriceTable.load(options.price_file) if options.price_file else PriceTable({}, warn_missing=False)
        self.token_prompts = options.token_prompts
        self._tokenizer: str | None = None  # detected endpoint dialect, "" when none
        self._detect_lock = asyncio.Lock()
        self.tokenizer_calls = 0

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

    # ------------------------------------------------------------------------------ server primitives

    @property
    def served(self) -> str:
        return self.options.served_model or self._model_id

    async def complete(
        self,
        prompt: str | list[int],
        *,
        max_tokens: int,
        stop: Sequence[str],
        seed: int,
        sampling: dict[str, Any] | None = None,
    ) -> Segment:
        """One raw completion (`/completions`); `sampling` holds temperature, top_p, top_k."""
        body: dict[str, Any] = {
            "model": self.served,
            "prompt": prompt,
            "max_tokens": max(1, max_tokens),
            "stop": list(stop),
            "seed": seed,
            **(sampling or {}),
        }
        data = await self.client.post("/completions", body, validate=_check_completion)
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        text = choice.get("text")
        if not isinstance(text, str):
            raise BackendError("completion text is not a string")
        return Segment(
            text,
            str(choice.get("finish_reason") or "stop"),
            int(usage.get("completion_tokens") or 0),
            int(usage.get("prompt_tokens") or 0),
        )

    async def _detect_tokenizer(self) -> str:
        """The server's tokenizer dialect, probed once ("" when it has none).

        Under a lock, so concurrent first requests all wait for the same answer instead of some of them
        counting with estimates. A 4xx means "no such endpoint"; transient failures are retried.
        """
        async with self._detect_lock:
            if self._tokenizer is not None:
                return self._tokenizer
            found = ""
            if self.options.tokenizer:
                for dialect, path, body in (
                    ("extras", "/extras/tokenize", {"input": "a"}),
                    ("llamacpp", "/tokenize", {"content": "a"}),
                    ("vllm", "/tokenize", {"model": self.served, "prompt": "a", "add_special_tokens": False}),
                ):
                    try:
                        data = await self.client.post(path, body, root=True)
                    except BackendError:
                        continue
                    if isinstance(data.get("tokens"), list):
                        found = dialect
                        break
            self._tokenizer = found
            return found

    async def tokenize(self, text: str) -> list[int] | None:
        dialect = await self._detect_tokenizer()
        if not dialect:
            return None
        if not text:
            return []
        self.tokenizer_calls += 1
        bodies: dict[str, dict[str, Any]] = {
            "extras": {"input": text},
            "llamacpp": {"content": text, "add_special": False, "parse_special": True},
            "vllm": {"model": self.served, "prompt": text, "add_special_tokens": False},
        }
        body = bodies[dialect]
        data = await self.client.post("/extras/tokenize" if dialect == "extras" else "/tokenize", body, root=True)
        tokens = data.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise BackendError("tokenizer endpoint returned no token list")
        return [int(t) for t in tokens]

    async def detokenize(self, ids: list[int]) -> str:
        dialect = await self._detect_tokenizer()
        path = "/extras/detokenize" if dialect == "extras" else "/detokenize"
        body: dict[str, Any] = {"tokens": ids} if dialect != "vllm" else {"model": self.served, "tokens": ids}
        data = await self.client.post(path, body, root=True)
        for key in ("text", "content", "prompt"):
            if isinstance(data.get(key), str):
                return str(data[key])
        raise BackendError("detokenize endpoint returned no text")

    # ------------------------------------------------------------------------------------ generation

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
        self.require(budgets)
        out: dict[str, Completion] = {}
        forced = [b for b in budgets if b.mechanism is Mechanism.FORCED]
        if forced:
            out.update(await self._forced(request, forced))
        for budget in budgets:
            if budget.mechanism is not Mechanism.FORCED:
                out[budget.label] = await self._chat(request, budget)
        return out

    async def _forced(self, request: GenerationRequest, budgets: list[Budget]) -> dict[str, Completion]:
        sampling = request.sampling.resolve()
        messages = chat_messages(request.sample, budgets[0], request.shots)
        prompt = render_prompt(self.options.chat_template, messages) + self.options.think_open
        points = [b.tokens for b in budgets if b.tokens is not None]
        want_natural = any(b.kind is BudgetKind.NATURAL for b in budgets)
        forcer = RemoteForcer(_BoundServer(self, self._sampling(request)), sampling.max_answer_tokens)
        if points:
            trace = await forcer.run(prompt, points, request.seed, natural=want_natural)
        else:
            trace = await forcer.run(
                prompt, [], request.seed, natural=True, force_minimum=False, natural_cap=sampling.natural_cap
            )
        out = {}
        for budget in budgets:
            key = NATURAL if budget.kind is BudgetKind.NATURAL else budget.tokens
            assert key is not None
            out[budget.label] = self._forced_completion(trace, trace.forks[key])
        return out

    def _forced_completion(self, trace: RemoteTrace, fork: RemoteFork) -> Completion:
        closed = fork.finish_reason == "stop"
        output = fork.thinking_tokens + fork.answer_tokens
        return Completion(
            text="<answer>" + fork.answer + ("</answer>" if closed else ""),
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
            "messages": chat_messages(request.sample, budget, request.shots),
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
        data = await self.client.post("/chat/completions", self._chat_body(request, budget), validate=_check_completion)
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
        self._detect_lock = asyncio.Lock()


class _BoundServer:
    """The backend seen by the forcer, with one request's sampling settings bound (safe under concurrency)."""

    def __init__(self, backend: OpenAICompatBackend, sampling: dict[str, Any]) -> None:
        self.backend = backend
        self.sampling = sampling
        self.token_prompts = backend.token_prompts

    async def complete(self, prompt: str | list[int], *, max_tokens: int, stop: Sequence[str], seed: int) -> Segment:
        return await self.backend.complete(prompt, max_tokens=max_tokens, stop=stop, seed=seed, sampling=self.sampling)

    async def tokenize(self, text: str) -> list[int] | None:
        return await self.backend.tokenize(text)

    async def detokenize(self, ids: list[int]) -> str:
        return await self.backend.detokenize(ids)
