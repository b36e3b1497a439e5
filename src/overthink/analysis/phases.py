"""Phases: where along the token axis a curve improves, plateaus or degrades.

The safety study reports refusal improving to about 2K tokens, flat to 8K and degrading beyond; a
tool that assumed such shapes would find them everywhere. A continuous piecewise-linear curve in
log(realized tokens + 1) with 0, 1 or 2 breakpoints is fitted by weighted least squares (weights =
1 / bootstrap variance of each point), breakpoints by grid search, their number by BIC; every
bootstrap replicate is refitted for breakpoint intervals.

Breakpoints chosen from the data make per-segment tests at 5% anti-conservative (on flat 9-budget
curves 8.7% got an improve/degrade segment, and some printed `noisy` beside `degrade`). Two rules
close that: segments are labelled only on curves whose verdict found a trend (inverse or positive:
that family-wise test is the gatekeeper, so a flat truth gets a non-plateau segment at most as often
as it gets a false verdict), and segment changes are tested together, with a max-type interval over
the segments whose critical value also gives each segment's p-value.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations, pairwise

import numpy as np

from overthink.analysis.bootstrap import Curve
from overthink.analysis.inference import critical_value, p_value, standard_errors, studentize
from overthink.analysis.results import Breakpoint, Phases, Segment
from overthink.analysis.trends import ALPHA

GRID_PER_GAP = 4  # candidate breakpoints per gap between neighbouring budgets
VAR_FLOOR = 1e-5  # keeps a point with zero bootstrap variance (all right / all wrong) from dominating


def _design(x: np.ndarray, knots: tuple[float, ...]) -> np.ndarray:
    """Hinge basis: 1, x, (x - k)+ for each knot (continuous piecewise-linear)."""
    columns = [np.ones_like(x), x] + [np.clip(x - k, 0, None) for k in knots]
    return np.stack(columns, axis=1)


def _candidates(x: np.ndarray, count: int) -> list[tuple[float, ...]]:
    """Breakpoint tuples whose outer segments hold >= 2 points and inner segments >= 1 point."""
    if count == 0:
        return [()]
    grid = np.unique(np.concatenate([np.linspace(a, b, GRID_PER_GAP + 1) for a, b in pairwise(x)]))
    out: list[tuple[float, ...]] = []
    for knots in combinations(grid, count):
        edges = [-np.inf, *knots, np.inf]
        outer = [int((x <= knots[0]).sum()), int((x >= knots[-1]).sum())]
        inner = [int(((x > lo) & (x < hi)).sum()) for lo, hi in pairwise(edges[1:-1])]
        if min(outer) >= 2 and all(s >= 1 for s in inner):
            out.append(tuple(float(k) for k in knots))
    return out


def _fit(x: np.ndarray, w: np.ndarray, ys: np.ndarray,
         knots: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """WLS of each row of ys on the hinge basis: (coefficients (R, p), chi-square (R,))."""
    design = _design(x, knots)
    weighted = design * w[:, None]
    gram = design.T @ weighted
    solve = np.linalg.pinv(gram) @ weighted.T  # (p, K)
    coef = ys @ solve.T
    resid = ys - coef @ design.T
    return coef, (resid**2 * w).sum(axis=1)


def _segment_changes(x: np.ndarray, knots: tuple[float, ...], coef: np.ndarray) -> np.ndarray:
    """Fitted change of the metric over each segment, rows = replicates."""
    edges = np.array([x.min(), *knots, x.max()])
    fitted = coef @ _design(edges, knots).T
    return np.diff(fitted, axis=1)


def _choose(x: np.ndarray, w: np.ndarray, y: np.ndarray, max_breakpoints: int) -> tuple[int, tuple[float, ...]]:
    """Number and position of breakpoints by BIC (two parameters per breakpoint)."""
    best: dict[int, tuple[float, tuple[float, ...]]] = {}
    for count in range(max_breakpoints + 1):
        params = 2 + 2 * count
        if params >= x.size:
            break
        fits = [(float(_fit(x, w, y[None, :], knots)[1][0]), knots) for knots in _candidates(x, count)]
        if fits:
            chi2, knots = min(fits, key=lambda item: item[0])
            best[count] = (chi2 + params * np.log(x.size), knots)
    chosen = min(best, key=lambda c: best[c][0])
    return chosen, best[chosen][1]


def fit_phases(curve: Curve, max_breakpoints: int = 2, alpha: float = ALPHA) -> Phases:
    """Breakpoints and labelled segments, with simultaneous intervals for the segment changes."""
    x = np.log1p(np.clip(curve.tokens, 0, None))
    ok = np.isfinite(x) & np.isfinite(curve.values)
    boot_ok = np.isfinite(curve.boot_values[:, ok]).all(axis=1)
    x, y, boot = x[ok], curve.values[ok], curve.boot_values[boot_ok][:, ok]
    if x.size < 3 or boot.shape[0] < 10 or np.ptp(x) <= 0 or curve.descriptive:
        return Phases(note="too few budgets or problems for phases")
    order = np.argsort(x)
    x, y, boot = x[order], y[order], boot[:, order]
    w = 1.0 / np.maximum(boot.var(axis=0), VAR_FLOOR)
    chosen, knots = _choose(x, w, y, max_breakpoints)
    changes = _segment_changes(x, knots, _fit(x, w, y[None, :], knots)[0])[0]
    draws = _segment_changes(x, knots, _fit(x, w, boot, knots)[0])
    se = standard_errors(draws)
    t, null = studentize(changes, draws, se)
    null_max = np.max(np.abs(null), axis=1)
    c = critical_value(null_max, alpha)
    trend = curve.verdict is not None and curve.verdict.call in ("inverse", "positive")
    sign = 1.0 if curve.metric.higher_is_better else -1.0
    edges = [x.min(), *knots, x.max()]
    segments = []
    for i, change in enumerate(changes):
        half = float(c * se[i]) if se[i] > 0 else 0.0
        p = p_value(abs(float(t[i])), null_max)
        label = "plateau"
        if trend and p < alpha and abs(change) >= curve.metric.min_effect:
            label = "improve" if sign * change > 0 else "degrade"
        segments.append(Segment(float(np.expm1(edges[i])), float(np.expm1(edges[i + 1])), float(change),
                                (float(change - half), float(change + half)), p, label))
    note = "" if trend else "segments not labelled: the curve has no significant trend"
    return Phases(chosen, _breakpoint_cis(x, w, boot, chosen, knots), tuple(segments), note)


def _breakpoint_cis(x: np.ndarray, w: np.ndarray, boot: np.ndarray, count: int,
                    knots: tuple[float, ...]) -> tuple[Breakpoint, ...]:
    """Refit every replicate over the same candidate grid; percentile CIs of the chosen knots (tokens)."""
    if count == 0:
        return ()
    candidates = _candidates(x, count)
    chi2 = np.stack([_fit(x, w, boot, cand)[1] for cand in candidates], axis=1)  # (R, C)
    picked = np.array(candidates)[np.argmin(chi2, axis=1)]  # (R, count)
    out = []
    for j, knot in enumerate(knots):
        lo, hi = np.percentile(picked[:, j], [2.5, 97.5])
        out.append(Breakpoint(float(np.expm1(knot)), (float(np.expm1(lo)), float(np.expm1(hi)))))
    return tuple(out)


def annotate_phases(curves: list[Curve], max_breakpoints: int = 2, alpha: float = ALPHA) -> list[Curve]:
    """Curves with their phases (verdicts must be filled first: they gate the segment labels)."""
    return [replace(c, phases=fit_phases(c, max_breakpoints=max_breakpoints, alpha=alpha)) for c in curves]
