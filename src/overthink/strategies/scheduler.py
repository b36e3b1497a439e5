"""`scheduler@m,s`: early stopping -- probe the answer every m thinking tokens, stop once s agree.

While the model thinks, every m tokens a probe closes thinking on the current prefix and reads the
interim answer (`Forcer.answer`, which on llama.cpp evaluates only the few cue tokens on top of the
cached prefix and then rewinds). When the last s probes give the same extracted answer, thinking
stops and that answer is the record's answer. Each budget is a *maximum*: a trace whose probes never
settle is cut at the budget and answered there, exactly as `cot` would.

Because probes draw from their own RNG streams and the cache is rewound after each, the thinking trace
is token-for-token the trace `cot` records for the same (sample, seed): scheduler and cot records are
paired, and any accuracy difference is the stopping rule's alone.

Accounting follows the nested convention of the store: `total_generated` attributes each token to the
first budget whose run reaches it (summing a group's records gives the real compute, probes included),
and `extra["compute"]` is what a stand-alone run at this budget costs (thinking sampled + every probe
answer + the final answer). `extra` also lists the probes (position, answer), the number made and the
stop step.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from overthink.errors import UserError
from overthink.models.base import Backend, GenerationRequest
from overthink.strategies.base import Strategy
from overthink.strategies.common import answer_key, embedded_forced
from overthink.types import Budget, BudgetKind, Completion

DEFAULT_EVERY = 64
DEFAULT_AGREE = 3


class SchedulerStrategy(Strategy):
    """Stop thinking when the last `agree` probes (one every `every` tokens) give the same answer."""

    def __init__(self, every: int = DEFAULT_EVERY, agree: int = DEFAULT_AGREE) -> None:
        if every < 1 or agree < 1:
            raise UserError(f"scheduler@{every},{agree}: both the probe interval and the agreement count must be >= 1")
        self.every = every
        self.agree = agree

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
        return f"scheduler@{self.every},{self.agree}"

    def unsupported_reason(self, backend: Backend, budgets: Sequence[Budget]) -> str | None:
        """Why this strategy cannot run here (checked by `overthink run` before the store is opened)."""
        if not embedded_forced(backend, budgets):
            return "the scheduler probes a growing trace on the embedded engine: use --backend llamacpp --mode forced"
        if any(b.kind is BudgetKind.NATURAL for b in budgets):
            return "the scheduler needs token budgets (its maximum thinking), not 'natural'"
        return None

    async def run(
        self, backend: Backend, request: GenerationRequest, budgets: Sequence[Budget]
    ) -> dict[str, Completion]:
        reason = self.unsupported_reason(backend, budgets)
        if reason:
            raise UserError(reason)
        backend.require(budgets)
        return await asyncio.to_thread(self._blocking, backend, request, list(budgets))

    def probe_points(self, limit: int) -> list[int]:
        return list(range(self.every, limit + 1, self.every))

    def _blocking(self, backend: Any, request: GenerationRequest, budgets: list[Budget]) -> dict[str, Completion]:
        from overthink.models.forcing import Fork
        from overthink.models.llamacpp import LlamaCppBackend
        from overthink.strategies.common import forcer_session

        limits = sorted({b.tokens for b in budgets if b.tokens is not None})
        probes = set(self.probe_points(limits[-1]))
        history: list[tuple[int, str | None]] = []
        with forcer_session(backend, request.sampling.resolve(), limits[-1]) as (engine, forcer):
            prompt = backend.prompt_ids(engine, request)

            def settled(fork: Fork) -> bool:
                if fork.budget not in probes:
                    return False
                text = "<answer>" + engine.detokenize(fork.answer_ids)
                history.append((fork.budget, answer_key(request.sample, text, request.scorer)))
                last = [answer for _, answer in history[-self.agree:]]
                return len(last) == self.agree and last[0] is not None and len(set(last)) == 1

            result = forcer.run(prompt, sorted(probes | set(limits)), request.seed, stop_when=settled)
            out: dict[str, Completion] = {}
            previous = -1
            for limit in limits:
                stop = result.stopped_at
                reach = limit if stop is None or stop > limit else stop
                fork = result.forks[reach]
                base = LlamaCppBackend.completion_from(engine, prompt, result, fork)
                forks = sorted(result.forks.values(), key=lambda f: f.budget)
                own = [f for f in forks if previous < f.budget <= reach]
                upto = [f for f in forks if 0 <= f.budget <= reach]
                thinking = sum(f.generated - len(f.answer_ids) for f in upto)
                answers = sum(len(f.answer_ids) for f in upto if f.budget in probes or f.budget == reach)
                seen = [{"at": at, "answer": answer} for at, answer in history if at <= reach]
                early = stop is not None and stop <= limit
                completion = dataclasses.replace(
                    base,
                    total_generated=sum(f.generated for f in own),
                    wall_time_s=sum(f.wall_time_s for f in own),
                    extra={
                        **base.extra, "strategy": "scheduler", "every": self.every, "agree": self.agree,
                        "probes": seen, "probes_made": len(seen), "stop_step": stop if early else None,
                        "stopped_early": early, "compute": thinking + answers, "max_tokens": limit,
                    },
                )
                for budget in budgets:
                    if budget.tokens == limit:
                        out[budget.label] = completion
                previous = reach
        return out
