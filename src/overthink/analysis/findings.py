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

from overthink.analysis import wording
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


def curve_text(curve: Curve, name: str | None = None) -> str:
    """One sentence for a tested curve: the call and the test that made it, the ends of the curve, both
    tests with their bounds (a test that did not reach alpha says so beside its number)."""
    v = curve.verdict
    assert v is not None
    ends = (f"{_n(float(curve.values[0]))} at {_tokens(float(curve.tokens[0]))} tokens, "
            f"{_n(float(curve.values[-1]))} at {_tokens(float(curve.tokens[-1]))} tokens")
    ci = v.ci or (float("nan"), float("nan"))
    head = name or f"{curve.model} / {curve.task}"
    text = (f"{head} ({curve.stratum}): {curve.metric.name} {v.arrow} {wording.call_text(curve)} — {ends}; "
            f"fitted change {_n(v.effect)} [{_n(ci[0])}, {_n(ci[1])}] (family-wise {1 - v.alpha:.0%}), "
            f"{wording.significance(v.p, v.alpha)}")
    if v.call in wording.TREND_CALLS and "slope" not in v.reason:
        text += " (the slope test did not make this call)"
    if v.loss is not None and v.loss.loss > 0:
        text += (f"; largest loss {_n(v.loss.loss)} from {v.loss.from_budget} to {v.loss.to_budget} "
                 f"(lower bound {_n(v.loss.lower)}, {wording.significance(v.loss.p, v.alpha)})")
    if wording.phases_shown(curve):
        text += f"; phases {wording.phases_text(curve)}"
    kind = "main curve" if curve.main else "stratum"
    return text + f" ({curve.n_items} common problems, {kind}{_lost(curve)})."


def did_groups(item: Did) -> tuple[str, str]:
    """The two groups of a difference in differences as a sentence names them."""
    return item.groups[0] + " items", item.groups[1] + " items"


def _did_text(item: Did, name: str) -> tuple[str, bool]:
    """Both groups' change from the baseline said in the metric's own direction ("abs_error rose 0.110
    (worse)"), with the item counts, then the difference and what it means."""
    row = item.steps[-1]
    iv = row.interval
    groups = did_groups(item)
    if item.comparison == "shots":
        yes, no = "k-shot examples remove part of the drop", "not distinguishable between zero-shot and k-shot"
    else:
        yes = f"larger on {groups[0]} than forcing alone explains ({groups[1]} are the control)"
        noun = "drop" if row.control_drop >= 0 else "change"
        no = f"not distinguishable from the {noun} on {groups[1]} (the control: forcing damage or noise)"
    significant = iv is not None and iv.excludes_zero
    if significant and row.did < 0:
        yes = f"smaller on {groups[0]} than on {groups[1]}"
    reading = yes if significant else no
    interval = f"[{_n(iv.lo)}, {_n(iv.hi)}], {wording.significance(iv.p, 1 - iv.level)}" if iv else \
        "(too few items for an interval)"
    moved = [wording.change(item.metric, drop, item.higher_is_better) for drop in (row.treated_drop, row.control_drop)]
    text = (f"{name}: from budget {item.baseline} to {row.budget}, on {row.n_treated} {groups[0]} {moved[0]} and "
            f"on {row.n_control} {groups[1]} {moved[1]}; difference of the drops {_n(row.did)} {interval} — "
            f"{reading}.")
    return text, significant


def family_names(result: Analysis) -> wording.FamilyNames:
    """Names for every family the analysis mentions (mechanism and strategy named where needed)."""
    keys = [c.family for c in result.curves]
    keys += [(d.model, d.task, d.mechanism, d.strategy) for d in result.did]
    keys += [(n.model, n.task, n.mechanism, n.strategy) for n in result.natural]
    keys += [(str(r["model"]), str(r["task"]), str(r["mechanism"]), str(r["strategy"]))
             for r in (*result.looping, *result.natural_vs_zero)]
    return wording.FamilyNames(keys)


def _curve_findings(result: Analysis, names: wording.FamilyNames) -> list[Finding]:
    def trend(curve: Curve) -> bool:
        return curve.verdict is not None and curve.verdict.call in ("inverse", "positive")

    tested = [c for c in result.curves if trend(c)]
    tested.sort(key=lambda c: (not c.main, c.verdict.call != "inverse" if c.verdict else True))
    out = [Finding("curve", c.model, c.task, curve_text(c, names(*c.family)), headline=True) for c in tested]
    for curve in result.curves:  # main curves without a trend still get their sentence
        if curve.main and not trend(curve) and curve.verdict is not None:
            if curve.verdict.tested:
                out.append(Finding("curve", curve.model, curve.task, curve_text(curve, names(*curve.family))))
            else:
                out.append(Finding("curve", curve.model, curve.task, f"{names(*curve.family)} ({curve.stratum}): "
                                   f"{wording.call_text(curve)}; no verdict, no p-value."))
    return out


