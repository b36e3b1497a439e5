"""Refuse, before anything is written, a sweep a backend cannot serve: with one line, not a store of errors.

Three questions per backend, all answered from the backend's own contract: can it spend every budget
of the sweep by the sweep's mechanism (`first_unsupported`), can the strategy work on it (a vote
needs sampling, best-of-n a verifier; `Strategy.unsupported_reason`), and do the prompts fit its
context. The last needs the most care. A prompt that does not fit fails at every budget of every
repeat: the store fills with error records, the run advises "run the same command again", and the
table shows no numbers. Few-shot anchoring is
where this happens (grades items already carry 8 or 16 examples; two shots of them triple the prompt),
but a long zebra puzzle or a user's own samples can do it too. The backend counts (`context_problem`,
a default that says "cannot tell" for servers, which refuse per request); this module picks what to ask:
the longest prompts of each task, with their shots, at the budget that thinks the longest.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

from overthink.errors import UserError
from overthink.models.base import Backend
from overthink.models.generation import GenerationConfig
from overthink.prompts.render import Shots, request_for
from overthink.strategies.base import Strategy
from overthink.tasks.base import TaskSpec
from overthink.types import Budget, BudgetKind, Mechanism, Sample

CANDIDATES = 16  # longest prompts (by characters) whose tokens are counted: enough for near-ties


def longest_thinking(budgets: Sequence[Budget], natural_cap: int) -> Budget:
    """The budget that can think the longest: natural and prompt-only budgets run to the natural cap."""
    def reach(budget: Budget) -> int:
        if budget.kind is BudgetKind.NONE:
            return -1
        if budget.tokens is None or budget.mechanism is not Mechanism.FORCED:
            return max(budget.tokens or 0, natural_cap)
        return budget.tokens
    return max(budgets, key=reach)


TaskItems = tuple[TaskSpec, Sequence[Sample], Callable[[Sample], Shots] | None]  # a task, its items, their shots


def refuse_unfit(backends: Sequence[Backend], strategy: Strategy, budgets: Sequence[Budget],
                 sampling: GenerationConfig, tasks: Sequence[TaskItems]) -> None:
    """Raise a one-line UserError for the first thing some backend cannot serve: a budget (the backend's
    own reason, e.g. more thinking than its context holds), the strategy, or a task's prompt that cannot
    fit its context with the longest budget."""
    for backend in backends:
        refused = backend.first_unsupported(list(budgets))
        if refused is not None:
            raise UserError(f"budget {refused[0].label} ({refused[0].mechanism.value}): {refused[1]}")
    for backend in backends:
        reason = strategy.unsupported_reason(backend, list(budgets))
        if reason:
            raise UserError(f"strategy {strategy.name}: {reason}")
    for spec, samples, shots_of in tasks:
        for backend in backends:  # a prompt that cannot fit fails every record: refuse it now
            refuse_overflow(backend, spec.name, samples, budgets, sampling, shots_of)


def refuse_overflow(backend: Backend, task: str, samples: Sequence[Sample], budgets: Sequence[Budget],
                    sampling: GenerationConfig, shots_of: Callable[[Sample], Shots] | None) -> None:
    """Raise a one-line UserError when one of the longest prompts cannot fit with the longest budget."""
    if not samples or not budgets:
        return
    budget = longest_thinking(budgets, sampling.resolve().natural_cap)

    def size(sample: Sample) -> int:
        shots = shots_of(sample) if shots_of is not None else ()
        return len(sample.prompt) + sum(len(q) + len(a) for q, a in shots)

    for sample in heapq.nlargest(CANDIDATES, samples, key=size):
        shots = shots_of(sample) if shots_of is not None else ()
        problem = backend.context_problem(request_for(sample, budget, 0, sampling, shots))
        if problem is not None:
            hint = "fewer --shots, " if shots else ""
            raise UserError(f"{backend.model_id} · {task}: item {sample.id} does not fit: {problem}; use "
                            f"{hint}a smaller budget or --max-answer-tokens, or a model with a larger context")
