"""The multi-budget release gate: fail when more thinking makes a model significantly worse.

A curve is gated when it has at least MIN_ITEMS problems present at every gated budget (smaller
strata are listed as descriptive and never fail the gate). For every pair of budgets i < j in order
of realized reasoning the loss D_ij = goodness(i) - goodness(j) is studentized by its paired-bootstrap
standard error; the statistic is the largest studentized loss, which covers "best budget to a larger
one" and U-shaped dips alike. Pairs that clearly improve are left out of the maximum (Hansen's
rule), which is what gives the gate power on a curve that rises first and falls a little at the end.

The null distribution is the maximum of the centred, studentized replicate losses over every pair
of every gated curve of a family (one joint resampling of the family's problems), and alpha is split
over the families of the store (Bonferroni) and, inside a family, 4/5 to its main curves and 1/5 to
its strata: the documented false-fail rate is per *store*. A curve fails when its selected loss is
significant (its simultaneous lower bound is above zero, which happens exactly when the adjusted p is
below alpha) and the estimated loss is beyond the tolerance, given in the metric's own unit (2
accuracy or rate points, 0.05 RMSE by default).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pandas as pd

from overthink.analysis.bootstrap import Curve, budget_frame, build_curves
from overthink.analysis.inference import MIN_ITEMS
from overthink.analysis.metrics import NO_TRAITS, Traits
from overthink.analysis.results import Loss
from overthink.analysis.trends import alpha_shares, annotate, loss_results
from overthink.errors import UserError

RESULT_KEYS = ("model", "task", "mechanism", "strategy")


@dataclass(frozen=True)
class GateResult:
    model: str
    task: str
    mechanism: str
    strategy: str
    stratum: str
    metric: str
    unit: str
    higher_is_better: bool
    budgets: list[str]
    values: list[float]
    n_items: int
    failed: bool
    kind: str  # "ok" | "drop" | "u-shape" | "descriptive" | "left out"
    reason: str
    gated: bool = True
    main: bool = True
    tolerance: float = 0.0
    worst_drop: float | None = None
    lower: float | None = None  # simultaneous lower bound of the loss: > 0 exactly when p < alpha
    p: float = 1.0  # adjusted for every curve and pair the gate checked
    from_budget: str | None = None
    to_budget: str | None = None
    trend: str = "-"  # the analysis verdict on the same curve (information, not gated)
    missing: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        part = "" if self.stratum == "all" else f", {self.stratum}"
        return f"{self.model} / {self.task} ({self.mechanism}, {self.strategy}{part})"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _base(curve: Curve, tolerance: float) -> dict[str, Any]:
    return dict(model=curve.model, stratum=curve.stratum, task=curve.task, mechanism=curve.mechanism,
                strategy=curve.strategy, metric=curve.metric.name, unit=curve.metric.unit,
                higher_is_better=curve.metric.higher_is_better, budgets=list(curve.budgets),
                values=[round(float(v), 6) for v in curve.values], n_items=curve.n_items, main=curve.main,
                tolerance=tolerance, trend=curve.verdict.call if curve.verdict else "-",
                missing=curve.to_json()["missing"])


def judge(curve: Curve, loss: Loss, tolerance: float, alpha: float, tested: str) -> GateResult:
    """Pass or fail one gated curve from its selected loss (p already adjusted)."""
    sign = 1.0 if curve.metric.higher_is_better else -1.0
    i, j = curve.budgets.index(loss.from_budget), curve.budgets.index(loss.to_budget)
    after = sign * curve.values[j + 1:]
    recovers = after.size > 0 and bool(np.nanmax(after) - sign * curve.values[j] > tolerance)
    failed = loss.p < alpha and loss.loss > tolerance
    where = (f"{curve.metric.name} {curve.values[i]:.3f} at {loss.from_budget} -> {curve.values[j]:.3f} at "
             f"{loss.to_budget}")
    numbers = (f"loss {loss.loss:.3f} (simultaneous lower bound {loss.lower:.3f}), p={loss.p:.4f} {tested}; "
               f"tolerance {curve.metric.describe(tolerance)}, alpha {alpha}")
    if failed:
        kind = "u-shape" if recovers else "drop"
        shape = " (U-shaped: it recovers at larger budgets)" if recovers else ""
        reason = f"significant drop{shape}: {where}; {numbers}"
    elif loss.loss > tolerance:
        kind, reason = "ok", f"drop not significant: {where}; {numbers}"
    else:
        kind, reason = "ok", f"no drop beyond the tolerance (largest: {where}; {numbers})"
    return GateResult(**_base(curve, tolerance), failed=failed, kind=kind, reason=reason, worst_drop=loss.loss,
                      lower=loss.lower, p=loss.p, from_budget=loss.from_budget, to_budget=loss.to_budget)


def restrict_budgets(frame: pd.DataFrame, budgets: list[str] | None,
                     ) -> tuple[pd.DataFrame, dict[tuple[str, ...], list[str]]]:
    """Only the gated budgets, of the families that have finished records at all of them.

    Returns the frame to gate and, per family left out, the budgets it lacks: `--budgets 0,32` gates
    whatever has those budgets and names the rest (a UserError only when no family has them)."""
    data = budget_frame(frame)
    ok = data[data["status"] == "ok"] if "status" in data else data
    if ok.empty:
        raise UserError("the store has no finished budget records to gate; run a sweep first")
    if budgets is None:
        return data, {}
    if len(budgets) < 2:
        raise UserError("--budgets needs at least two budgets to compare, e.g. 1024,4096")
    left_out: dict[tuple[str, ...], list[str]] = {}
    for key, group in ok.groupby(list(RESULT_KEYS), sort=True, observed=True):
        lacking = [b for b in budgets if b not in set(group["budget"].astype(str))]
        if lacking:
            left_out[tuple(str(k) for k in key)] = lacking
    if len(left_out) == ok.groupby(list(RESULT_KEYS), observed=True).ngroups:
        first = next(iter(left_out.values()))
        raise UserError(f"no model / task has finished records at every budget of --budgets (e.g. none at "
                        f"{', '.join(first)}); run them or choose budgets the store has")
    keep = data["budget"].astype(str).isin(budgets)
    if left_out:
        keep &= ~pd.MultiIndex.from_frame(data[list(RESULT_KEYS)].astype(str)).isin(list(left_out))
    return data[keep], left_out


def gated_curves(curves: list[Curve]) -> list[Curve]:
    """Main curves: the overall curve of each family, or for refusal each label's curve."""
    return [c for c in curves if c.main]


