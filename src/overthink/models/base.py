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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from overthink.errors import UserError, first_problem
from overthink.models.generation import GenerationConfig
from overthink.models.prompt import RenderedPrompt
from overthink.types import Budget, BudgetKind, Completion, Mechanism


@dataclass(frozen=True)
class GenerationRequest:
    """One completion to produce: the rendered prompt, its budget, the sampling and the reproducing seed.

    Nothing here names a task: the run side renders the prompt (prompts/) and scores the reply."""

    prompt: RenderedPrompt
    budget: Budget
    seed: int
    sampling: GenerationConfig = field(default_factory=GenerationConfig)

    def at(self, budget: Budget) -> GenerationRequest:
        """The same request at another budget (same prompt, seed and sampling)."""
        return dataclasses.replace(self, budget=budget)

    def reseeded(self, seed: int) -> GenerationRequest:
        return dataclasses.replace(self, seed=seed)

    def chat(self) -> list[dict[str, str]]:
        """The messages to send at this request's budget."""
        return self.prompt.chat(self.budget)


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


class PartialFailure(BackendError):
    """Some budgets of one (sample, seed) came back and others failed: each budget stands on its own.

    A sweep must not throw away an answer that came back because another budget of the same request
    failed (a long budget timing out is the common case, and blaming every budget for it hides exactly
    the effect being measured). So backends and strategies raise this instead of their first failure:
    `completions` holds what came back (keyed by `Budget.label`), `failures` why each other budget
    failed, and the runner stores ok records for the one and error records, each with its own reason
    and kind, for the other. `samples` is the per-sample view for k-sample calls (`sample_k`); for a
    single sample it is `[completions]`. `kind` is the first failure's, for callers that see one error.
    """

    def __init__(self, completions: dict[str, Completion], failures: dict[str, Exception], *,
                 samples: list[dict[str, Completion]] | None = None) -> None:
        first = next(iter(failures.values()), None)
        kind = first.kind if isinstance(first, BackendError) else FailureKind.BACKEND
        failed = ", ".join(failures)
        super().__init__(f"budget(s) {failed} failed: {first}", kind=kind)
        self.completions = completions
        self.failures = failures
        self.samples = samples if samples is not None else [completions]


def settle(completions: dict[str, Completion], failures: dict[str, Exception]) -> dict[str, Completion]:
    """The completions when nothing failed; otherwise a `PartialFailure` carrying both."""
    if failures:
        raise PartialFailure(completions, failures)
    return completions


class Collected:
    """Completions and per-budget failures gathered part by part; `settle()` gives the outcome.

    The one place that decides what a failed part costs: a `PartialFailure` only its own failed
    budgets, any other exception every budget of that part, a UserError (a mistake of the sweep, not
    of one budget) the whole request. Cancellation is a BaseException and is never caught.
    """

    def __init__(self) -> None:
        self.completions: dict[str, Completion] = {}
        self.failures: dict[str, Exception] = {}

    async def part(self, budgets: Sequence[Budget], call: Awaitable[dict[str, Completion]]) -> None:
        try:
            self.completions.update(await call)
        except UserError:
            raise
        except PartialFailure as exc:
            self.completions.update(exc.completions)
            self.failures.update(exc.failures)
        except Exception as exc:  # classified by the runner (failure kind), kept for these budgets only
            self.failures.update({budget.label: exc for budget in budgets})

    def settle(self) -> dict[str, Completion]:
        return settle(self.completions, self.failures)


async def per_budget(budgets: Sequence[Budget],
                     produce: Callable[[Budget], Awaitable[Completion]]) -> dict[str, Completion]:
    """One `produce(budget)` after the other; a failure costs only its own budget (`PartialFailure`)."""

    async def one(budget: Budget) -> dict[str, Completion]:
        return {budget.label: await produce(budget)}

    collected = Collected()
    for budget in budgets:
        await collected.part([budget], one(budget))
    return collected.settle()


async def per_seed(budgets: Sequence[Budget], seeds: Sequence[int],
                   draw: Callable[[int], Awaitable[dict[str, Completion]]]) -> list[dict[str, Completion]]:
    """One `draw(seed)` per seed (every budget each), in order; a failed (seed, budget) costs only itself.

    When any failed, raises `PartialFailure` whose `samples` holds what each seed got and whose
    `failures` the first failure of each budget (a k-sample record at that budget cannot be made).
    """
    samples: list[dict[str, Completion]] = []
    failures: dict[str, Exception] = {}
    for seed in seeds:
        collected = Collected()
        await collected.part(budgets, draw(seed))
        samples.append(collected.completions)
        failures = {**collected.failures, **failures}  # the first failure of a budget is its reason
    if failures:
        raise PartialFailure(samples[0] if samples else {}, failures, samples=samples)
    return samples


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
        A budget that fails does not cost the others: they come back in a `PartialFailure`.
        """
        return await per_budget(budgets, lambda budget: self.generate(request.at(budget)))

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
