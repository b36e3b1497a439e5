"""Spending caps for a sweep: `--max-cost` (USD) and `--max-tokens` (tokens generated and read).

What a group spent counts every prompt, every generated token and, for best-of-n, every token its
verifier read and generated (a step judge on the embedded model, a served PRM): a verifier's tokens
are compute the sweep chose to spend, so `--max-tokens` stops a best-of-n sweep sooner than a vote.

The runner asks before every request group whether its worst case still fits under the caps,
counting what is already spent plus what requests in flight may still spend. The worst case is the
backend's own bound (`max_output_tokens(request)`: the exact max_tokens it would send, by default the
budget or the natural cap plus the answer allowance; `estimate_cost(input, output)`: its price table,
by default free), times what the strategy may spend beyond one chain (`Strategy.spend`: vote@k's k
traces, the scheduler's probe answers, best-of-n's verifier reading every candidate). So a cap is never
crossed by a request the runner chose to send (a verifier's own instructions aside); the sweep stops
one group early instead and says what was spent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from overthink.models.base import Backend, GenerationRequest
from overthink.strategies.base import Spend
from overthink.types import Budget, Completion

CHARS_PER_TOKEN_LOW = 3.0  # a deliberately low ratio, so prompt-token bounds err on the high side


@dataclass(frozen=True)
class Bound:
    """Worst-case spend of one request group."""

    tokens: int
    cost: float


@dataclass
class CostTracker:
    """Shared by every executor of one run; single event loop, so no locking is needed."""

    max_cost: float | None = None
    max_tokens: int | None = None
    spent_cost: float = 0.0
    spent_tokens: int = 0
    reserved: dict[int, Bound] = field(default_factory=dict)
    stopped_reason: str | None = None
    _next: int = 0

    @property
    def active(self) -> bool:
        return self.max_cost is not None or self.max_tokens is not None

    def admit(self, bound: Bound) -> int | None:
        """A ticket when the group's worst case fits under both caps (reserving it), else None."""
        held_tokens = sum(b.tokens for b in self.reserved.values())
        held_cost = sum(b.cost for b in self.reserved.values())
        if self.max_tokens is not None and self.spent_tokens + held_tokens + bound.tokens > self.max_tokens:
            self.stopped_reason = (
                f"--max-tokens {self.max_tokens}: the next request could use up to {bound.tokens} tokens "
                f"and {self.spent_tokens} are spent"
            )
            return None
        if self.max_cost is not None and self.spent_cost + held_cost + bound.cost > self.max_cost:
            self.stopped_reason = (
                f"--max-cost {self.max_cost:g}: the next request could cost up to ${bound.cost:.4f} "
                f"and ${self.spent_cost:.4f} is spent"
            )
            return None
        self._next += 1
        self.reserved[self._next] = bound
        return self._next

    def settle(self, ticket: int, completions: Sequence[Completion]) -> None:
        """Replace a reservation by what the group really spent."""
        self.reserved.pop(ticket, None)
        for completion in completions:  # total_generated: a nested budget's shared prefix counted once
            self.spent_tokens += completion.usage.input_tokens + completion.total_generated
            self.spent_tokens += verifier_tokens(completion)
            self.spent_cost += completion.usage.cost_usd

    def charge(self, completion: Completion) -> None:
        """Count a completion no group reserved for (a refusal judge's reply: short, counted after the fact)."""
        generated = completion.total_generated or completion.usage.output_tokens
        self.spent_tokens += completion.usage.input_tokens + generated
        self.spent_cost += completion.usage.cost_usd

    def release(self, ticket: int, bound: Bound | None = None) -> None:
        """A group that failed before spending: count its worst case only if asked (errors may have billed)."""
        self.reserved.pop(ticket, None)
        if bound is not None:
            self.spent_tokens += bound.tokens
            self.spent_cost += bound.cost

    def summary(self) -> str:
        parts = [f"{self.spent_tokens} tokens"]
        if self.max_cost is not None or self.spent_cost:
            parts.append(f"${self.spent_cost:.4f}")
        return "spent " + ", ".join(parts)


def verifier_tokens(completion: Completion) -> int:
    """Tokens a verifier read and generated to judge a record's candidates (best-of-n): spent by the run
    like the generating model's, so the caps count them (the record's `compute_tokens` does too)."""
    return sum(s.verifier_tokens + s.verifier_generated for s in completion.samples)


def group_bound(backend: Backend, request: GenerationRequest, budgets: Sequence[Budget],
                prompt_chars: int | None = None, spend: Spend | None = None) -> Bound:
    """Worst-case tokens and cost of running `budgets` for one request on `backend` with a strategy
    that spends `spend` (default: one chain of thought per budget).

    `prompt_chars` is the run side's size of the prompt (prompts.render.prompt_chars); without it the
    rendered chat's own characters are counted. Each of a strategy's traces is bounded like a chain of
    thought; probes add an answer each; a verifier is bounded by one more reading of every candidate
    and its prompt (its own instructions and verdicts are counted when spent, so only they can pass
    the bound)."""
    spend = spend or Spend()
    if prompt_chars is None:
        prompt_chars = request.prompt.chars
    input_tokens = math.ceil(prompt_chars / CHARS_PER_TOKEN_LOW)
    nested = backend.capabilities.nested and len(budgets) > 1
    outputs = [backend.max_output_tokens(request.at(budget)) for budget in budgets]
    # nested: one shared trace up to the largest budget, plus one answer per budget
    answer = request.sampling.resolve().max_answer_tokens
    per_trace = max(outputs) + answer * len(budgets) if nested else sum(outputs)
    output_total = per_trace * spend.traces + answer * spend.probe_answers
    inputs = input_tokens * len(budgets) * spend.traces  # every record counts each trace's prompt once
    verifier = inputs + output_total if spend.verified else 0
    cost = float(backend.estimate_cost(inputs, output_total))
    return Bound(tokens=inputs + output_total + verifier, cost=cost)
