"""An Inspect model provider over any overthink backend, with exact budget forcing where it has one.

`inspect eval ... --model overthink/tiny --reasoning-tokens 64` runs the embedded model (any name
`overthink models list` shows, or a path to a .gguf) and forces its thinking to exactly 64 tokens:
the trace is cut at 64 tokens, or, when the model closes its thinking early, the close is dropped and
"Wait" appended (overthink's budget forcing, models/forcing_spec.py). Hosted providers treat
`reasoning_tokens` as a cap or a hint; here it is exact, which is what a budget sweep needs.

`overthink/<backend>/<model>` runs any other backend the registry knows, through the same adapter:
`--model overthink/openai-compat/tiny --model-base-url http://127.0.0.1:8080/v1` forces a llama.cpp
or vLLM server exactly the same way, and a backend without forcing (anthropic, openai) gets its native
budget. The Inspect conversation is the rendered prompt (models/prompt.py) as it is, with overthink's
think/answer format in its system message, so the backend sends what `overthink run` would.

How Inspect's settings map onto overthink's:
- `reasoning_tokens=N` forces exactly N thinking tokens (0 = an empty think block);
  `reasoning_effort="none"` is budget 0; without either the model thinks until it stops by itself
  (capped at `-M natural_cap=...`, 1024 by default); other effort levels are refused by forcing
  backends (they have none) and passed to native ones;
- `temperature`, `top_p`, `top_k` as they are; `max_tokens` bounds the answer after thinking (its
  thinking is governed by the budget alone); `seed` seeds the trace (without one each call draws one);
- `-M key=value` are the backend's own options (`overthink models options BACKEND` lists them);
  `--model-base-url` is the server URL of openai-compat (and the gateway of a hosted SDK).

The answer comes back as a `ContentReasoning` block (the thinking) before a `ContentText` block (the
answer), and `ModelUsage.reasoning_tokens` is the realized thinking length. The backend is built once
per provider on first use; the embedded engine is blocking and holds one KV cache, so it runs in a
worker thread and takes one request at a time (`max_connections` 1).
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

from overthink.errors import UserError
from overthink.models.base import Backend, GenerationRequest, parse_options
from overthink.models.generation import DEFAULT_SAMPLING, GenerationConfig
from overthink.models.prompt import RenderedPrompt
from overthink.prompts.render import BUDGET_WORDING, FORMAT_INSTRUCTION, NO_THINKING_INSTRUCTION
from overthink.registry import BACKENDS, get_backend_factory, get_backend_options
from overthink.types import Budget, BudgetKind, Completion, Mechanism

__all__ = ["OverthinkAPI", "budget_for", "chat_for", "prompt_for", "sampling_for", "split_model_name"]

EMBEDDED = "llamacpp"  # `overthink/<model>` without a backend name: the embedded engine
URL_OPTION = {"openai-compat": "base_urls", "anthropic": "base_url", "openai": "base_url"}  # --model-base-url
_NO_CONFIG = GenerateConfig()  # ModelAPI's own default (never mutated)


def split_model_name(name: str) -> tuple[str, str]:
    """(backend, model) of `openai-compat/tiny`; a name without a known backend is the embedded model's."""
    head, sep, rest = name.partition("/")
    if sep and head in BACKENDS:
        return head, rest
    return EMBEDDED, name


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


def prompt_for(messages: list[ChatMessage]) -> RenderedPrompt:
    """The Inspect conversation as the rendered prompt a backend receives: the think-then-answer chat
    (`chat_for`) for forced and natural budgets, the conversation with the answer format only for
    native ones (the provider thinks in its own channel)."""
    system = "\n\n".join(m.text for m in messages if m.role == "system")
    if not system.endswith(NO_THINKING_INSTRUCTION):
        system = "\n\n".join(part for part in (system, NO_THINKING_INSTRUCTION) if part)
    rest = tuple((m.role, m.text) for m in messages if m.role != "system")
    chat = tuple((m["role"], m["content"]) for m in chat_for(messages))
    return RenderedPrompt(messages=chat, answer_only=(("system", system), *rest), wording=BUDGET_WORDING)