def _descriptive(curve: Curve, tolerance: float) -> GateResult:
    if len(curve.budgets) < 2:
        reason = f"not gated: scored records at only one budget ({', '.join(curve.budgets)})"
    else:
        reason = (f"not gated: {curve.n_items} problems at every budget (the gate needs {MIN_ITEMS}); "
                  "shown for description only")
    return GateResult(**_base(curve, tolerance), failed=False, kind="descriptive", reason=reason, gated=False)


def _left_out(curve: Curve, tolerance: float, lacking: list[str]) -> GateResult:
    reason = (f"not gated: no finished records at budget(s) {', '.join(lacking)} of --budgets "
              f"(it has {', '.join(curve.budgets)})")
    return GateResult(**_base(curve, tolerance), failed=False, kind="left out", reason=reason, gated=False)


def _gate_family(curves: list[Curve], tolerances: dict[int, float], alpha: float, n_families: int,
                 ) -> dict[int, GateResult]:
    """Gate one family's testable curves: main curves and strata share its alpha (4/5 and 1/5)."""
    out: dict[int, GateResult] = {}
    gated = [i for i, c in enumerate(curves) if not c.descriptive and len(c.budgets) > 1]
    main = [i for i in gated if curves[i].main]
    for _, members, share in alpha_shares(main, [i for i in gated if not curves[i].main]):
        level, scale = alpha * share / n_families, n_families / share
        chosen = [curves[i] for i in members]
        losses = loss_results(chosen, level, scale, [tolerances[i] for i in members])
        tested = (f"(max over {len(members)} curve(s) of this family, {n_families} famil"
                  f"{'y' if n_families == 1 else 'ies'} in the store)")
        for i, curve, loss in zip(members, chosen, losses, strict=True):
            out[i] = judge(curve, loss, tolerances[i], alpha, tested)
    return out


