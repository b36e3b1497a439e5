"""An Inspect model provider for overthink's embedded engine, with exact budget forcing.

`inspect eval ... --model overthink/tiny --reasoning-tokens 64` runs the embedded model (any name
`overthink models list` shows, or a path to a .gguf) and forces its thinking to exactly 64 tokens:
the trace is cut at 64 tokens, or, when the model closes its thinking early, the close is dropped and
"Wait" appended (overthink's budget forcing, models/forcing_spec.py). Hosted providers treat
`reasoning_tokens` as a cap or a hint; here it is exact, which is what a budget sweep needs.

How Inspect's settings map onto overthink's:
- `reasoning_tokens=N` forces exactly N thinking tokens (0 = an empty think block);
  `reasoning_effort="none"` is budget 0; without either the model thinks until it stops by itself
  (capped at `-M natural_cap=...`, 1024 by default); other effort levels are refused (the engine has none);
- `temperature`, `top_p`, `top_k` as they are; `max_tokens` bounds the answer after thinking (its
  thinking is governed by the budget alone); `seed` seeds the trace (without one each call draws one);
- `-M n_ctx=... -M n_threads=... -M chat_template=...` are the embedded backend's own options.

The answer comes back as a `ContentReasoning` block (the thinking) before a `ContentText` block (the
answer), and `ModelUsage.reasoning_tokens` is the realized thinking length. The engine is blocking and
holds one KV cache, so it is built once per provider on first use, runs in a worker thread, and
takes one request at a time (`max_connections` 1).
"""

from __future__ import annotations

import asyncio
import atexit
import secrets
import threading
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    Content,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    StopReason,
    modelapi,
)
from inspect_ai.model._model_call import ModelCall
from inspect_ai.tool import ToolChoice, ToolInfo

from overthink.models.base import GenerationRequest, parse_options
from overthink.models.forcing_spec import THINK_OPEN
from overthink.models.generation import DEFAULT_SAMPLING, GenerationConfig
from overthink.models.llamacpp.backend import LlamaCppBackend, LlamaCppOptions
from overthink.models.llamacpp.engine import LlamaEngine
from overthink.models.llamacpp.gguf import resolve_model_path
from overthink.models.prompting import FORMAT_INSTRUCTION, NO_THINKING_INSTRUCTION
from overthink.types import Budget, BudgetKind, Completion, Sample

__all__ = ["CHAT_KEY", "OverthinkAPI", "budget_for", "chat_for", "sampling_for"]

CHAT_KEY = "_inspect_chat"  # Sample metadata: the rendered conversation, read by ChatBackend.prompt_ids
_NO_CONFIG = GenerateConfig()  # ModelAPI's own default (never mutated)


class ChatBackend(LlamaCppBackend):
    """The embedded backend prompted with an Inspect conversation instead of an overthink Sample."""

    def prompt_ids(self, engine: LlamaEngine, request: GenerationRequest) -> list[int]:
        chat = request.sample.metadata.get(CHAT_KEY)
        if chat is None:
            return super().prompt_ids(engine, request)
        return engine.tokenize(self.render([dict(m) for m in chat]) + THINK_OPEN)


