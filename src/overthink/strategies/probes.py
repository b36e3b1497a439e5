"""`cot` with dense probes (`--probe-every M`): the same chains of thought, plus an answer forked off the
trace every M thinking tokens, to see *when* the answer was decided and how longer thinking undid it.

One forced trace per (item, repeat) is forked at the budgets and at every multiple of M up to the
longest budget (`ForcedTracer.forced_trace`, the capability the scheduler uses), so the probes cost no
extra trace tokens: the budgets' answers and the probes fork off one trace, and each probe adds only
its answer (the embedded engine evaluates the answer cue on the cached prefix and rewinds; an
OpenAI-compatible server answers each probe over its prefix cache). The budgets' answers are the ones
`cot` gives for the same trace.

The records are `cot`'s, with their probes as child rows (`Completion.probes`, the `probes` table),
and two differences that make them another strategy label, `cot+probes@M` (so a store that holds both
never mixes them on one curve, and a run with probes after one without computes its own records
instead of finding `cot`'s ok rows and silently adding no probes): `compute_tokens` counts every probe
answer before the budget (what a stand-alone probing run at this budget costs, as the scheduler
counts its probes), and `total_generated` the probe answers each budget's stretch of the trace made
(the nested convention). There is no `natural` record: probes need a forced token budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from overthink.errors import UserError
from overthink.models.base import Backend, GenerationRequest, settle
from overthink.models.capabilities import ForcedTrace
from overthink.strategies.base import Item, Spend, Strategy
from overthink.strategies.common import forks_one_trace, tracer_for
from overthink.types import Budget, BudgetKind, Completion, ProbeAnswer

PROBE_LABEL = "cot+probes@"  # the recorded strategy name is PROBE_LABEL + M


def probe_label(every: int) -> str:
    """The strategy label of cot probed every `every` thinking tokens: "cot+probes@16"."""
    return f"{PROBE_LABEL}{every}"


class ProbedCotStrategy(Strategy):
    """Chain of thought per budget from one forced trace, with an answer forked off it every `every` tokens."""

    def __init__(self, every: int) -> None:
        if every < 1:
            raise UserError(f"--probe-every {every}: the probe interval must be >= 1 thinking token")
        self.every = every

    @property
    def name(self) -> str:
        return probe_label(self.every)

    def unsupported_reason(self, backend: Backend, budgets: Sequence[Budget]) -> str | None:
        """Why probes cannot run here: they fork a forced trace, which only some backends offer."""
        if not forks_one_trace(backend, budgets):
            return ("--probe-every forks answers off one forced trace: use the embedded engine (--backend "
                    "llamacpp) or an OpenAI-compatible server (--backend openai-compat), with --mode forced")
        if any(b.kind in (BudgetKind.NATURAL, BudgetKind.EFFORT) for b in budgets):
            return "--probe-every needs token budgets (e.g. --budgets 0,64,128), not 'natural' or an effort level"
        return None

    def spend(self, budgets: Sequence[Budget]) -> Spend:
        return Spend(probe_answers=len(self.grid(max((b.tokens or 0 for b in budgets), default=0))))

    def grid(self, limit: int) -> list[int]:
        """Every multiple of `every` from 0 up to `limit` (0: the answer before any thinking)."""
        return list(range(0, limit + 1, self.every))

    async def run(
        self, backend: Backend, request: GenerationRequest, budgets: Sequence[Budget], item: Item
    ) -> dict[str, Completion]:
        tracer = tracer_for(backend, budgets, self.unsupported_reason(backend, budgets))
        limits = sorted({b.tokens or 0 for b in budgets})
        grid = set(self.grid(limits[-1]))
        trace = await tracer.forced_trace(request, sorted(grid | set(limits)))
        out: dict[str, Completion] = {}
        failures: dict[str, Exception] = {}
        previous = -1
        for limit in limits:
            broken = sorted(at for at in trace.failed if at <= limit)
            if broken or limit not in trace.completions:  # the trace broke off before this budget's answer
                error = trace.failed[broken[0]] if broken else RuntimeError(f"the trace never reached {limit}")
                failures.update({b.label: error for b in budgets if (b.tokens or 0) == limit})
                continue
            completion = self._record(trace, limit, previous, grid, item)
            out.update({b.label: completion for b in budgets if (b.tokens or 0) == limit})
            previous = limit
        return settle(out, failures)

    def _record(self, trace: ForcedTrace, limit: int, previous: int, grid: set[int], item: Item) -> Completion:
        """The record of budget `limit`: its fork of the trace, with the probes forked before it."""
        forks = sorted(trace.completions.items())
        own = [c for at, c in forks if previous < at <= limit]
        probes = tuple(ProbeAnswer(at=at, text=c.text, answer=item.read_answer(c.text), answer_tokens=c.answer_tokens)
                       for at, c in forks if at < limit and at in grid)
        base = trace.completions[limit]
        return dataclasses.replace(
            base,
            total_generated=sum(c.total_generated for c in own),
            compute_tokens=base.usage.reasoning_tokens + base.answer_tokens + sum(p.answer_tokens for p in probes),
            wall_time_s=sum(c.wall_time_s for c in own),
            extra={**base.extra, "probe_every": self.every, "probes_made": len(probes)},
            probes=probes,
        )
