"""A deterministic backend for tests and dry runs. It is not a model and never claims to be one.

Its model id is always "scripted", whatever name it is given, so a store written with it can never be
mistaken for a real model's results. By default it answers correctly with a fixed probability decided
by a hash of (seed, item, budget), thinks one "token" (word) per budget token, and reports the shots
it was given in `extra`. It reads the item and its target from the prompt's `Oracle`, which exists for
it alone (no real backend reads it); tests replace the behaviour with a `script` function to pin exact answers
(e.g. to check a vote's majority and tie-break without sampling noise).

It has none of the capabilities of models/capabilities.py, so strategies that need one refuse it;
tests/strategies/scripted_tracer.py adds them on top of the script for testing strategies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from overthink.errors import UserError
from overthink.models.base import Backend, Capabilities, GenerationRequest, parse_options
from overthink.models.prompt import Oracle
from overthink.types import Completion, Mechanism, TokenSource, Usage

MODEL_ID = "scripted"
NATURAL_LENGTH = 24  # words the default script "thinks" when the budget sets no limit

# (request) -> (reasoning text, answer text); the answer text is what a scorer sees
Script = Callable[[GenerationRequest], tuple[str, str]]


def unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from a stable hash of the parts (never Python's salted hash)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def wrong_answer(target: str) -> str:
    """A deterministic wrong answer of the same kind as the target (number -> number + 1)."""
    try:
        return str(int(target) + 1)
    except ValueError:
        return f"not {target}"


def oracle_of(request: GenerationRequest) -> Oracle:
    """The item a scripted answer is about; a prompt without one (an Inspect chat) is an anonymous item."""
    if request.prompt.oracle is not None:
        return request.prompt.oracle
    words = sum(len(content.split()) for role, content in request.prompt.messages if role == "user")
    return Oracle(item="", target="", words=words)


def default_script(accuracy: float) -> Script:
    def script(request: GenerationRequest) -> tuple[str, str]:
        oracle = oracle_of(request)
        tokens = request.budget.tokens
        length = NATURAL_LENGTH if tokens is None else tokens
        reasoning = " ".join(f"step{i}" for i in range(length))
        right = unit(request.seed, oracle.item, request.budget.label) < accuracy
        answer = oracle.target if right else wrong_answer(oracle.target)
        return reasoning, f"<answer>{answer}</answer>"

    return script


class ScriptedOptions(BaseModel):
    """Settings of the scripted backend (listed by `overthink models options scripted`)."""

    model_config = ConfigDict(extra="forbid")

    accuracy: float = Field(default=0.7, ge=0.0, le=1.0, description="chance that an answer is right (seeded)")


class ScriptedBackend(Backend):
    """Answers from a script: instant, deterministic, budget-honouring; for tests and dry runs only."""

    def __init__(self, script: Script | None = None, *, accuracy: float = 0.7) -> None:
        if not 0.0 <= accuracy <= 1.0:
            raise UserError(f"scripted backend: accuracy {accuracy} must be between 0 and 1")
        self.script = script or default_script(accuracy)
        self.calls: list[GenerationRequest] = []

    @classmethod
    def from_options(cls, model: str, **options: object) -> ScriptedBackend:
        """Registry factory; the model name is ignored on purpose (the id stays "scripted")."""
        return cls(accuracy=parse_options(ScriptedOptions, dict(options), "scripted").accuracy)


    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(mechanisms=frozenset(Mechanism), nested=False)

    async def generate(self, request: GenerationRequest) -> Completion:
        self.calls.append(request)
        reasoning, text = self.script(request)
        thinking = len(reasoning.split())
        answer = len(text.split())
        return Completion(
            text=text,
            reasoning=reasoning,
            usage=Usage(input_tokens=oracle_of(request).words, output_tokens=thinking + answer,
                        reasoning_tokens=thinking, reasoning_source=TokenSource.ESTIMATE),
            finish_reason="stop",
            answer_tokens=answer,
            total_generated=thinking + answer,
            extra={"scripted": True, "shots": request.prompt.shots},
        )