def run_gate(frame: pd.DataFrame, *, budgets: list[str] | None = None, tolerance: float | None = None,
             alpha: float = 0.05, n_boot: int = 1000, seed: int = 0, strata: bool = True,
             traits: Traits = NO_TRAITS) -> list[GateResult]:
    """Gate every family of a tidy store frame: main curves, and strata with enough problems.

    `traits` are what the store declares of its tasks (metric, direction, strata, clusters)."""
    if tolerance is not None and tolerance < 0:
        raise UserError(f"--tolerance {tolerance} must be >= 0 (e.g. 0.02 = 2 accuracy points)")
    if not 0.0 < alpha < 0.5:
        raise UserError(f"--alpha {alpha} must be between 0 and 0.5 (default 0.05)")
    data, left_out = restrict_budgets(frame, budgets)
    curves = annotate(build_curves(data, n_boot=n_boot, seed=seed, traits=traits), alpha=alpha)
    results = gate_curves(curves if strata else gated_curves(curves), tolerance=tolerance, alpha=alpha)
    if left_out:  # named, never gated: their main curves on the budgets they do have
        rest = budget_frame(frame)
        rest = rest[pd.MultiIndex.from_frame(rest[list(RESULT_KEYS)].astype(str)).isin(list(left_out))]
        for curve in gated_curves(build_curves(rest, n_boot=n_boot, seed=seed, traits=traits)):
            limit = curve.metric.tolerance if tolerance is None else tolerance
            results.append(_left_out(curve, limit, left_out[curve.family]))
    return results


def gate_curves(curves: list[Curve], *, tolerance: float | None = None, alpha: float = 0.05) -> list[GateResult]:
    """The gate's decision on curves already built (and annotated) by the analysis package."""
    if not curves:
        raise UserError("no scored records to gate in the store")
    tolerances = {i: c.metric.tolerance if tolerance is None else tolerance for i, c in enumerate(curves)}
    by_family: dict[tuple[str, ...], list[int]] = {}
    for i, curve in enumerate(curves):
        by_family.setdefault(curve.family, []).append(i)
    testable = [f for f, members in by_family.items() if any(not curves[i].descriptive for i in members)]
    results: dict[int, GateResult] = {}
    for members in by_family.values():
        family = [curves[i] for i in members]
        gated = _gate_family(family, {k: tolerances[i] for k, i in enumerate(members)}, alpha,
                             max(1, len(testable)))
        for k, i in enumerate(members):
            results[i] = gated.get(k) or _descriptive(curves[i], tolerances[i])
    ordered = [results[i] for i in range(len(curves))]
    return [r for r in ordered if r.main] + [r for r in ordered if not r.main]


def junit_xml(results: list[GateResult], suite: str = "overthink-gate") -> str:
    """JUnit XML: one testcase per curve; a <failure> with the reason when it fails, a <skipped> with the
    reason when it was not tested (descriptive, or left out by --budgets), counted in `skipped`."""
    failures = sum(r.failed for r in results)
    skipped = sum(not r.gated for r in results)
    root = ElementTree.Element("testsuites", name=suite, tests=str(len(results)), failures=str(failures),
                               skipped=str(skipped))
    node = ElementTree.SubElement(root, "testsuite", name=suite, tests=str(len(results)),
                                  failures=str(failures), errors="0", skipped=str(skipped))
    for result in results:
        case = ElementTree.SubElement(node, "testcase", classname=f"{suite}.{result.model}",
                                      name=result.name.split(" / ", 1)[1])
        if result.failed:
            failure = ElementTree.SubElement(case, "failure", message=result.reason, type=result.kind)
            failure.text = result.reason
        elif not result.gated:
            ElementTree.SubElement(case, "skipped", message=result.reason)
        else:
            out = ElementTree.SubElement(case, "system-out")
            out.text = result.reason
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
