"""What strategies may need from a backend beyond `generate`: small Protocols, checked with isinstance.

A strategy that spends compute in a structured way (k samples of one prompt, probes of a growing trace,
scores of each step) asks for the ability, never for an engine: `isinstance(backend, ForcedTracer)`.
The embedded engine (llamacpp/) implements all three on its KV cache; the OpenAI-compatible backend
(remote/) implements them over `/v1/completions` and the server's prefix cache. A backend without an
ability is refused up front by the strategy's `unsupported_reason`, with the reason.

The Protocols are runtime-checkable, so `isinstance` looks at method names only; every method is
async, and its arguments are plain values (requests, budgets, texts), so a scripted test double is a
few lines (tests/strategies/scripted_tracer.py). They are behaviours; `Backend.capabilities` (in
base.py) is the static description of what budgets a backend takes (mechanisms, effort levels, context).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from overthink.models.base import GenerationRequest
from overthink.types import Budget, Completion

# (thinking tokens so far, interim answer text) -> stop the trace here?
StopWhen = Callable[[int, str], bool]
MAX_STEP_TOKENS = 256  # a step scorer reads at most this many tokens of each step


def yes_probability(yes_logit: float, no_logit: float) -> float:
    """P(yes) normalized over {yes, no} from two logits (or log-probabilities), without overflow."""
    top = max(yes_logit, no_logit)
    yes, no = math.exp(yes_logit - top), math.exp(no_logit - top)
    return yes / (yes + no)


@dataclass(frozen=True)
class ForcedTrace:
    """Answers forked off one forced trace, keyed by the thinking tokens they were forked at.

    Each completion's `total_generated` counts the thinking sampled since the previous fork plus its
    own answer (the store's nested convention), so summing them gives the trace's real compute.
    """

    completions: dict[int, Completion] = field(default_factory=dict)
    stopped_at: int | None = None  # where `stop_when` ended the trace (None: it reached the last point)
    # points the trace could not reach, with why (a request that ran out of retries); the forks
    # before the first of them stand on their own
    failed: dict[int, Exception] = field(default_factory=dict)


@dataclass(frozen=True)
class StepScores:
    """P(yes) after each step of a solution, the prompt tokens evaluated (or sent) to read them, and the
    tokens generated for them (a server samples one token per request; the embedded engine none)."""

    probabilities: tuple[float, ...]
    tokens: int
    generated: int = 0


@runtime_checkable
class SharedPromptSampler(Protocol):
    """k samples of one prompt, one per seed, each with every budget, reusing the prompt's cache."""

    async def sample_k(
        self, request: GenerationRequest, budgets: Sequence[Budget], seeds: Sequence[int]
    ) -> list[dict[str, Completion]]:
        """One dict per seed (in order), keyed by budget label; seed 0's trace is the plain trace."""
        ...


@runtime_checkable
class ForcedTracer(Protocol):
    """One forced trace forked at every point, asking `stop_when` after each fork (early stopping).

    The trace up to a point is the trace `generate` makes for that budget with the same seed (token for
    token on the embedded engine; on a server, wherever decoding is deterministic).
    """

    async def forced_trace(
        self, request: GenerationRequest, points: Sequence[int], stop_when: StopWhen | None = None
    ) -> ForcedTrace: ...


@runtime_checkable
class StepScorer(Protocol):
    """P(yes) of a yes/no question asked after each step, from the next-token probabilities.

    `messages` is a chat whose text holds `placeholder` once; after step i the placeholder is replaced
    by steps 1..i (joined by newlines, each cut to MAX_STEP_TOKENS tokens), so a prefix cache needs to
    evaluate only the new step and the question. Steps that do not fit the context are not scored.
    """

    @property
    def model_id(self) -> str: ...

    async def score_steps(
        self, messages: list[dict[str, str]], placeholder: str, steps: Sequence[str]
    ) -> StepScores: ...
