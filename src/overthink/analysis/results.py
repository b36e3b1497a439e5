"""The typed results of trend verdicts and phases: what analyze, the report and the gate read.

Kept apart from the code that computes them so every layer (curves, findings, report) can name these
types without importing the statistics, and so the analysis package has no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from overthink.analysis.inference import finite_or_none as _n

ARROWS = {"inverse": "↘", "positive": "↗", "flat": "→", "noisy": "~", "descriptive": "·"}


@dataclass(frozen=True)
class Loss:
    """The reported loss of a curve: from one budget to one with more reasoning, in goodness units."""

    from_budget: str
    to_budget: str
    loss: float
    lower: float  # simultaneous lower bound at the test's level: > 0 exactly when p < alpha
    p: float  # adjusted: compare with alpha

    def to_json(self) -> dict[str, Any]:
        return {"from": self.from_budget, "to": self.to_budget, "loss": _n(self.loss), "lower": _n(self.lower),
                "p": _n(self.p)}


@dataclass(frozen=True)
class Verdict:
    """The call on one curve and every number behind it."""

    call: str  # inverse | positive | flat | noisy | descriptive
    reason: str
    metric: str
    unit: str
    min_effect: float
    alpha: float
    group: str = "descriptive"  # main | strata | descriptive
    curves_tested: int = 0  # curves sharing this group's maximum
    effect: float | None = None  # fitted change over the token range, metric units (signed as the metric)
    ci: tuple[float, float] | None = None  # simultaneous interval of the effect
    p: float = 1.0  # slope test, adjusted
    slope: float | None = None
    loss: Loss | None = None

    @property
    def arrow(self) -> str:
        return ARROWS[self.call]

    @property
    def tested(self) -> bool:
        return self.call != "descriptive"

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.call, "arrow": self.arrow, "reason": self.reason, "metric": self.metric,
                "unit": self.unit, "min_effect": self.min_effect, "alpha": self.alpha, "group": self.group,
                "curves_tested": self.curves_tested, "effect": _n(self.effect),
                "ci": [_n(v) for v in self.ci] if self.ci else [None, None],
                "p": _n(self.p) if self.tested else None,  # an untested curve has no p-value, not 1.0
                "slope": _n(self.slope), "loss": self.loss.to_json() if self.loss else None}


@dataclass(frozen=True)
class Breakpoint:
    tokens: float
    ci: tuple[float, float]


@dataclass(frozen=True)
class Segment:
    from_tokens: float
    to_tokens: float
    change: float  # fitted change of the metric over the segment (metric units)
    ci: tuple[float, float]  # simultaneous over the segments
    p: float
    label: str  # improve | plateau | degrade


@dataclass(frozen=True)
class Phases:
    n_breakpoints: int = 0
    breakpoints: tuple[Breakpoint, ...] = ()
    segments: tuple[Segment, ...] = ()
    note: str = ""
    # p-value of each step of the breakpoint count's test ("k - 1 breakpoints suffice", k = 1, 2, ...);
    # the count is the last step whose p is below alpha
    step_p: tuple[float, ...] = ()

    @property
    def pattern(self) -> str:
        labels: list[str] = []
        for segment in self.segments:
            if not labels or labels[-1] != segment.label:
                labels.append(segment.label)
        return "-".join(labels)

    def to_json(self) -> dict[str, Any]:
        return {"n_breakpoints": self.n_breakpoints, "pattern": self.pattern, "note": self.note,
                "breakpoint_tests_p": list(self.step_p),
                "breakpoints": [{"tokens": b.tokens, "ci": list(b.ci)} for b in self.breakpoints],
                "segments": [{"from_tokens": s.from_tokens, "to_tokens": s.to_tokens, "change": s.change,
                              "ci": list(s.ci), "p": s.p, "label": s.label} for s in self.segments]}
