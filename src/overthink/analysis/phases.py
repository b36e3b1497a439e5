"""Phases: where along the token axis a curve improves, plateaus or degrades.

The safety study reports refusal improving to about 2K tokens, flat to 8K and degrading beyond; a
tool that assumed such shapes would find them everywhere, and one that missed them when budget 0 is
in the sweep would be no use either. A continuous piecewise-linear curve in log2(realized tokens)
(budget 0 one typical doubling step below the smallest budget) with 0, 1 or 2 breakpoints is fitted
by weighted least squares (weights = 1 / bootstrap variance of each point), breakpoints on a grid;
their number is chosen by a sequential bootstrap test whose false-alarm rate is alpha
(`segmented.py`), and every problem-bootstrap replicate is refitted for the breakpoints' intervals.

Breakpoints chosen from the data make per-segment tests at 5% anti-conservative, so two rules guard
the labels: segments are labelled only on curves whose verdict found a trend (inverse or positive:
that family-wise test is the gatekeeper, so a flat truth gets a non-plateau segment at most as often
as it gets a false verdict), and segment changes are tested together, with a max-type interval over
the segments whose critical value also gives each segment's p-value.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from overthink.analysis import segmented
from overthink.analysis.bootstrap import Curve
from overthink.analysis.inference import critical_value, p_value, standard_errors, studentize
from overthink.analysis.results import Breakpoint, Phases, Segment
from overthink.analysis.trends import ALPHA

MIN_REPLICATES = 10


def _segment_changes(x: np.ndarray, knots: tuple[float, ...], coef: np.ndarray) -> np.ndarray:
    """Fitted change of the metric over each segment, rows = replicates."""
    edges = np.array([x.min(), *knots, x.max()])
    fitted = coef @ segmented.design(edges, knots).T
    return np.diff(fitted, axis=1)


def _points(curve: Curve) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(tokens, values, replicates) of the finite points in token order; None when phases cannot be fitted."""
    tokens = np.asarray(curve.tokens, dtype=float)
    ok = np.isfinite(tokens) & np.isfinite(curve.values)
    boot_ok = np.isfinite(curve.boot_values[:, ok]).all(axis=1)
    tokens, y, boot = np.clip(tokens[ok], 0, None), curve.values[ok], curve.boot_values[boot_ok][:, ok]
    if tokens.size < 3 or boot.shape[0] < MIN_REPLICATES or np.ptp(tokens) <= 0 or curve.descriptive:
        return None
    order = np.argsort(tokens, kind="stable")
    return tokens[order], y[order], boot[:, order]


def fit_phases(curve: Curve, max_breakpoints: int = 2, alpha: float = ALPHA) -> Phases:
    """Breakpoints with intervals, and labelled segments with simultaneous intervals for their changes."""
    points = _points(curve)
    axis = None if points is None else segmented.log_axis(points[0])
    if points is None or axis is None:
        return Phases(note="too few budgets or problems for phases")
    _, y, boot = points
    x, w = axis.x, segmented.whitener(boot)
    chosen = segmented.select(x, w, y, boot, max_breakpoints, alpha)
    knots = chosen.knots
    changes = _segment_changes(x, knots, segmented.fit(x, w, y[None, :], knots)[0])[0]
    draws = _segment_changes(x, knots, segmented.fit(x, w, boot, knots)[0])
    se = standard_errors(draws)
    t, null = studentize(changes, draws, se)
    null_max = np.max(np.abs(null), axis=1)
    c = critical_value(null_max, alpha)
    trend = curve.verdict is not None and curve.verdict.call in ("inverse", "positive")
    sign = 1.0 if curve.metric.higher_is_better else -1.0
    edges = [float(x.min()), *knots, float(x.max())]
    segments = []
    for i, change in enumerate(changes):
        half = float(c * se[i]) if se[i] > 0 else 0.0
        p = p_value(abs(float(t[i])), null_max)
        label = "plateau"
        if trend and p < alpha and abs(change) >= curve.metric.min_effect:
            label = "improve" if sign * change > 0 else "degrade"
        segments.append(Segment(axis.to_tokens(edges[i]), axis.to_tokens(edges[i + 1]), float(change),
                                (float(change - half), float(change + half)), p, label))
    intervals = segmented.knot_intervals(x, w, boot, chosen.count)
    breakpoints = tuple(Breakpoint(axis.to_tokens(k), (axis.to_tokens(lo), axis.to_tokens(hi)))
                        for k, (lo, hi) in zip(knots, intervals, strict=True))
    note = "" if trend else "segments not labelled: the curve has no significant trend"
    return Phases(chosen.count, breakpoints, tuple(segments), note, chosen.step_p)


def annotate_phases(curves: list[Curve], max_breakpoints: int = 2, alpha: float = ALPHA) -> list[Curve]:
    """Curves with their phases (verdicts must be filled first: they gate the segment labels)."""
    return [replace(c, phases=fit_phases(c, max_breakpoints=max_breakpoints, alpha=alpha)) for c in curves]
