"""The embedded backend: llama-cpp-python on a local GGUF, with budget forcing and nested budgets.

The model is an ordinary instruct model, so thinking is elicited by the chat template: the assistant
turn opens with `<think>` and the system prompt asks for `<think>…</think><answer>…</answer>`. Token
budgets are imposed by forcing (see forcing.py); `prompt` budgets only ask, and the realized length is
whatever the model does. llama.cpp is blocking, so generation runs in a worker thread, one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from overthink.models.base import Backend, Capabilities, GenerationRequest, parse_options
from overthink.models.embedded import resolve_model_path
from overthink.models.forcing import NATURAL, THINK_OPEN, Forcer, Fork, TraceResult
from overthink.models.llamacpp_engine import LlamaEngine, Sampler, read_gguf_metadata
from overthink.models.loops import is_looping
from overthink.models.prompting import chat_messages
from overthink.types import Budget, BudgetKind, Completion, Mechanism, TokenSource, Usage

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "<|im_start|>assistant\n"
)
PROMPT_HEADROOM = 2048  # tokens reserved for the prompt and few-shot examples when sizing the context


class LlamaCppOptions(BaseModel):
    """Settings of the embedded backend; unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    n_ctx: int | None = None
    n_threads: int | None = None
    chat_template: str | None = None  # Jinja template; default: the GGUF's own, else ChatML


