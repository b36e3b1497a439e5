"""The gate's missing-data checks: errors and unparsed answers must not rise with reasoning.

A curve compares budgets on the items present at all of them, which is unbiased only when items go
missing for reasons unrelated to their outcome. Long budgets that time out on hard items, or answers
that stop being readable after long reasoning, break that, and the common-items curve can then look
flat while the model got worse. So for every gated main curve that lost items, the share of its
stratum's records that **errored** and the share whose answer was **unparsed** (each item's share
of its records at the budget, averaged over the stratum's items) are gated like a metric whose rise
is bad: every pair of budgets i < j, the rise share(j) - share(i) studentized by
its paired (problem) bootstrap standard error, max-type over the family's checks, testing the
shifted null "the rise is at most --missing-tolerance". A check fails exactly when the simultaneous
lower bound of a rise exceeds the missing tolerance (p < alpha for the same null). A point rule
("the observed share rose by more than 5 points") would not do: at a steady, random 10% error rate
the largest chance rise over four budgets exceeds 5 points in 38% of 100-item stores.

The checks take MISSING_SHARE of the family's alpha (a family with nothing missing keeps all of it
for its curves), so the per-store promise covers both: a release whose true loss is at most the
tolerance and whose missing shares rise by at most the missing tolerance is blocked at most alpha
of the time.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from overthink.analysis.bootstrap import Curve
from overthink.analysis.metrics import MetricInfo
from overthink.analysis.results import Loss
from overthink.mitigations.gate_result import GateResult, base_fields

MISSING_SHARE = 0.2  # of a family's alpha, for its missing-data checks (when it has any)
MISSING_TOLERANCE = 0.05  # default: a rise of 5 points of the stratum's items
CHECKS = (("errors", "error share", 0), ("unparsed", "unparsed share", 1))


def missing_checks(curve: Curve, tolerance: float) -> list[tuple[str, Curve]]:
    """(check, pseudo-curve) per kind of missing data the curve has: each item's share of such records
    as a rate whose rise is bad, on every item of the stratum, sharing the family's bootstrap weights."""
    flags, clusters = curve.missing_flags, curve.flag_clusters
    if flags is None or clusters is None or not curve.main:
        return []
    out = []
    for check, name, k in CHECKS:
        indicators = flags[:, :, k]
        if not indicators.any():
            continue
        info = MetricInfo(name, False, tolerance, unit="share of items")
        out.append((check, replace(curve, metric=info, values=indicators.mean(axis=0), item_values=indicators,
                                   item_matrix=indicators, item_clusters=clusters, n_items=indicators.shape[0],
                                   n_clusters=int(np.unique(clusters).size), missing=(), bounds=None,
                                   missing_flags=None, flag_clusters=None, verdict=None, phases=None)))
    return out


def judge_missing(check: str, curve: Curve, loss: Loss, tolerance: float, alpha: float,
                  tested: str) -> GateResult:
    """Pass or fail one missing-data check from its selected rise (p already adjusted)."""
    i, j = curve.budgets.index(loss.from_budget), curve.budgets.index(loss.to_budget)
    failed = loss.p < alpha
    where = (f"{curve.metric.name} {curve.values[i]:.1%} at {loss.from_budget} -> {curve.values[j]:.1%} at "
             f"{loss.to_budget} of {curve.n_items} items")
    numbers = (f"rise {loss.loss:.3f}, simultaneous lower bound {loss.lower:.3f} vs missing tolerance "
               f"{tolerance:.3f}: p={loss.p:.4f} for 'rise <= missing tolerance' {tested}; alpha {alpha}")
    if failed:
        reason = (f"missing data rises with reasoning beyond the missing tolerance: {where}; {numbers} "
                  "(the common-items curve assumes missing items are unrelated to the outcome)")
    else:
        reason = f"no rise of missing data beyond the missing tolerance (largest: {where}; {numbers})"
    return GateResult(**base_fields(curve, tolerance), failed=failed, kind="missing" if failed else "ok",
                      reason=reason, worst_drop=loss.loss, lower=loss.lower, p=loss.p, from_budget=loss.from_budget,
                      to_budget=loss.to_budget, check=check)


def loss_bounds(curve: Curve, i: int, j: int) -> list[float] | None:
    """[best case, worst case] of the loss from budget i to j (goodness units) when every missing item
    is counted at the best / worst value seen; None when nothing is missing."""
    if curve.bounds is None:
        return None
    low, high = curve.bounds[:, 0], curve.bounds[:, 1]
    good_low, good_high = (low, high) if curve.metric.higher_is_better else (-high, -low)
    return [round(float(good_low[i] - good_high[j]), 6), round(float(good_high[i] - good_low[j]), 6)]
