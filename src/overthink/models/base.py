"""The backend contract: what every model integration offers the runner and the strategies.

A backend maps a `Budget` onto its own controls and reports the reasoning tokens it really used. The
runner asks `unsupported_reason(budget)` before any request, so a budget a backend cannot honour is
refused up front with the reason rather than silently approximated. Backends that can share a thinking
prefix across budgets (budget forcing with a KV or prefix cache) say so with `nested=True` and override
`generate_nested`, the main performance lever of a sweep.

`Backend` is an abstract base class rather than a Protocol so that every optional ability has one safe
default written down here (as inspect_ai's `ModelAPI` does): the runner calls `backend.cancel()` or
`backend.max_output_tokens(...)` on any backend and never has to ask whether the method exists. What
strategies need beyond `generate` (shared-prompt sampling, probed traces, step scores) is not an
optional method but a capability Protocol of its own (capabilities.py), checked with `isinstance`.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from overthink.errors import UserError, first_problem
from overthink.models.generation import GenerationConfig
from overthink.types import Budget, BudgetKind, Completion, Mechanism, Sample, Score

# The task's scorer, carried by the request: strategies that compare answers (votes, probes) ask it for
# the extracted answer instead of looking the task up in the registry.
AnswerScorer = Callable[[Sample, str], Score]


@dataclass(frozen=True)
class GenerationRequest:
    """One completion to produce: the sample, its budget, and the seed that makes it reproducible."""

    sample: Sample
    budget: Budget
    seed: int
    sampling: GenerationConfig = field(default_factory=GenerationConfig)
    shots: tuple[tuple[str, str], ...] = ()  # (question, worked answer) pairs for example anchoring
    scorer: AnswerScorer | None = None  # the task's scorer (None: answers are read from the answer tag)

    def at(self, budget: Budget) -> GenerationRequest:
        """The same request at another budget (same sample, seed, sampling, shots and scorer)."""
        return dataclasses.replace(self, budget=budget)

    def reseeded(self, seed: int) -> GenerationRequest:
        return dataclasses.replace(self, seed=seed)


@dataclass(frozen=True)
class Capabilities:
    mechanisms: frozenset[Mechanism]
    nested: bool = False
    max_context: int | None = None
    effort_levels: tuple[str, ...] = ()
    min_token_budget: int = 0


class FailureKind(str, Enum):
    """Why a request failed, coarse enough to act on: preflight and the circuit breaker decide by it.

    Set where the failure is classified (models/retry.py), so the runner never parses messages.
    """

    AUTH = "auth"  # 401/403: the key is missing or rejected; retrying never helps
    NOT_FOUND = "not_found"  # 404: unknown model or endpoint
    BAD_REQUEST = "bad_request"  # any other 4xx: the request itself is wrong
    RATE_LIMIT = "rate_limit"  # 429 after every retry
    SERVER = "server"  # 5xx after every retry
    TIMEOUT = "timeout"
    CONNECTION = "connection"  # refused, reset or dropped connections
    MALFORMED = "malformed"  # answers that cannot be read
    MISSING_SDK = "missing_sdk"  # the provider's SDK is not installed
    BACKEND = "backend"  # anything else a backend raised


class BackendError(Exception):
    """A failure talking to a model. `retryable` tells the runner whether another attempt may succeed;
    `kind` says what kind of failure it was."""

    def __init__(self, message: str, *, retryable: bool = False, kind: FailureKind = FailureKind.BACKEND) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.kind = kind


class Backend(ABC):
    """What the runner needs from a model integration; every optional ability has a safe default."""

    @property
    @abstractmethod
    def model_id(self) -> str:
        """Stable model name for store keys (never a path with secrets, never a key)."""

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abstractmethod
    async def generate(self, request: GenerationRequest) -> Completion: ...

    async def generate_nested(self, request: GenerationRequest, budgets: Sequence[Budget]) -> dict[str, Completion]:
        """Completions for several budgets of one (sample, seed), keyed by `Budget.label`.

        The default is one `generate` per budget; forcing backends override it to share one trace.
        """
        return {budget.label: await self.generate(request.at(budget)) for budget in budgets}

    def unsupported_reason(self, budget: Budget) -> str | None:
        """None when the budget can be honoured, else why not (asked before any request is sent).

        The default refuses what `capabilities` does not list, so a backend that forgets to override
        this still never silently approximates a mechanism or an effort level it does not have.
        """
        caps = self.capabilities
        if budget.mechanism not in caps.mechanisms:
            offered = ", ".join(sorted(m.value for m in caps.mechanisms))
            return f"{self.model_id} has no {budget.mechanism.value} budgets; use --mode {offered}"
        native_effort = budget.kind is BudgetKind.EFFORT and budget.mechanism is Mechanism.NATIVE
        if native_effort and caps.effort_levels and budget.value not in caps.effort_levels:
            return f"unknown effort level {budget.value!r}; choose one of {', '.join(caps.effort_levels)}"
        return None

    def first_unsupported(self, budgets: Iterable[Budget]) -> tuple[Budget, str] | None:
        """The first budget this backend cannot honour, with the reason (None when all can run)."""
        for budget in budgets:
            reason = self.unsupported_reason(budget)
            if reason:
                return budget, reason
        return None

    def require(self, budgets: Iterable[Budget]) -> None:
        """Raise UserError for the first budget this backend cannot honour (the one place that loops)."""
        refused = self.first_unsupported(budgets)
        if refused is not None:
            raise UserError(refused[1])

    def context_problem(self, request: GenerationRequest) -> str | None:
        """Why this request's prompt (with its shots), budget and answer cannot fit the model's context.

        Asked by `overthink run` for the longest prompts before anything is written, so a sweep whose
        every record would overflow exits 2 with one line instead of filling the store with errors. The
        default cannot tell (None): a server refuses what does not fit, and that becomes an error record.
        """
        return None

    def max_output_tokens(self, request: GenerationRequest) -> int:
        """Most tokens one budget's request can generate: the runner's worst case for spending caps.

        The default is the thinking budget (or the natural cap) plus the answer allowance; backends
        that send an explicit max_tokens override it with exactly what they send.
        """
        sampling = request.sampling.resolve()
        thinking = request.budget.tokens if request.budget.tokens is not None else sampling.natural_cap
        return thinking + sampling.max_answer_tokens

    def estimate_cost(self, input_tokens: int, output_tokens: int) -> float:
        """Worst-case USD for these token counts; 0.0 for backends that cost nothing per token."""
        return 0.0

    def cancel(self) -> None:  # noqa: B027 (a safe default on purpose, not a forgotten abstract method)
        """Ask a running generation to stop at its next token (Ctrl-C); a no-op where nothing runs locally."""

    def live_tokens(self) -> int:
        """Tokens sampled so far, for a live tokens/s display; 0 when the backend cannot tell."""
        return 0

    async def aclose(self) -> None:  # noqa: B027 (a safe default on purpose)
        """Release connections or memory; the backend must stay usable afterwards (reused across tasks)."""

    async def preflight(self, budgets: Sequence[Budget]) -> str | None:
        """Check, before anything is written, that the sweep can work at all; the runner calls it once.

        Remote backends check that their SDK imports, their key is accepted and the model exists, with one
        cheap request, and raise `PreflightError` (a UserError: exit 2) with a one-line classified reason
        (auth, not found, unreachable, missing SDK). An inconclusive answer (the server is overloaded)
        returns a warning line and the sweep starts anyway. The default passes: an embedded or scripted
        backend has nothing remote to check (a missing model file already failed when it was built).
        """
        return None


class PreflightError(UserError):
    """What preflight found that makes the sweep impossible (exit 2, one line, nothing written)."""

    def __init__(self, message: str, kind: FailureKind) -> None:
        super().__init__(message)
        self.kind = kind


OptionsT = TypeVar("OptionsT", bound=BaseModel)


def parse_options(model: type[OptionsT], options: dict[str, Any], backend: str) -> OptionsT:
    """Validate a backend's options (extra="forbid"); a typo becomes a one-line UserError naming the key."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        where, what = first_problem(exc)
        raise UserError(f"bad {backend} option {where}: {what}") from None
