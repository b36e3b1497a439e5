"""`scheduler@m,s` and `settle@m,s,eps`: early stopping -- probe the answer every m thinking tokens, and
stop once s probes agree, or once the probes' answer distribution stops changing.

While the model thinks, every m tokens a probe closes thinking on the current prefix and reads the
interim answer (any backend with the `ForcedTracer` capability: the embedded engine evaluates only the
few cue tokens on top of the cached prefix and then rewinds; an OpenAI-compatible server generates
the trace in pieces that end at the probes and answers each probe over its prefix cache). When the
last s probes give the same extracted answer, thinking stops and that answer is the record's answer.
`settle@m,s,eps` stops on settled confidence instead ("halt once marginal confidence plateaus"): each
probe contributes a distribution over answers (a point mass at its extracted answer; token probabilities
would refine it, which no backend passes to probes yet), and thinking stops once the mean distribution
of the last s probes is within total-variation distance eps of the mean of the s probes before them.
It tolerates an answer that wavers between the same options, which the agreement rule never stops on;
the record's answer is the answer at the stop, as with agreement.
Each budget is a *maximum*: a trace whose probes never settle is cut at the budget and answered there,
exactly as `cot` would.

Because probes draw from their own RNG streams and the cache is rewound after each, the thinking trace
is token-for-token the trace `cot` records for the same (sample, seed) on the embedded engine, and on a
server wherever decoding is deterministic (greedy; a sampled trace cut into pieces at the probes is
another draw, since each piece has its own seed): scheduler and cot records are paired, and any
accuracy difference is the stopping rule's alone.

Accounting follows the nested convention of the store: `total_generated` attributes each token to the
first budget whose run reaches it (summing a group's records gives the real compute, probes included),
and `compute_tokens` is what a stand-alone run at this budget costs, by the one definition every
strategy shares: the realized thinking up to the answer + every probe's answer + the final answer.
`extra["compute"]` (kept as it was) counts the same with the *sampled* thinking, so it is lower by the
forced "Wait" tokens. `extra` also lists the probes (position, answer), the number made and the stop
step.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

from overthink.errors import UserError
from overthink.models.base import Backend, GenerationRequest, settle
from overthink.models.capabilities import ForcedTrace
from overthink.strategies.base import Item, Spend, Strategy
from overthink.strategies.common import forks_one_trace, tracer_for
from overthink.types import Budget, BudgetKind, Completion

DEFAULT_EVERY = 64
DEFAULT_AGREE = 3


def agreed(answers: Sequence[str | None], agree: int) -> bool:
    """The last `agree` probe answers are one and the same extracted answer."""
    last = answers[-agree:]
    return len(last) == agree and last[0] is not None and len(set(last)) == 1


def distribution_settled(answers: Sequence[str | None], window: int, tolerance: float) -> bool:
    """The answer distribution of the last `window` probes is within total variation `tolerance` of the
    distribution of the `window` probes before them (and the last probe has an answer)."""
    if len(answers) < 2 * window or answers[-1] is None:
        return False
    recent, before = Counter(answers[-window:]), Counter(answers[-2 * window:-window])
    distance = 0.5 * sum(abs(recent[a] - before[a]) for a in recent.keys() | before.keys()) / window
    return distance <= tolerance + 1e-12


def token_limits(budgets: Sequence[Budget]) -> list[int]:
    """The budgets' thinking limits, ascending and once each (a budget is the scheduler's maximum)."""
    return sorted({b.tokens for b in budgets if b.tokens is not None})


class SchedulerStrategy(Strategy):
    """Stop thinking when the last `agree` probes (one every `every` tokens) give the same answer, or, with
    a `tolerance`, when the answer distribution of the last `agree` probes matches the `agree` before."""

    def __init__(self, every: int = DEFAULT_EVERY, agree: int = DEFAULT_AGREE, tolerance: float | None = None) -> None:
        if every < 1 or agree < 1:
            raise UserError(f"scheduler@{every},{agree}: both the probe interval and the agreement count must be >= 1")
        if tolerance is not None and not 0 <= tolerance < 1:
            raise UserError(f"settle@{every},{agree},{tolerance}: the tolerance is a total variation in [0, 1)")
        self.every = every
        self.agree = agree
        self.tolerance = tolerance

    @classmethod
    def from_param(cls, param: str | None) -> SchedulerStrategy:
        """Parse "m,s" from "scheduler@m,s" (defaults 64,3 when no parameter is given)."""
        if param is None:
            return cls()
        parts = [p.strip() for p in param.split(",")]
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise UserError(f"scheduler@{param}: expected whole numbers M,S, e.g. scheduler@64,3") from None
        if len(numbers) != 2:
            raise UserError(f"scheduler@{param}: expected two numbers M,S (probe every M tokens, stop when S agree)")
        return cls(numbers[0], numbers[1])

    @property
    def name(self) -> str:
        if self.tolerance is not None:
            return f"settle@{self.every},{self.agree},{self.tolerance:g}"
        return f"scheduler@{self.every},{self.agree}"

    def stops(self, answers: Sequence[str | None]) -> bool:
        """The stopping rule on the probe answers so far."""
        if self.tolerance is None:
            return agreed(answers, self.agree)
        return distribution_settled(answers, self.agree, self.tolerance)

    def unsupported_reason(self, backend: Backend, budgets: Sequence[Budget]) -> str | None:
        """Why this strategy cannot run here (checked by `overthink run` before the store is opened)."""
        if not forks_one_trace(backend, budgets):
            return ("the scheduler probes a growing forced trace: use the embedded engine (--backend llamacpp) "
                    "or an OpenAI-compatible server (--backend openai-compat), with --mode forced")
        if any(b.kind is BudgetKind.NATURAL for b in budgets):
            return "the scheduler needs token budgets (its maximum thinking), not 'natural'"
        return None

    async def run(
        self, backend: Backend, request: GenerationRequest, budgets: Sequence[Budget], item: Item
    ) -> dict[str, Completion]:
        tracer = tracer_for(backend, budgets, self.unsupported_reason(backend, budgets))
        limits = token_limits(budgets)
        probes = set(self.probe_points(limits[-1]))
        history: list[tuple[int, str | None]] = []

        def settled(at: int, text: str) -> bool:
            if at not in probes:
                return False
            history.append((at, item.read_answer(text)))
            return self.stops([answer for _, answer in history])

        trace = await tracer.forced_trace(request, sorted(probes | set(limits)), settled)
        out: dict[str, Completion] = {}
        failures: dict[str, Exception] = {}
        previous = -1
        for limit in limits:
            stop = trace.stopped_at
            reach = limit if stop is None or stop > limit else stop
            broken = sorted(at for at in trace.failed if at <= reach)
            if broken:  # the trace broke off before this budget's answer: only the longer budgets fail
                failures.update({b.label: trace.failed[broken[0]] for b in budgets if b.tokens == limit})
                continue
            completion = self._record(trace, limit, reach, previous, probes, history)
            out.update({b.label: completion for b in budgets if b.tokens == limit})
            previous = reach
        return settle(out, failures)

    def spend(self, budgets: Sequence[Budget]) -> Spend:
        limits = token_limits(budgets)
        return Spend(probe_answers=len(self.probe_points(limits[-1])) if limits else 0)

    def probe_points(self, limit: int) -> list[int]:
        return list(range(self.every, limit + 1, self.every))

    def _record(self, trace: ForcedTrace, limit: int, reach: int, previous: int, probes: set[int],
                history: list[tuple[int, str | None]]) -> Completion:
        """The record of budget `limit`, answered at `reach` (the stop step when it came first)."""
        forks = sorted(trace.completions.items())
        own = [c for at, c in forks if previous < at <= reach]
        upto = [(at, c) for at, c in forks if 0 <= at <= reach]
        thinking = sum(c.total_generated - c.answer_tokens for _, c in upto)
        answers = sum(c.answer_tokens for at, c in upto if at in probes or at == reach)
        seen = [{"at": at, "answer": answer} for at, answer in history if at <= reach]
        stop = trace.stopped_at
        early = stop is not None and stop < limit  # stopping at the budget itself saves nothing: not early
        base = trace.completions[reach]
        return dataclasses.replace(
            base,
            total_generated=sum(c.total_generated for c in own),
            compute_tokens=base.usage.reasoning_tokens + answers,
            wall_time_s=sum(c.wall_time_s for c in own),
            extra={
                **base.extra, "strategy": "scheduler", "every": self.every, "agree": self.agree,
                **({"rule": "settle", "tolerance": self.tolerance} if self.tolerance is not None else {}),
                "probes": seen, "probes_made": len(seen), "stop_step": stop if early else None,
                "stopped_early": early, "compute": thinking + answers, "max_tokens": limit,
            },
        )