def budget_for(config: GenerateConfig, mechanism: Mechanism = Mechanism.FORCED) -> Budget:
    """The budget an Inspect config asks for (reasoning_tokens wins over reasoning_effort).

    Forced budgets have no effort levels; a native backend takes its own (`mechanism` NATIVE)."""
    if config.reasoning_tokens is not None:
        return Budget.parse(str(config.reasoning_tokens), mechanism)  # a negative count is a ValueError
    if config.reasoning_effort == "none":
        return Budget(BudgetKind.NONE, 0, mechanism)
    if config.reasoning_effort is not None:
        if mechanism is Mechanism.NATIVE:
            return Budget(BudgetKind.EFFORT, config.reasoning_effort, mechanism)
        raise ValueError(f"overthink models have no effort levels (got reasoning_effort={config.reasoning_effort!r}); "
                         "give reasoning_tokens=N for exactly N thinking tokens")
    return Budget(BudgetKind.NATURAL, None, mechanism)


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


def _release(backend: Backend) -> None:
    """Free the llama context before interpreter teardown: llama.cpp's own finalizer fails (and prints
    a traceback) when it runs after its module's globals are gone."""
    asyncio.run(backend.aclose())


class OverthinkAPI(ModelAPI):
    """`overthink/<model>` (the embedded engine) or `overthink/<backend>/<model>`: one adapter over any
    Backend; the Inspect chat is the rendered prompt, and the backend never sees a task."""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = _NO_CONFIG, **model_args: Any) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        args = dict(model_args)
        self.natural_cap = int(args.pop("natural_cap", DEFAULT_SAMPLING.natural_cap))
        self.backend_name, self.model = split_model_name(model_name)
        if base_url is not None and self.backend_name in URL_OPTION:  # --model-base-url
            key = URL_OPTION[self.backend_name]
            args.setdefault(key, [base_url] if key == "base_urls" else base_url)
        options = get_backend_options(self.backend_name)
        parse_options(options, args, "overthink")  # a typo fails here, not mid-eval
        self.options = args
        self._backend: Backend | None = None
        self._build_lock = threading.Lock()

    def backend(self) -> Backend:
        """The backend, built on first use (assembling an embedded GGUF can take a while) and kept."""
        with self._build_lock:
            if self._backend is None:  # an unknown model name is a UserError here
                self._backend = get_backend_factory(self.backend_name)(self.model, **self.options)
                if self.backend_name == EMBEDDED:
                    atexit.register(_release, self._backend)
            return self._backend

    async def aclose(self) -> None:
        """Close the backend's connections in the caller's loop (Inspect calls this for models it made)."""
        if self._backend is not None:
            await self._backend.aclose()

    def max_connections(self) -> int:
        if self.backend_name == EMBEDDED:
            return 1  # one llama context: concurrent requests would only queue on its lock
        return super().max_connections()

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice,
                       config: GenerateConfig) -> tuple[ModelOutput, ModelCall]:
        if tools:
            raise ValueError("overthink models cannot call tools; use a task without tools")
        backend = await asyncio.to_thread(self.backend)  # loading blocks; keep it off the event loop
        forced = Mechanism.FORCED in backend.capabilities.mechanisms
        budget = budget_for(config, Mechanism.FORCED if forced else Mechanism.NATIVE)
        reason = backend.unsupported_reason(budget)
        if reason:
            raise UserError(reason)
        seed = config.seed if config.seed is not None else secrets.randbits(31)
        request = GenerationRequest(prompt_for(input), budget, seed, sampling_for(config, self.natural_cap))
        completion = await backend.generate(request)
        output = _output(self.model_name, completion, seed, budget)
        call = ModelCall.create(
            request={"messages": request.chat(), "budget": budget.label, "seed": seed,
                     "sampling": vars(request.sampling.resolve())},
            response={"reasoning": completion.reasoning, "text": completion.text,
                      "reasoning_tokens": completion.usage.reasoning_tokens},
        )
        return output, call


@modelapi(name="overthink")
def overthink() -> type[ModelAPI]:
    """Registers `overthink/<model>` and `overthink/<backend>/<model>` (the decorator wraps what it
    registers, so the class stays plain)."""
    return OverthinkAPI