class LlamaCppBackend(Backend):
    """Backend over one local GGUF; loads the model lazily on first use."""

    def __init__(self, model_id: str, path: Path, options: LlamaCppOptions) -> None:
        self._model_id = model_id
        self.path = path
        self.options = options
        meta = read_gguf_metadata(path)
        self.n_ctx_train = int(meta.get("_n_ctx_train", "4096"))
        self.template = options.chat_template or meta.get("tokenizer.chat_template") or CHATML
        self._engine: LlamaEngine | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @classmethod
    def from_model_name(cls, model: str, **options: object) -> LlamaCppBackend:
        model_id, path = resolve_model_path(model)
        parsed = parse_options(LlamaCppOptions, dict(options), "llamacpp")
        return cls(model_id, path, parsed)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            mechanisms=frozenset({Mechanism.FORCED, Mechanism.PROMPT}),
            nested=True,
            max_context=self.n_ctx_train,
        )

    def unsupported_reason(self, budget: Budget) -> str | None:
        if budget.kind is BudgetKind.EFFORT:
            return "the embedded engine has no effort levels; give token budgets (e.g. 0,256,1024)"
        if budget.mechanism is Mechanism.NATIVE:
            return "the embedded engine has no native thinking control; use --mode forced or prompt"
        tokens = budget.tokens or 0
        if tokens + PROMPT_HEADROOM > self.n_ctx_train:
            return (
                f"budget {tokens} does not fit the model's context of {self.n_ctx_train} tokens "
                f"(leave {PROMPT_HEADROOM} for the prompt); use a budget <= {self.n_ctx_train - PROMPT_HEADROOM}"
            )
        return None

    def context_for(self, max_thinking: int, max_answer: int) -> int:
        """Context size a sweep needs: thinking + answer + prompt headroom, within the model's window."""
        wanted = self.options.n_ctx or (max_thinking + max_answer + PROMPT_HEADROOM)
        return min(self.n_ctx_train, wanted)

    def engine(self, n_ctx: int) -> LlamaEngine:
        """The loaded model, (re)loaded with a larger context when a request needs one."""
        if self._engine is None or self._engine.n_ctx < n_ctx:
            if self._engine is not None:
                self._engine.close()
            self._engine = LlamaEngine(self.path, n_ctx=n_ctx, n_threads=self.options.n_threads)
            self._engine.cancel = self._stop
        return self._engine

    @contextlib.contextmanager
    def session(self, n_ctx: int) -> Iterator[LlamaEngine]:
        """Exclusive use of the engine (one KV cache per model), sized for at least `n_ctx` tokens, for
        strategies that drive it directly (votes sharing a prompt, probes, a step judge)."""
        with self._lock:
            yield self.engine(n_ctx)

    @property
    def loaded_context(self) -> int:
        """Context size of the loaded engine, 0 when none is loaded yet."""
        return self._engine.n_ctx if self._engine is not None else 0

    def prompt_ids(self, engine: LlamaEngine, request: GenerationRequest) -> list[int]:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        messages = chat_messages(request.sample, request.budget, request.shots)
        formatter = Jinja2ChatFormatter(
            template=self.template, eos_token="", bos_token="", add_generation_prompt=True
        )
        text = formatter(messages=messages).prompt  # type: ignore[arg-type]
        return engine.tokenize(text + THINK_OPEN)

    def live_tokens(self) -> int:
        """Tokens sampled so far by this backend, for a live tokens/s display between records."""
        return self._engine.sampled if self._engine is not None else 0

    def cancel(self) -> None:
        """Ask a running generation to stop at its next token (Ctrl-C)."""
        self._stop.set()

    async def generate(self, request: GenerationRequest) -> Completion:
        results = await self.generate_nested(request, [request.budget])
        return results[request.budget.label]

    async def generate_nested(
        self, request: GenerationRequest, budgets: Sequence[Budget]
    ) -> dict[str, Completion]:
        self.require(budgets)
        return await asyncio.to_thread(self._generate_blocking, request, list(budgets))

    def _generate_blocking(self, request: GenerationRequest, budgets: list[Budget]) -> dict[str, Completion]:
        sampling = request.sampling.resolve()
        with self._lock:
            token_points = [b.tokens for b in budgets if b.tokens is not None]
            thinking = max([*token_points, 0])
            if any(b.kind is BudgetKind.NATURAL or b.mechanism is Mechanism.PROMPT for b in budgets):
                thinking = max(thinking, sampling.natural_cap)
            engine = self.engine(self.context_for(thinking, sampling.max_answer_tokens))
            forcer = Forcer(engine, Sampler(sampling.temperature, sampling.top_p, sampling.top_k),
                            sampling.max_answer_tokens)
            out: dict[str, Completion] = {}
            forced = [b for b in budgets if b.mechanism is Mechanism.FORCED]
            if forced:
                prompt = self.prompt_ids(engine, request)
                points = [b.tokens for b in forced if b.tokens is not None]
                want_natural = any(b.kind is BudgetKind.NATURAL for b in forced)
                if points:
                    result = forcer.run(prompt, points, request.seed, natural=want_natural)
                else:  # natural only: no forcing, stop at the first close or the cap
                    result = forcer.run(prompt, [], request.seed, force_minimum=False, natural=True,
                                        natural_cap=sampling.natural_cap)
                for budget in forced:
                    key = NATURAL if budget.kind is BudgetKind.NATURAL else budget.tokens
                    assert key is not None
                    out[budget.label] = self.completion_from(engine, prompt, result, result.forks[key])
            for budget in budgets:
                if budget.mechanism is Mechanism.PROMPT:
                    # The budget is only requested in words; the model thinks as long as it likes.
                    prompt = self.prompt_ids(engine, request.at(budget))
                    if budget.kind is BudgetKind.NONE:  # "no thinking" is an empty think block
                        result = forcer.run(prompt, [0], request.seed)
                        fork = result.forks[0]
                    else:
                        result = forcer.run(prompt, [], request.seed, force_minimum=False, natural=True,
                                            natural_cap=sampling.natural_cap)
                        fork = result.forks[NATURAL]
                    out[budget.label] = self.completion_from(engine, prompt, result, fork)
            return out

    @staticmethod
    def completion_from(engine: LlamaEngine, prompt: list[int], result: TraceResult, fork: Fork) -> Completion:
        reasoning = engine.detokenize(result.trace[: fork.thinking_tokens])
        answer = engine.detokenize(fork.answer_ids)
        return Completion(
            text="<answer>" + answer,
            reasoning=reasoning,
            usage=Usage(
                input_tokens=len(prompt),
                output_tokens=fork.thinking_tokens + len(fork.answer_ids),
                reasoning_tokens=fork.thinking_tokens,
                reasoning_source=TokenSource.TOKENIZER,
            ),
            finish_reason=fork.finish_reason,
            wall_time_s=fork.wall_time_s,
            wait_insertions=fork.wait_insertions,
            answer_tokens=len(fork.answer_ids),
            looping=is_looping(reasoning),
            total_generated=fork.generated,
            extra={"natural_end": result.natural_end, "censored": fork.censored},
        )

    async def aclose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
