"""The multi-budget release gate: fail when more thinking makes a model worse beyond the tolerance.

The promise, per store: **a release whose true loss is at most the tolerance is blocked at most
alpha of the time** (and likewise for missing data rising by at most --missing-tolerance; see
gate_missing.py). The tolerance is a margin, not a filter on the point estimate: each curve tests
the shifted null "loss <= tolerance".

A curve is gated when it has at least MIN_ITEMS problems present at every gated budget (smaller
strata are listed as descriptive, never fail, and are JUnit <skipped>). For every pair of budgets
i < j in order of realized reasoning the loss D_ij = goodness(i) - goodness(j) is studentized as
(D_ij - tolerance) / se_ij with its paired-bootstrap standard error; the statistic is the largest,
which covers "best budget to a larger one" and U-shaped dips alike. Pairs clearly inside the null
(far below the tolerance) are left out of the maximum (Hansen's rule), which keeps the power on a
curve that rises first and falls a little at the end.

The null distribution is the maximum of the centred, studentized replicate losses over every pair
of every gated curve of a family (one joint resampling of the family's problems), and alpha is split
over the families of the store (Bonferroni) and, inside a family, 4/5 to its main curves and 1/5 to
its strata (of what its missing-data checks leave). A curve fails exactly when the simultaneous
lower bound of its selected loss, `loss - c * se`, is above the tolerance, which happens exactly
when the adjusted p-value of "loss <= tolerance" is below alpha. The tolerance is in the metric's
own unit (2 accuracy or rate points, 0.05 RMSE by default).

The selected pair's loss is the maximum over pairs and so inflated as a *size*; each gated curve
also reports a cross-fitted size (analysis/sizes.py) that is not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from overthink.analysis.bootstrap import Curve, budget_frame, build_curves
from overthink.analysis.inference import MIN_ITEMS
from overthink.analysis.metrics import NO_TRAITS, Traits
from overthink.analysis.results import Loss
from overthink.analysis.sizes import crossfit_size
from overthink.analysis.trends import alpha_shares, annotate, loss_results
from overthink.errors import UserError
from overthink.mitigations.gate_missing import (
    MISSING_SHARE,
    MISSING_TOLERANCE,
    judge_missing,
    loss_bounds,
    missing_checks,
)
from overthink.mitigations.gate_result import GateResult, base_fields, junit_xml

__all__ = ["GateResult", "gate_curves", "junit_xml", "run_gate", "select_strategies"]

RESULT_KEYS = ("model", "task", "mechanism", "strategy")


def judge(curve: Curve, loss: Loss, tolerance: float, alpha: float, tested: str,
          size: float | None = None) -> GateResult:
    """Pass or fail one gated curve from its selected loss (p already adjusted, null: loss <= tolerance)."""
    sign = 1.0 if curve.metric.higher_is_better else -1.0
    i, j = curve.budgets.index(loss.from_budget), curve.budgets.index(loss.to_budget)
    after = sign * curve.values[j + 1:]
    recovers = after.size > 0 and bool(np.nanmax(after) - sign * curve.values[j] > tolerance)
    failed = loss.p < alpha  # exactly when loss.lower > tolerance
    where = (f"{curve.metric.name} {curve.values[i]:.3f} at {loss.from_budget} -> {curve.values[j]:.3f} at "
             f"{loss.to_budget}")
    sized = "" if size is None else f", size {size:.3f} (cross-fitted: not inflated by the choice of pair)"
    numbers = (f"loss {loss.loss:.3f}{sized}, simultaneous lower bound {loss.lower:.3f} vs tolerance "
               f"{curve.metric.describe(tolerance)}: p={loss.p:.4f} for 'loss <= tolerance' {tested}; "
               f"alpha {alpha}")
    bounds = loss_bounds(curve, i, j)
    if bounds is not None:
        numbers += (f"; with every missing item at the best / worst value seen the loss would be "
                    f"{bounds[0]:.3f} / {bounds[1]:.3f}")
    if failed:
        kind = "u-shape" if recovers else "drop"
        shape = " (U-shaped: it recovers at larger budgets)" if recovers else ""
        reason = f"significant drop beyond the tolerance{shape}: {where}; {numbers}"
    elif loss.loss > tolerance:
        kind, reason = "ok", f"drop not significantly beyond the tolerance: {where}; {numbers}"
    else:
        kind, reason = "ok", f"no drop beyond the tolerance (largest: {where}; {numbers})"
    return GateResult(**base_fields(curve, tolerance), failed=failed, kind=kind, reason=reason,
                      worst_drop=loss.loss, lower=loss.lower, p=loss.p, from_budget=loss.from_budget,
                      to_budget=loss.to_budget, size=size, loss_bounds=bounds)


def select_strategies(frame: pd.DataFrame, strategies: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """The records of the chosen strategies (all when None) and the strategies used, in store order.

    The gate and the guard-rail say which strategies they read: a store of `cot` and `vote@5` holds
    two curves per (model, task), and a clamp derived from one says nothing about the other."""
    present = [str(s) for s in dict.fromkeys(frame["strategy"].astype(str))] if "strategy" in frame else []
    if strategies is None:
        return frame, present
    unknown = [s for s in strategies if s not in present]
    if unknown:
        raise UserError(f"--strategy {', '.join(unknown)}: not in the store (it has {', '.join(present) or 'none'})")
    return frame[frame["strategy"].astype(str).isin(strategies)], [s for s in present if s in strategies]


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
    return GateResult(**base_fields(curve, tolerance), failed=False, kind="descriptive", reason=reason, gated=False)


def _left_out(curve: Curve, tolerance: float, lacking: list[str]) -> GateResult:
    reason = (f"not gated: no finished records at budget(s) {', '.join(lacking)} of --budgets "
              f"(it has {', '.join(curve.budgets)})")
    return GateResult(**base_fields(curve, tolerance), failed=False, kind="left out", reason=reason, gated=False)


def _tested(members: int, n_families: int) -> str:
    return (f"(max over {members} check(s) of this family, {n_families} famil"
            f"{'y' if n_families == 1 else 'ies'} in the store)")


def _gate_family(curves: list[Curve], tolerances: dict[int, float], alpha: float, n_families: int,
                 missing_tolerance: float, seed: int) -> tuple[dict[int, GateResult], list[GateResult]]:
    """Gate one family's testable curves (main curves 4/5 and strata 1/5 of its alpha, after the share
    of its missing-data checks when it has any); returns the curves' results and the checks'."""
    out: dict[int, GateResult] = {}
    gated = [i for i, c in enumerate(curves) if not c.descriptive and len(c.budgets) > 1]
    main = [i for i in gated if curves[i].main]
    checks = [(check, pseudo) for i in main for check, pseudo in missing_checks(curves[i], missing_tolerance)]
    left = 1.0 - MISSING_SHARE if checks else 1.0
    for _, members, share in alpha_shares(main, [i for i in gated if not curves[i].main]):
        level, scale = alpha * share * left / n_families, n_families / (share * left)
        chosen = [curves[i] for i in members]
        limits = [tolerances[i] for i in members]
        losses = loss_results(chosen, level, scale, limits, shift=limits)
        for i, curve, loss in zip(members, chosen, losses, strict=True):
            out[i] = judge(curve, loss, tolerances[i], alpha, _tested(len(members), n_families),
                           crossfit_size(curve, seed))
    if not checks:
        return out, []
    level, scale = alpha * MISSING_SHARE / n_families, n_families / MISSING_SHARE
    pseudo_curves = [c for _, c in checks]
    limits = [missing_tolerance] * len(checks)
    losses = loss_results(pseudo_curves, level, scale, limits, shift=limits)
    return out, [judge_missing(check, curve, loss, missing_tolerance, alpha, _tested(len(checks), n_families))
                 for (check, curve), loss in zip(checks, losses, strict=True)]


def run_gate(frame: pd.DataFrame, *, budgets: list[str] | None = None, tolerance: float | None = None,
             alpha: float = 0.05, n_boot: int = 1000, seed: int = 0, strata: bool = True,
             traits: Traits = NO_TRAITS, missing_tolerance: float = MISSING_TOLERANCE) -> list[GateResult]:
    """Gate every family of a tidy store frame: main curves, strata with enough problems, missing data.

    `traits` are what the store declares of its tasks (metric, direction, strata, clusters)."""
    if tolerance is not None and tolerance < 0:
        raise UserError(f"--tolerance {tolerance} must be >= 0 (e.g. 0.02 = 2 accuracy points)")
    if not 0.0 <= missing_tolerance <= 1.0:
        raise UserError(f"--missing-tolerance {missing_tolerance} must be between 0 and 1 (default 0.05 = 5 points)")
    if not 0.0 < alpha < 0.5:
        raise UserError(f"--alpha {alpha} must be between 0 and 0.5 (default 0.05)")
    data, left_out = restrict_budgets(frame, budgets)
    curves = annotate(build_curves(data, n_boot=n_boot, seed=seed, traits=traits), alpha=alpha)
    results = gate_curves(curves if strata else gated_curves(curves), tolerance=tolerance, alpha=alpha,
                          missing_tolerance=missing_tolerance, seed=seed)
    if left_out:  # named, never gated: their main curves on the budgets they do have
        rest = budget_frame(frame)
        rest = rest[pd.MultiIndex.from_frame(rest[list(RESULT_KEYS)].astype(str)).isin(list(left_out))]
        for curve in gated_curves(build_curves(rest, n_boot=n_boot, seed=seed, traits=traits)):
            limit = curve.metric.tolerance if tolerance is None else tolerance
            results.append(_left_out(curve, limit, left_out[curve.family]))
    return results


def gate_curves(curves: list[Curve], *, tolerance: float | None = None, alpha: float = 0.05,
                missing_tolerance: float = MISSING_TOLERANCE, seed: int = 0) -> list[GateResult]:
    """The gate's decision on curves already built (and annotated) by the analysis package: main
    curves, then their missing-data checks, then strata."""
    if not curves:
        raise UserError("no scored records to gate in the store")
    tolerances = {i: c.metric.tolerance if tolerance is None else tolerance for i, c in enumerate(curves)}
    by_family: dict[tuple[str, ...], list[int]] = {}
    for i, curve in enumerate(curves):
        by_family.setdefault(curve.family, []).append(i)
    testable = [f for f, members in by_family.items() if any(not curves[i].descriptive for i in members)]
    results: dict[int, GateResult] = {}
    checks: list[GateResult] = []
    for members in by_family.values():
        family = [curves[i] for i in members]
        gated, found = _gate_family(family, {k: tolerances[i] for k, i in enumerate(members)}, alpha,
                                    max(1, len(testable)), missing_tolerance, seed)
        checks += found
        for k, i in enumerate(members):
            results[i] = gated.get(k) or _descriptive(curves[i], tolerances[i])
    ordered = [results[i] for i in range(len(curves))]
    return [r for r in ordered if r.main] + checks + [r for r in ordered if not r.main]