def chat_for(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """The conversation with overthink's think/answer format in the system message.

    An overthink task's prompt ends its system text with the answer-only sentence; replacing it with
    the think-then-answer sentence gives byte for byte the prompt `overthink run` sends the embedded
    model, so an Inspect run and an overthink run of the same item and seed produce the same trace.
    """
    system = "\n\n".join(m.text for m in messages if m.role == "system")
    if system.endswith(NO_THINKING_INSTRUCTION):
        system = system[: -len(NO_THINKING_INSTRUCTION)] + FORMAT_INSTRUCTION
    else:
        system = "\n\n".join(part for part in (system, FORMAT_INSTRUCTION) if part)
    rest = [{"role": m.role, "content": m.text} for m in messages if m.role != "system"]
    return [{"role": "system", "content": system}, *rest]


def budget_for(config: GenerateConfig) -> Budget:
    """The forced budget an Inspect config asks for (reasoning_tokens wins over reasoning_effort)."""
    if config.reasoning_tokens is not None:
        return Budget.parse(str(config.reasoning_tokens))  # a negative count is a ValueError
    if config.reasoning_effort == "none":
        return Budget(BudgetKind.NONE, 0)
    if config.reasoning_effort is not None:
        raise ValueError(f"overthink models have no effort levels (got reasoning_effort={config.reasoning_effort!r}); "
                         "give reasoning_tokens=N for exactly N thinking tokens")
    return Budget(BudgetKind.NATURAL)


def sampling_for(config: GenerateConfig, natural_cap: int) -> GenerationConfig:
    """overthink's sampling settings from Inspect's (None leaves overthink's default)."""
    return GenerationConfig(temperature=config.temperature, top_p=config.top_p, top_k=config.top_k,
                            max_answer_tokens=config.max_tokens, natural_cap=natural_cap)


def _output(model: str, completion: Completion, seed: int, budget: Budget) -> ModelOutput:
    content: list[Content] = [ContentText(text=completion.text)]
    if completion.reasoning:
        content.insert(0, ContentReasoning(reasoning=completion.reasoning))
    usage = completion.usage
    message = ChatMessageAssistant(content=content, model=model, source="generate")
    stop: StopReason = "max_tokens" if completion.finish_reason == "length" else "stop"
    return ModelOutput(
        model=model,
        choices=[ChatCompletionChoice(message=message, stop_reason=stop)],
        usage=ModelUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                         total_tokens=usage.input_tokens + usage.output_tokens,
                         reasoning_tokens=usage.reasoning_tokens),
        time=completion.wall_time_s,
        metadata={"budget": budget.label, "seed": seed, "wait_insertions": completion.wait_insertions,
                  "looping": completion.looping, **dict(completion.extra)},
    )


def _release(backend: ChatBackend) -> None:
    """Free the llama context before interpreter teardown: llama.cpp's own finalizer fails (and prints
    a traceback) when it runs after its module's globals are gone."""
    asyncio.run(backend.aclose())


class OverthinkAPI(ModelAPI):
    """`overthink/<model>`: the embedded llama.cpp engine with exact budget forcing."""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = _NO_CONFIG, **model_args: Any) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        args = dict(model_args)
        self.natural_cap = int(args.pop("natural_cap", DEFAULT_SAMPLING.natural_cap))
        self.options = parse_options(LlamaCppOptions, args, "overthink")  # a typo fails here, not mid-eval
        self._backend: ChatBackend | None = None
        self._build_lock = threading.Lock()

    def backend(self) -> ChatBackend:
        """The engine, built on first use (assembling an embedded GGUF can take a while) and kept."""
        with self._build_lock:
            if self._backend is None:
                model_id, path = resolve_model_path(self.model_name)  # an unknown name is a UserError here
                self._backend = ChatBackend(model_id, path, self.options)
                atexit.register(_release, self._backend)
            return self._backend

    def max_connections(self) -> int:
        return 1  # one llama context: concurrent requests would only queue on its lock

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> tuple[ModelOutput, ModelCall]:
        if tools:
            raise ValueError("overthink models cannot call tools; use a task without tools")
        budget = budget_for(config)
        seed = config.seed if config.seed is not None else secrets.randbits(31)
        chat = chat_for(input)
        sample = Sample(id="inspect", task="inspect", prompt="", target="", metadata={CHAT_KEY: chat})
        request = GenerationRequest(sample=sample, budget=budget, seed=seed,
                                    sampling=sampling_for(config, self.natural_cap))
        backend = await asyncio.to_thread(self.backend)  # loading blocks; keep it off the event loop
        completion = await backend.generate(request)  # runs in a worker thread, one at a time
        output = _output(self.model_name, completion, seed, budget)
        call = ModelCall.create(
            request={"messages": chat, "budget": budget.label, "seed": seed,
                     "sampling": vars(request.sampling.resolve())},
            response={"reasoning": completion.reasoning, "text": completion.text,
                      "reasoning_tokens": completion.usage.reasoning_tokens},
        )
        return output, call


@modelapi(name="overthink")
def overthink() -> type[ModelAPI]:
    """Registers `overthink/<model>` (the decorator wraps what it registers, so the class stays plain)."""
    return OverthinkAPI
