"""Plain-language findings from an Analysis, most important first, each with the numbers behind it.

Headlines come only from tested curves (at least MIN_ITEMS common problems) whose family-wise
verdict found a trend: main curves first, then strata. Every interval printed next to a p-value
comes from the same max statistic, so "excludes zero" and "p < alpha" always agree. After the claims
come the facts that would explain them away: controls (difference in differences), unparsed answers
rising with reasoning, loops, natural ends, and budgets that were not honoured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from overthink.analysis.bootstrap import Curve
from overthink.analysis.diagnostics import Did
from overthink.analysis.natural import NaturalResult


class Analysis(Protocol):
    """What findings read of an analysis (summary.Analysis has it; findings never import summary)."""

    @property
    def curves(self) -> Sequence[Curve]: ...
    @property
    def parse_failures(self) -> Sequence[Curve]: ...
    @property
    def did(self) -> Sequence[Did]: ...
    @property
    def natural(self) -> Sequence[NaturalResult]: ...
    @property
    def looping(self) -> Sequence[dict[str, Any]]: ...
    @property
    def natural_vs_zero(self) -> Sequence[dict[str, Any]]: ...
    @property
    def compliance(self) -> Sequence[dict[str, Any]]: ...


@dataclass(frozen=True)
class Finding:
    kind: str  # curve | parse_failure | did | looping | natural | natural_vs_zero | compliance
    model: str
    task: str
    text: str
    headline: bool = False  # a tested, error-controlled claim (not a caveat or a description)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "task": self.task, "text": self.text,
                "headline": self.headline}


def _n(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _tokens(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.0f}"


def _lost(curve: Curve) -> str:
    parts = []
    for m in curve.missing:
        reasons = [f"{count} {name}" for count, name in ((m.error, "errored"), (m.unparsed, "unparsed"),
                                                        (m.absent, "absent")) if count]
        if reasons:
            parts.append(f"{m.budget}: {', '.join(reasons)}")
    return f"; items left out (not at every budget) — {'; '.join(parts)}" if parts else ""


def curve_text(curve: Curve) -> str:
    """One sentence for a tested curve: the call, the ends of the curve, both tests with their bounds."""
    v = curve.verdict
    assert v is not None
    ends = (f"{_n(float(curve.values[0]))} at {_tokens(float(curve.tokens[0]))} tokens, "
            f"{_n(float(curve.values[-1]))} at {_tokens(float(curve.tokens[-1]))} tokens")
    ci = v.ci or (float("nan"), float("nan"))
    text = (f"{curve.model} / {curve.task} ({curve.stratum}): {curve.metric.name} {v.arrow} {v.call} — {ends}; "
            f"fitted change {_n(v.effect)} [{_n(ci[0])}, {_n(ci[1])}] (family-wise {1 - v.alpha:.0%}), "
            f"p={_n(v.p, 4)}")
    if v.loss is not None and v.loss.loss > 0:
        text += (f"; largest loss {_n(v.loss.loss)} from {v.loss.from_budget} to {v.loss.to_budget} "
                 f"(lower bound {_n(v.loss.lower)}, p={_n(v.loss.p, 4)})")
    if curve.phases is not None and curve.phases.pattern and curve.phases.n_breakpoints:
        text += f"; phases {curve.phases.pattern}"
    kind = "main curve" if curve.main else "stratum"
    return text + f" ({curve.n_items} common problems, {kind}{_lost(curve)})."


def _did_text(item: Did) -> tuple[str, bool]:
    row = item.steps[-1]
    iv = row.interval

    def moved(amount: float) -> str:
        return f"fell {amount:.3f}" if amount >= 0 else f"rose {-amount:.3f}"

    if item.comparison == "shots":
        groups = ("zero-shot items", "k-shot items")
        yes, no = "k-shot examples remove part of the drop", "not distinguishable between zero-shot and k-shot"
    else:
        groups = ("treated items", "controls")
        yes = "larger on treated items than forcing alone explains"
        noun = "drop" if row.control_drop >= 0 else "change"
        no = f"not distinguishable from the {noun} on control items (forcing damage or noise)"
    significant = iv is not None and iv.excludes_zero
    if significant and row.did < 0:
        yes = f"smaller on {groups[0]} than on {groups[1]}"
    reading = yes if significant else no
    interval = f"[{_n(iv.lo)}, {_n(iv.hi)}], p={_n(iv.p, 4)}" if iv else "(too few items for an interval)"
    text = (f"{item.model} / {item.task}: from budget {item.baseline} to {row.budget} {groups[0]} "
            f"{moved(row.treated_drop)} and {groups[1]} {moved(row.control_drop)}; difference {row.did:.3f} "
            f"{interval} — {reading}.")
    return text, significant


def _curve_findings(result: Analysis) -> list[Finding]:
    def trend(curve: Curve) -> bool:
        return curve.verdict is not None and curve.verdict.call in ("inverse", "positive")

    tested = [c for c in result.curves if trend(c)]
    tested.sort(key=lambda c: (not c.main, c.verdict.call != "inverse" if c.verdict else True))
    out = [Finding("curve", c.model, c.task, curve_text(c), headline=True) for c in tested]
    for curve in result.curves:  # main curves without a trend still get their sentence
        if curve.main and not trend(curve) and curve.verdict is not None:
            if curve.verdict.tested:
                out.append(Finding("curve", curve.model, curve.task, curve_text(curve)))
            else:
                out.append(Finding("curve", curve.model, curve.task,
                                   f"{curve.model} / {curve.task} ({curve.stratum}): {curve.verdict.reason}."))
    return out


def _parse_findings(result: Analysis) -> list[Finding]:
    out = []
    for curve in result.parse_failures:
        v = curve.verdict
        if v is None or v.call != "inverse":
            continue
        shares = ", ".join(f"{b}: {x:.0%}" for b, x in zip(curve.budgets, curve.values, strict=True))
        out.append(Finding("parse_failure", curve.model, curve.task,
                           f"{curve.model} / {curve.task}: unparsed answers rise with reasoning ({shares}); "
                           f"largest rise {_n(v.loss.loss if v.loss else None)} (lower bound "
                           f"{_n(v.loss.lower if v.loss else None)}, p={_n(v.loss.p if v.loss else None, 4)}). "
                           "Unparsed answers are missing from the curves, not counted as safe or wrong "
                           "(accuracy counts them as wrong).", headline=True))
    return out


def _diagnostic_findings(result: Analysis) -> list[Finding]:
    out = []
    for item in result.did:
        text, significant = _did_text(item)
        out.append(Finding("did", item.model, item.task, text, headline=significant))
    for loop in result.looping:
        worst = max(loop["by_budget"], key=lambda r: r["looping_share"])
        if worst["looping_share"] > 0:
            out.append(Finding("looping", loop["model"], loop["task"],
                               f"{loop['model']} / {loop['task']}: {worst['looping_share']:.0%} of traces loop at "
                               f"budget {worst['budget']}; {loop['metric']} {_n(worst['metric'])} overall, "
                               f"{_n(worst['metric_non_looping'])} without looping traces."))
    for nat in result.natural:
        if nat.stratum != "all":
            continue
        w = nat.within_item
        interval = (f"[{_n(w.interval.lo * np.log(2))}, {_n(w.interval.hi * np.log(2))}], p={_n(w.interval.p, 4)}"
                    if w.interval else "(descriptive: too few items)")
        extra = ""
        if nat.within_item_uncensored is not None:
            extra = f"; without the {nat.censored} censored samples {_n(nat.within_item_uncensored.per_doubling)}"
        out.append(Finding("natural", nat.model, nat.task,
                           f"{nat.model} / {nat.task} natural overthinking: doubling the reasoning length of the "
                           f"same problem changes {nat.metric} by {_n(w.per_doubling)} {interval} (pooled across "
                           f"problems {_n(w.pooled_per_doubling)}, confounded by difficulty){extra}.",
                           headline=bool(w.interval and w.interval.excludes_zero)))
    for pair in result.natural_vs_zero:
        ci = pair["ci"]
        interval = f"[{_n(ci[0])}, {_n(ci[1])}]" if ci[0] is not None else "(too few items for an interval)"
        out.append(Finding("natural_vs_zero", pair["model"], pair["task"],
                           f"{pair['model']} / {pair['task']}: answers where traces ended by themselves score "
                           f"{pair['natural']:.3f} vs {pair['budget0']:.3f} at budget 0 on the same problems "
                           f"(difference {pair['difference']:.3f} {interval}; same answer "
                           f"{pair['same_answer_share']:.0%}).", headline=False))
    for comp in result.compliance:
        out.extend(Finding("compliance", comp["model"], comp["task"], f"{comp['model']} / {comp['task']}: {w}.")
                   for w in comp["warnings"])
    return out


def findings(result: Analysis) -> list[Finding]:
    """Claims first (tested trends, main curves before strata), then what could explain them away."""
    return [*_curve_findings(result), *_parse_findings(result), *_diagnostic_findings(result)]


def headline_inverse(result: Analysis) -> bool:
    """Does any headline claim that more reasoning makes a metric worse? (calibration's false alarm)"""
    return any(c.verdict is not None and c.verdict.call == "inverse" for c in result.curves)
