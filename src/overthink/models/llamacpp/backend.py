"""The embedded backend: llama-cpp-python on a local GGUF, with budget forcing and nested budgets.

The model is an ordinary instruct model, so thinking is elicited by the chat template: the assistant
turn opens with `<think>` and the system prompt asks for `<think>…</think><answer>…</answer>`. Token
budgets are imposed by forcing (see forcing.py); `prompt` budgets only ask, and the realized length is
whatever the model does. llama.cpp is blocking, so generation runs in a worker thread, one at a time.

Beyond `generate` the backend offers every capability strategies use (models/capabilities.py), all on
its one KV cache under one lock: k samples of a prompt reusing the prompt's cache, a forced trace
probed at points with early stopping, and step scores read from the next-token logits.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from overthink.errors import UserError
from overthink.models.base import Backend, Capabilities, GenerationRequest, PartialFailure, parse_options
from overthink.models.capabilities import MAX_STEP_TOKENS, ForcedTrace, StepScores, StopWhen, yes_probability
from overthink.models.forcing_spec import NATURAL, THINK_OPEN, Fork, Trace, TracePlan, fork_key
from overthink.models.generation import Sampling
from overthink.models.llamacpp.engine import LlamaEngine, Sampler, Vocabulary, read_gguf_metadata
from overthink.models.llamacpp.gguf import resolve_model_path
from overthink.models.llamacpp.token_forcing import Forcer
from overthink.models.loops import is_looping
from overthink.types import Budget, BudgetKind, Completion, Mechanism, TokenSource, Usage

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "<|im_start|>assistant\n"
)
PROMPT_HEADROOM = 2048  # tokens reserved for the prompt and few-shot examples when sizing the context
CUE_MARGIN = 64  # the answer cue and "Wait" pieces beyond the counted thinking and answer tokens


class LlamaCppOptions(BaseModel):
    """Settings of the embedded backend; unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    n_ctx: int | None = Field(default=None,
                              description="context size (default: thinking + answer + 2048 for the prompt)")
    n_threads: int | None = Field(default=None, description="CPU threads (default: the cores, at most 8)")
    chat_template: str | None = Field(default=None,
                                      description="Jinja chat template (default: the GGUF's own, else ChatML)")


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
        self._vocab: Vocabulary | None = None  # counts prompt tokens without loading the weights
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

    def context_for(self, max_thinking: int, max_answer: int, prompt_tokens: int = 0) -> int:
        """Context size a sweep needs: thinking + answer + room for the prompt, within the model's window.

        The room is PROMPT_HEADROOM, or the prompt itself when it is longer (few-shot prompts on grades
        reach 4,000 tokens); a context that only ever grows keeps one engine for the whole sweep."""
        room = max(PROMPT_HEADROOM, prompt_tokens + CUE_MARGIN)
        wanted = self.options.n_ctx or (max_thinking + max_answer + room)
        return min(self.n_ctx_train, wanted)

    @property
    def context_limit(self) -> int:
        """The largest context a request may use: the model's window, or the `n_ctx` option."""
        return min(self.n_ctx_train, self.options.n_ctx or self.n_ctx_train)

    def prompt_tokens(self, request: GenerationRequest) -> int:
        """Tokens of the request's rendered prompt with its shots (the vocabulary alone, no weights)."""
        if self._vocab is None:
            self._vocab = Vocabulary(self.path)
        return len(self._vocab.tokenize(self._prompt_text(request)))

    def context_problem(self, request: GenerationRequest) -> str | None:
        sampling = request.sampling.resolve()
        budget = request.budget
        forced_tokens = budget.tokens if budget.mechanism is Mechanism.FORCED else None
        thinking = 0 if budget.kind is BudgetKind.NONE else (
            forced_tokens if forced_tokens is not None else max(budget.tokens or 0, sampling.natural_cap))
        prompt = self.prompt_tokens(request)
        needed = prompt + thinking + sampling.max_answer_tokens + CUE_MARGIN
        if needed <= self.context_limit:
            return None
        where = "the n_ctx option" if self.options.n_ctx else "the model's window"
        shots = " with its shots" if request.prompt.shots else ""
        return (f"a prompt of {prompt} tokens{shots}, {thinking} thinking and "
                f"{sampling.max_answer_tokens} answer tokens need {needed} tokens, more than the context of "
                f"{self.context_limit} ({where})")

    def engine(self, n_ctx: int) -> LlamaEngine:
        """The loaded model, (re)loaded with a larger context when a request needs one."""
        if self._engine is None or self._engine.n_ctx < n_ctx:
            if self._engine is not None:
                self._engine.close()
            self._engine = LlamaEngine(self.path, n_ctx=n_ctx, n_threads=self.options.n_threads)
            self._engine.cancel = self._stop
        return self._engine

    @contextlib.contextmanager
    def _forcer(self, sampling: Sampling, max_thinking: int, prompt_tokens: int = 0,
                ) -> Iterator[tuple[LlamaEngine, Forcer]]:
        """Exclusive use of the engine (one KV cache per model), sized for the trace, with a Forcer."""
        with self._lock:
            engine = self.engine(self.context_for(max_thinking, sampling.max_answer_tokens, prompt_tokens))
            sampler = Sampler(sampling.temperature, sampling.top_p, sampling.top_k)
            yield engine, Forcer(engine, sampler, sampling.max_answer_tokens)

    def render(self, messages: list[dict[str, str]]) -> str:
        """The chat template applied to messages, ending where the assistant's turn begins."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(template=self.template, eos_token="", bos_token="", add_generation_prompt=True)
        return formatter(messages=messages).prompt  # type: ignore[arg-type]

    def _prompt_text(self, request: GenerationRequest) -> str:
        return self.render(request.chat()) + THINK_OPEN

    def prompt_ids(self, engine: LlamaEngine, request: GenerationRequest) -> list[int]:
        return engine.tokenize(self._prompt_text(request))

    def live_tokens(self) -> int:
        """Tokens sampled so far by this backend, for a live tokens/s display between records."""
        return self._engine.sampled if self._engine is not None else 0

    def cancel(self) -> None:
        """Ask a running generation to stop at its next token (Ctrl-C)."""
        self._stop.set()

    async def generate(self, request: GenerationRequest) -> Completion:
        results = await self.generate_nested(request, [request.budget])
        return results[request.budget.label]

    async def generate_nested(self, request: GenerationRequest, budgets: Sequence[Budget]) -> dict[str, Completion]:
        self.require(budgets)
        return (await self.sample_k(request, budgets, [request.seed]))[0]

    # -------------------------------------------------------------------------------- capabilities

    async def sample_k(
        self, request: GenerationRequest, budgets: Sequence[Budget], seeds: Sequence[int]
    ) -> list[dict[str, Completion]]:
        """One nested trace per seed; traces after the first keep the prompt's KV cache (`fresh=False`)."""
        self.require(budgets)
        return await asyncio.to_thread(self._sample_blocking, request, list(budgets), list(seeds))

    def _sample_blocking(
        self, request: GenerationRequest, budgets: list[Budget], seeds: list[int]
    ) -> list[dict[str, Completion]]:
        """Every seed's forced trace and prompted budgets; a trace or budget that fails (a context
        overflow) costs only its own records, reported in a `PartialFailure` beside the others."""
        sampling = request.sampling.resolve()
        forced = [b for b in budgets if b.mechanism is Mechanism.FORCED]
        plan = TracePlan.of(forced, sampling.natural_cap)
        prompted = [b for b in budgets if b.mechanism is Mechanism.PROMPT]
        asked = [b.tokens or 0 for b in prompted]  # prompt budgets think up to the natural cap
        thinking = max([plan.max_thinking, *asked, sampling.natural_cap if prompted else 0])
        out: list[dict[str, Completion]] = [{} for _ in seeds]
        failures: dict[str, Exception] = {}
        with self._forcer(sampling, thinking, self.prompt_tokens(request)) as (engine, forcer):
            if forced:
                prompt = self.prompt_ids(engine, request)
                fresh = True
                for index, seed in enumerate(seeds):
                    try:
                        result = forcer.run(prompt, plan.points, seed, natural=plan.natural,
                                            force_minimum=plan.force_minimum, natural_cap=plan.natural_cap,
                                            fresh=fresh)
                    except UserError:
                        raise
                    except Exception as exc:  # this seed's trace only; the cache is rebuilt for the next
                        failures = {**{b.label: exc for b in forced}, **failures}
                        fresh = True
                        continue
                    fresh = False
                    for budget in forced:
                        fork = result.forks[fork_key(budget)]
                        out[index][budget.label] = self.completion_from(engine, prompt, result, fork)
            for budget in prompted:
                for index, seed in enumerate(seeds):
                    try:
                        out[index][budget.label] = self._prompted(engine, forcer, request.at(budget), seed, sampling)
                    except UserError:
                        raise
                    except Exception as exc:  # this (seed, budget) only
                        failures.setdefault(budget.label, exc)
        if failures:
            raise PartialFailure(out[0], failures, samples=out)
        return out

    def _prompted(self, engine: LlamaEngine, forcer: Forcer, request: GenerationRequest, seed: int,
                  sampling: Sampling) -> Completion:
        """A `prompt` budget: only requested in words; the model thinks as long as it likes."""
        prompt = self.prompt_ids(engine, request)
        if request.budget.kind is BudgetKind.NONE:  # "no thinking" is an empty think block
            result = forcer.run(prompt, [0], seed)
            return self.completion_from(engine, prompt, result, result.forks[0])
        result = forcer.run(prompt, [], seed, force_minimum=False, natural=True, natural_cap=sampling.natural_cap)
        return self.completion_from(engine, prompt, result, result.forks[NATURAL])

    async def forced_trace(
        self, request: GenerationRequest, points: Sequence[int], stop_when: StopWhen | None = None
    ) -> ForcedTrace:
        """One fresh forced trace forked at every point; `stop_when` sees each fork's answer text."""
        return await asyncio.to_thread(self._trace_blocking, request, sorted(set(points)), stop_when)

    def _trace_blocking(
        self, request: GenerationRequest, points: list[int], stop_when: StopWhen | None
    ) -> ForcedTrace:
        sampling = request.sampling.resolve()
        with self._forcer(sampling, points[-1], self.prompt_tokens(request)) as (engine, forcer):
            prompt = self.prompt_ids(engine, request)

            def stop(fork: Fork) -> bool:
                text = "<answer>" + engine.detokenize(fork.answer_ids)
                return stop_when is not None and stop_when(fork.budget, text)

            result = forcer.run(prompt, points, request.seed, stop_when=stop)
            forks = result.forks.items()
            completions = {at: self.completion_from(engine, prompt, result, fork) for at, fork in forks}
        return ForcedTrace(completions, result.stopped_at)

    async def score_steps(
        self, messages: list[dict[str, str]], placeholder: str, steps: Sequence[str]
    ) -> StepScores:
        """P(Yes) over {Yes, No} after each step; each step evaluates only itself and the question."""
        return await asyncio.to_thread(self._score_blocking, messages, placeholder, list(steps))

    def _score_blocking(
        self, messages: list[dict[str, str]], placeholder: str, steps: list[str]
    ) -> StepScores:
        head_text, _, tail_text = self.render(messages).partition(placeholder)
        with self._lock:
            # keep whatever the generating sweep loaded; a judge of its own starts with room for a long trace
            engine = self.engine(self.loaded_context or self.context_for(2048, 0))
            head, tail = engine.tokenize(head_text), engine.tokenize(tail_text)
            pieces = [engine.tokenize(("\n" if i else "") + s)[:MAX_STEP_TOKENS] for i, s in enumerate(steps)]
            needed = len(head) + sum(map(len, pieces)) + len(tail) + 1
            if needed > engine.n_ctx:
                engine = self.engine(min(self.n_ctx_train, needed))
            yes, no = engine.tokenize("Yes")[0], engine.tokenize("No")[0]
            before = engine.evaluated
            scores: list[float] = []
            body: list[int] = []
            for piece in pieces:
                body.extend(piece)
                ids = head + body + tail
                if len(ids) > engine.n_ctx:
                    break  # the rest does not fit even the largest context: score what fits
                engine.sync(ids)
                scores.append(yes_probability(float(engine.logits[yes]), float(engine.logits[no])))
            return StepScores(tuple(scores), engine.evaluated - before)

    @property
    def loaded_context(self) -> int:
        """Context size of the loaded engine, 0 when none is loaded yet."""
        return self._engine.n_ctx if self._engine is not None else 0

    @staticmethod
    def completion_from(engine: LlamaEngine, prompt: list[int], result: Trace, fork: Fork) -> Completion:
        reasoning = engine.detokenize(result.trace[: fork.thinking_tokens])
        answer = engine.detokenize(fork.answer_ids)
        extra: dict[str, Any] = {"natural_end": result.natural_end, "censored": fork.censored}
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
            extra=extra,
        )

    async def aclose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            if self._vocab is not None:
                self._vocab.close()
                self._vocab = None
