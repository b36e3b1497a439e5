"""The typed results of the equal-compute comparison: what `analyze --json`, the CLI, the report and
the findings read.

Kept apart from the code that computes them (equal_compute.py) so the report and the CLI can name
these types without importing the statistics, as results.py does for the trend verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from overthink.analysis.inference import MIN_ITEMS
from overthink.analysis.inference import finite_or_none as _n
from overthink.analysis.missing import Missing
from overthink.tasks.metric import Metric

# The call on one matched contrast (strategy minus chain of thought at the same compute, goodness units)
CALLS = {
    "better": "significantly better than {ref} at matched compute",
    "worse": "significantly worse than {ref} at matched compute",
    "negligible": "significant, but smaller than the minimum effect",
    "equivalent": "no difference beyond the minimum effect (the interval lies inside it)",
    "unclear": "not distinguishable from {ref} (the interval includes the minimum effect)",
    "untested": "not tested",
}

# A strategy's verdict over all of its matched budgets
VERDICTS = {
    "better": "beats {ref} at matched compute",
    "worse": "loses to {ref} at matched compute",
    "mixed": "better than {ref} at some compute, worse at other",
    "equivalent": "no difference from {ref} beyond the minimum effect at matched compute",
    "unclear": "not distinguishable from {ref} at matched compute",
    "untested": "not tested against {ref}",
}


@dataclass(frozen=True)
class Matched:
    """A strategy's budget against chain of thought at the same total compute, with its test.

    `kind` is how the chain-of-thought value was found: "interpolated" (linearly in log compute between
    the two CoT budgets that bracket this compute, or exactly at one), "nearest" (outside CoT's range,
    its end budget within MATCH_RATIO of this compute), or "none" (no CoT budget close enough: untested).
    The interval is simultaneous over every matched contrast of the (model, task, mechanism) and
    excludes zero exactly when `p` (adjusted the same way) is below alpha."""

    kind: str
    cot_budgets: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()  # of each CoT budget in the matched value (they add up to 1)
    cot_compute: float | None = None
    cot_value: float | None = None
    ratio: float | None = None  # this strategy's compute / the matched CoT compute
    difference: float | None = None  # strategy - CoT, metric units (signed as the metric)
    lo: float | None = None
    hi: float | None = None
    p: float | None = None
    call: str = "untested"
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "cot_budgets": list(self.cot_budgets), "weights": [_n(w) for w in self.weights],
                "cot_compute": _n(self.cot_compute), "cot_value": _n(self.cot_value), "ratio": _n(self.ratio),
                "difference": _n(self.difference), "ci": [_n(self.lo), _n(self.hi)], "p": _n(self.p),
                "call": self.call, "reason": self.reason}


@dataclass(frozen=True)
class ComputePoint:
    """One (strategy, budget): its mean total compute per problem and its metric, each with a 95%
    percentile interval from the problem bootstrap every strategy of the comparison shares."""

    strategy: str
    budget: str
    compute: float
    compute_lo: float
    compute_hi: float
    value: float
    lo: float
    hi: float
    matched: Matched | None = None  # None for the reference itself

    def to_json(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "budget": self.budget, "compute": _n(self.compute),
                "compute_ci": [_n(self.compute_lo), _n(self.compute_hi)], "value": _n(self.value),
                "ci": [_n(self.lo), _n(self.hi)],
                "matched": self.matched.to_json() if self.matched is not None else None}


@dataclass(frozen=True)
class Rerank:
    """The verifier's own effect: best-of-n@N minus vote@N at one budget.

    Both draw the same N samples (the same sub-seeds), so the difference is what reranking by the
    verifier did instead of voting, on the same candidates, and `extra_compute` what it cost (the
    verifier's tokens). The interval is the 95% percentile interval of the paired difference in the
    comparison's one problem bootstrap: pointwise, not part of the family-wise test against CoT."""

    strategy: str  # best-of-n@N[,VERIFIER]
    vote: str  # vote@N
    budget: str
    difference: float  # metric units, signed as the metric
    lo: float
    hi: float
    extra_compute: float  # mean compute per problem of best-of-n minus that of the vote

    def to_json(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "vote": self.vote, "budget": self.budget,
                "difference": _n(self.difference), "ci": [_n(self.lo), _n(self.hi)],
                "extra_compute": _n(self.extra_compute)}


@dataclass(frozen=True)
class ComputeTable:
    """Every strategy's metric against total compute for one (model, task, mechanism, main curve).

    A main curve is the task's `all` curve, or for a per-label metric (refusal) one label's curve
    (harmful: refusal, benign: over-refusal), never pooled. Values are on the problems present at
    every (strategy, budget), so every difference is paired by problem."""

    model: str
    task: str
    mechanism: str
    stratum: str
    metric: Metric
    reference: str | None  # the chain-of-thought strategy the others are matched against
    strategies: tuple[str, ...]
    points: tuple[ComputePoint, ...]
    n_items: int
    n_clusters: int
    n_items_total: int
    alpha: float
    contrasts_tested: int = 0  # matched contrasts sharing this comparison's maximum
    verdicts: dict[str, str] = field(default_factory=dict)  # strategy -> VERDICTS key
    missing: tuple[Missing, ...] = ()  # budgets named "strategy budget"
    reranks: tuple[Rerank, ...] = ()  # best-of-n@N vs vote@N on the same samples, per common budget
    verifiers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # strategy -> its records' verifiers

    @property
    def descriptive(self) -> bool:
        return min(self.n_items, self.n_clusters or self.n_items) < MIN_ITEMS

    def of(self, strategy: str) -> list[ComputePoint]:
        return [p for p in self.points if p.strategy == strategy]

    def verdict_text(self, strategy: str) -> str:
        return VERDICTS[self.verdicts.get(strategy, "untested")].format(ref=self.reference or "chain of thought")

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model, "task": self.task, "mechanism": self.mechanism, "stratum": self.stratum,
            "metric": self.metric.name, "unit": self.metric.unit, "higher_is_better": self.metric.higher_is_better,
            "min_effect": self.metric.min_effect, "reference": self.reference, "strategies": list(self.strategies),
            "n_items": self.n_items, "n_clusters": self.n_clusters, "n_items_total": self.n_items_total,
            "descriptive": self.descriptive, "alpha": self.alpha, "contrasts_tested": self.contrasts_tested,
            "verdicts": [{"strategy": s, "verdict": self.verdicts.get(s, "untested"),
                          "text": self.verdict_text(s), "verifiers": list(self.verifiers.get(s, ()))}
                         for s in self.strategies if s != self.reference],
            "points": [p.to_json() for p in self.points],
            "missing": [{"budget": m.budget, "error": m.error, "unparsed": m.unparsed, "absent": m.absent}
                        for m in self.missing if m.total],
            "reranks": [r.to_json() for r in self.reranks],
        }


def strategy_verdict(calls: list[str]) -> str:
    """A strategy's verdict from the calls of its matched budgets (untested ones left out)."""
    tested = [c for c in calls if c != "untested"]
    better, worse = "better" in tested, "worse" in tested
    if better and worse:
        return "mixed"
    if better or worse:
        return "better" if better else "worse"
    if not tested:
        return "untested"
    return "equivalent" if all(c in ("equivalent", "negligible") for c in tested) else "unclear"