def _parse_findings(result: Analysis, names: wording.FamilyNames) -> list[Finding]:
    out = []
    for curve in result.parse_failures:
        v = curve.verdict
        if v is None or v.call != "inverse":
            continue
        shares = ", ".join(f"{b}: {x:.0%}" for b, x in zip(curve.budgets, curve.values, strict=True))
        out.append(Finding("parse_failure", curve.model, curve.task,
                           f"{names(*curve.family)}: unparsed answers rise with reasoning ({shares}, "
                           f"{curve.n_items} common problems); largest rise {_n(v.loss.loss if v.loss else None)} "
                           f"(lower bound {_n(v.loss.lower if v.loss else None)}, "
                           f"p={_n(v.loss.p if v.loss else None, 4)}). Unparsed answers are missing from the "
                           "curves, not counted as safe or wrong (accuracy counts them as wrong).", headline=True))
    return out


def natural_vs_zero_counts(pair: dict[str, Any]) -> str:
    """"on 20 pairs of 20 problems, 5 censored natural ends left out": what the comparison rests on."""
    censored = pair.get("censored_left_out") or 0
    left = f", {censored} censored left out (never ended by themselves)" if censored else ""
    return (f"on {wording.plural(int(pair['n_pairs']), 'pair')} of {wording.plural(int(pair['n_items']), 'problem')}"
            f"{left}")


def same_answer_text(pair: dict[str, Any]) -> str:
    """"same answer 15 of 20 (75%)"; below the minimum count only the count, no percentage."""
    if pair.get("same_answer") is None:
        return "same answer n/a (no extracted answers)"
    return f"same answer {wording.share(int(pair['same_answer']), int(pair['n_pairs']))}"


def _natural_findings(result: Analysis, names: wording.FamilyNames) -> list[Finding]:
    out = []
    for nat in result.natural:
        if nat.stratum != "all":
            continue
        w = nat.within_item
        interval = (f"[{_n(w.interval.lo * np.log(2))}, {_n(w.interval.hi * np.log(2))}], p={_n(w.interval.p, 4)}"
                    if w.interval else "(descriptive: too few items)")
        extra = ""
        if nat.within_item_uncensored is not None:
            extra = f"; without the {nat.censored} censored samples {_n(nat.within_item_uncensored.per_doubling)}"
        name = names(nat.model, nat.task, nat.mechanism, nat.strategy)
        out.append(Finding("natural", nat.model, nat.task,
                           f"{name} natural overthinking ({w.n_samples} samples of {w.n_items} problems): doubling "
                           f"the reasoning length of the same problem changes {nat.metric} by {_n(w.per_doubling)} "
                           f"{interval} (pooled across problems {_n(w.pooled_per_doubling)}, confounded by "
                           f"difficulty){extra}.", headline=bool(w.interval and w.interval.excludes_zero)))
    for pair in result.natural_vs_zero:
        ci = pair["ci"]
        interval = f"[{_n(ci[0])}, {_n(ci[1])}]" if ci[0] is not None else "(too few items for an interval)"
        out.append(Finding("natural_vs_zero", pair["model"], pair["task"],
                           f"{names.of(pair)}: {pair['metric']} of answers where traces ended by themselves "
                           f"{_n(pair['natural'])} vs {_n(pair['budget0'])} at budget 0 on the same problems, "
                           f"{natural_vs_zero_counts(pair)} (difference {_n(pair['difference'])} {interval}; "
                           f"{same_answer_text(pair)}).", headline=False))
    return out


def _diagnostic_findings(result: Analysis, names: wording.FamilyNames) -> list[Finding]:
    out = []
    for item in result.did:
        text, significant = _did_text(item, names(item.model, item.task, item.mechanism, item.strategy))
        out.append(Finding("did", item.model, item.task, text, headline=significant))
    for loop in result.looping:
        worst = max(loop["by_budget"], key=lambda r: r["looping_share"])
        if worst["looping_share"] > 0:
            out.append(Finding("looping", loop["model"], loop["task"],
                               f"{names.of(loop)}: {worst['looping_share']:.0%} of {worst['n']} traces loop at "
                               f"budget {worst['budget']}; {loop['metric']} {_n(worst['metric'])} overall, "
                               f"{_n(worst['metric_non_looping'])} without looping traces."))
    out.extend(_natural_findings(result, names))
    for comp in result.compliance:
        out.extend(Finding("compliance", comp["model"], comp["task"], f"{comp['model']} / {comp['task']} "
                           f"({comp['mechanism']}): {w}.") for w in comp["warnings"])
    return out


def findings(result: Analysis) -> list[Finding]:
    """Claims first (tested trends, main curves before strata), then what could explain them away."""
    names = family_names(result)
    return [*_curve_findings(result, names), *_parse_findings(result, names),
            *_diagnostic_findings(result, names)]


def headline_inverse(result: Analysis) -> bool:
    """Does any headline claim that more reasoning makes a metric worse? (calibration's false alarm)"""
    return any(c.verdict is not None and c.verdict.call == "inverse" for c in result.curves)
