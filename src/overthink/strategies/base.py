"""How compute is spent on one (sample, seed): the strategy contract and the default, `cot`.

A strategy turns one request and its budgets into one completion per budget. It may call the backend
many times (votes, best-of-n, probes); whatever it spends is reported in `Completion.total_generated`
so analysis can compare strategies at matched compute. The strategy name is part of every record key.

Like an Inspect solver, a strategy never sees a task or a provider: it gets the backend, the request
(a rendered prompt) and an `Item`, the run side's view of what is being solved: the sample (for
verifiers that read the problem) and `read_answer`, the task scorer's extracted answer, which votes,
probes and best-of-n compare. Scoring the final completions stays on the run side (runner/execute.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from overthink.models.base import Backend, GenerationRequest
from overthink.types import Budget, Completion, Sample

# completion text -> the normalized extracted answer a vote or probe compares (None: no answer)
AnswerReader = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Item:
    """The item a strategy solves, as the run side hands it over: the sample and how to read an answer."""

    sample: Sample
    read_answer: AnswerReader


@dataclass(frozen=True)
class Spend:
    """The most one request may cost, in the shape the runner's spending caps bound (runner/limits.py).

    `traces` chains of thought per budget (vote@k and best-of-n@k draw k), `probe_answers` answers forked
    off the trace besides one per budget (the scheduler's and cot+probes' probes), and `verified` when a
    verifier reads every candidate again (best-of-n). A chain of thought is the default: one trace."""

    traces: int = 1
    probe_answers: int = 0
    verified: bool = False


class Strategy(ABC):
    """How compute is spent on one (sample, seed); `unsupported_reason` defaults to "can run anywhere"."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Stable name stored in record keys, e.g. "cot", "vote@5"."""

    @abstractmethod
    async def run(
        self, backend: Backend, request: GenerationRequest, budgets: Sequence[Budget], item: Item
    ) -> dict[str, Completion]:
        """One completion per budget, keyed by `Budget.label`."""

    def unsupported_reason(self, backend: Backend, budgets: Sequence[Budget]) -> str | None:
        """Why this strategy cannot run on `backend` (asked by `overthink run` before the store opens)."""
        return None

    def spend(self, budgets: Sequence[Budget]) -> Spend:
        """The shape of the most one request over `budgets` may cost (`--max-tokens` admits on it)."""
        return Spend()

    async def preflight(self) -> str | None:
        """Ask what this strategy depends on beyond the backend (a served verifier) one cheap question
        before the store is created: raises PreflightError when the sweep cannot work, returns a warning
        when the answer is inconclusive. Nothing to ask by default."""
        return None


class CotStrategy(Strategy):
    """One chain of thought per budget; nested budgets share one trace when the backend can."""

    @property
    def name(self) -> str:
        return "cot"

    async def run(
        self, backend: Backend, request: GenerationRequest, budgets: Sequence[Budget], item: Item
    ) -> dict[str, Completion]:
        if len(budgets) == 1:
            return {budgets[0].label: await backend.generate(request.at(budgets[0]))}
        # Every backend offers generate_nested: a shared trace on forcing engines, one batch of
        # requests on hosted APIs with batching on, a plain loop otherwise.
        return await backend.generate_nested(request, budgets)
