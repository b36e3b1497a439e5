"""Trend verdicts: does the metric get better or worse as realized reasoning grows?

The paper labelled a trend when a change exceeded 2 points and the CIs of two budgets did not
overlap: not paired, not a test, and with every stratum and budget pair a new chance to "find"
something. Here each curve gets two paired tests on the same problem-bootstrap replicates:

* slope: OLS slope of the metric on log(realized tokens + 1); the effect is the fitted change over
  the observed token range, tested two-sided;
* loss: the largest studentized loss from any budget to one with more realized reasoning (every
  pair i < j in reasoning order, so a dip in the middle of a U counts), one-sided. Pairs that
  clearly improve are left out of the maximum (Hansen's rule: t below -sqrt(2 log log n)); without
  that, a curve that rises steeply first and then falls a little can never be detected.

Error control is family-wise. A family is one (model, task, mechanism, strategy); its curves are
its main curve(s) and its strata with at least MIN_ITEMS common items (smaller strata are
descriptive: shown, never tested). Main curves share 4/5 of alpha and strata 1/5 (all of it when
a family has only one kind), each test gets half of its share, and within a share the null
distribution is the maximum over all its curves (and pairs) of the studentized statistic, from one
joint resampling of the family's problems. Intervals use the critical value of the same maximum, so
an interval excludes zero exactly when the printed (adjusted) p-value is below alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from overthink.analysis.bootstrap import Curve
from overthink.analysis.contrasts import contrasts
from overthink.analysis.inference import critical_value, exact_ratio, p_value
from overthink.analysis.results import Loss, Verdict

ALPHA = 0.05
MAIN_SHARE = 0.8  # of alpha, for the main curves when a family also has testable strata


def slopes(values: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """OLS slope of values on log1p(tokens) along the last axis (rows = replicates), NaN-safe."""
    x = np.log1p(np.clip(tokens, 0, None))
    ok = ~(np.isnan(x) | np.isnan(values))
    count = ok.sum(axis=-1)
    xs, ys = np.where(ok, x, 0.0), np.where(ok, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = xs.sum(axis=-1) / count
        my = ys.sum(axis=-1) / count
        dx = np.where(ok, x - mx[..., None], 0.0)
        dy = np.where(ok, values - my[..., None], 0.0)
        sxx = (dx * dx).sum(axis=-1)
        return np.where(sxx > 0, (dx * dy).sum(axis=-1) / np.where(sxx > 0, sxx, 1.0), np.nan)


def sign_of(curve: Curve) -> float:
    return 1.0 if curve.metric.higher_is_better else -1.0


def span_of(curve: Curve) -> float:
    x = np.log1p(np.clip(curve.tokens, 0, None))
    return float(np.nanmax(x) - np.nanmin(x)) if np.isfinite(x).any() else 0.0


def testable(curve: Curve) -> str:
    """Why a curve gets no test ("" when it does)."""
    if len(curve.values) < 2 or span_of(curve) <= 0:
        return "fewer than two budgets with distinct realized lengths"
    if curve.descriptive:
        return f"only {curve.n_items} common problems (a verdict needs 10): descriptive"
    return ""


@dataclass(frozen=True)
class PairStats:
    """Studentized losses of every budget pair i < j of one curve (goodness units)."""

    pairs: list[tuple[int, int]]
    loss: np.ndarray
    se: np.ndarray
    t: np.ndarray
    null: np.ndarray  # (B,) max over the pairs kept in the maximum
    kept: np.ndarray  # pairs in the maximum (not clearly improving)


def pair_stats(curve: Curve, shift: float = 0.0) -> PairStats:
    """Every pair i < j of budgets as a studentized loss (goodness units, bootstrap-t).

    `t` tests the shifted null "loss <= shift" ((loss - shift) / se; the gate's shift is its
    tolerance, the analysis's is 0), and Hansen's rule drops the pairs that are clearly *inside* that
    null (t < -threshold): under the shifted null a pair far below the tolerance is what a clearly
    improving pair is under "loss <= 0". The centred replicate statistics do not depend on the shift.
    """
    k = len(curve.values)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    matrix = np.zeros((k, len(pairs)))
    for n, (i, j) in enumerate(pairs):
        matrix[i, n], matrix[j, n] = sign_of(curve), -sign_of(curve)
    tested = contrasts(curve, matrix)
    t = tested.t if shift == 0 else exact_ratio(tested.estimate - shift, tested.se)
    kept = ~(t < -improvement_threshold(curve.n_items))
    in_max = np.where(kept[None, :], np.nan_to_num(tested.null, nan=-np.inf), -np.inf)
    return PairStats(pairs, tested.estimate, tested.se, t, np.max(in_max, axis=1), kept)


CLEAR_GAIN_T = 3.0  # a studentized gain this large is no chance fluctuation at any alpha in use


def improvement_threshold(n_items: int) -> float:
    """A pair whose t is below minus this clearly improves and leaves the maximum.

    Hansen's rule is sqrt(2 log log n) (1.8 at 200 items); in finite samples it drops pairs that
    improved by chance and makes the test liberal, so the threshold is never below 3.
    """
    return max(CLEAR_GAIN_T, math.sqrt(2 * math.log(max(math.log(max(n_items, 3)), 1.0001))))


def loss_results(curves: list[Curve], level: float, scale: float, threshold: list[float],
                 shift: list[float] | None = None) -> list[Loss]:
    """Max-type loss test over all pairs of all `curves` at `level`; p-values multiplied by `scale`.

    With `shift` (one per curve, the gate's tolerances) each curve tests "its loss is at most its
    shift": p < alpha exactly when the simultaneous lower bound `loss - c * se` exceeds the shift.
    Without it the null is "no loss" (the analysis verdict's test)."""
    shifts = shift if shift is not None else [0.0] * len(curves)
    stats = [pair_stats(c, d) for c, d in zip(curves, shifts, strict=True)]
    group_null = np.max(np.stack([s.null for s in stats], axis=1), axis=1)
    c = critical_value(group_null, level)
    out = []
    for curve, s, thr, d in zip(curves, stats, threshold, shifts, strict=True):
        kept = [n for n in range(len(s.pairs)) if s.kept[n]]
        candidates = [n for n in kept if s.loss[n] >= thr] or kept or list(range(len(s.pairs)))
        best = max(candidates, key=lambda n: (s.t[n], s.loss[n]))
        i, j = s.pairs[best]
        if not s.kept[best]:  # every pair is clearly inside the null: no loss to test
            out.append(Loss(curve.budgets[i], curve.budgets[j], float(s.loss[best]), -math.inf, 1.0))
            continue
        lower = lower_bound(float(s.loss[best]), float(s.se[best]), float(s.t[best]), c, d)
        p = min(1.0, p_value(float(s.t[best]), group_null) * scale)
        out.append(Loss(curve.budgets[i], curve.budgets[j], float(s.loss[best]), float(lower), p))
    return out


def lower_bound(loss: float, se: float, t: float, critical: float, shift: float = 0.0) -> float:
    """`loss - c * se`, exact for zero-variance losses: above `shift` exactly when t > c
    (t = (loss - shift) / se, the statistic of the shifted null)."""
    if se > 0:
        return loss - critical * se
    return loss if t > critical else -math.inf


def slope_results(curves: list[Curve], level: float,
                  scale: float) -> list[tuple[float, float, tuple[float, float], float]]:
    """Two-sided max-type slope test: (slope, effect, simultaneous CI, adjusted p) per curve."""
    rows: list[tuple[float, float, float, float, np.ndarray]] = []
    for curve in curves:
        x = np.log1p(np.clip(curve.tokens, 0, None))
        ok = np.isfinite(x)
        centred = np.where(ok, x - np.nanmean(np.where(ok, x, np.nan)), 0.0)
        sxx = float((centred**2).sum())
        span = span_of(curve)
        weights = centred / sxx * span if sxx > 0 else centred  # effect = fitted change over the span
        tested = contrasts(curve, weights[:, None])
        effect = float(tested.estimate[0])
        slope = effect / span if span > 0 else math.nan
        rows.append((slope, effect, float(tested.se[0]), float(tested.t[0]), np.abs(tested.null[:, 0])))
    group_null = np.max(np.stack([r[4] for r in rows], axis=1), axis=1)
    c = critical_value(group_null, level)
    out: list[tuple[float, float, tuple[float, float], float]] = []
    for slope, effect, effect_se, t_value, _ in rows:
        half = float(c * effect_se) if effect_se > 0 else 0.0
        p = min(1.0, p_value(abs(t_value), group_null) * scale)
        out.append((float(slope), float(effect), (float(effect) - half, float(effect) + half), p))
    return out


def _call(curve: Curve, effect: float, ci: tuple[float, float], p: float, loss: Loss, alpha: float,
          threshold: float) -> tuple[str, str]:
    good = sign_of(curve) * effect
    good_lo, good_hi = sorted((sign_of(curve) * ci[0], sign_of(curve) * ci[1]))
    slope_inverse = p < alpha and good <= -threshold
    loss_inverse = loss.p < alpha and loss.loss >= threshold
    if slope_inverse or loss_inverse:
        return "inverse", "slope+loss" if slope_inverse and loss_inverse else "slope" if slope_inverse else "loss"
    if p < alpha and good >= threshold:
        return "positive", "slope"
    if -threshold < good_lo and good_hi < threshold:
        return "flat", "effect interval inside the minimum effect"
    if p < alpha or loss.p < alpha:
        return "flat", "significant but smaller than the minimum effect"
    return "noisy", "no significant trend, but the interval cannot exclude the minimum effect"


def _test_group(curves: list[Curve], share: float, alpha: float, group: str,
                min_effect: float | None) -> list[Curve]:
    level = alpha * share / 2  # half of the share for each of the two tests
    scale = 2 / share
    thresholds = [c.metric.min_effect if min_effect is None else min_effect for c in curves]
    losses = loss_results(curves, level, scale, thresholds)
    slope_rows = slope_results(curves, level, scale)
    out = []
    for curve, loss, (slope, effect, ci, p), thr in zip(curves, losses, slope_rows, thresholds, strict=True):
        call, reason = _call(curve, effect, ci, p, loss, alpha, thr)
        out.append(replace(curve, verdict=Verdict(
            call=call, reason=reason, metric=curve.metric.name, unit=curve.metric.unit, min_effect=thr,
            alpha=alpha, group=group, curves_tested=len(curves), effect=effect, ci=ci, p=p, slope=slope,
            loss=loss)))
    return out


def annotate(curves: list[Curve], alpha: float = ALPHA, min_effect: float | None = None) -> list[Curve]:
    """Curves with verdicts, error-controlled per family (see the module docstring); order kept."""
    result: dict[int, Curve] = {}
    by_family: dict[tuple[str, ...], list[int]] = {}
    for position, curve in enumerate(curves):
        by_family.setdefault(curve.family, []).append(position)
    for positions in by_family.values():
        groups = {"main": [], "strata": []}  # type: dict[str, list[int]]
        for position in positions:
            curve = curves[position]
            reason = testable(curve)
            if reason:
                thr = curve.metric.min_effect if min_effect is None else min_effect
                result[position] = replace(curve, verdict=Verdict("descriptive", reason, curve.metric.name,
                                                                  curve.metric.unit, thr, alpha))
            else:
                groups["main" if curve.main else "strata"].append(position)
        for name, members, share in alpha_shares(groups["main"], groups["strata"]):
            tested = _test_group([curves[p] for p in members], share, alpha, name, min_effect)
            result.update(zip(members, tested, strict=True))
    return [result[p] for p in range(len(curves))]


def alpha_shares(main: list[int], strata: list[int]) -> list[tuple[str, list[int], float]]:
    """A family's tested curves as groups with their share of its alpha: main curves 4/5 and strata
    1/5, or all of it when the family has only one kind (the analysis and the gate split alike)."""
    both = bool(main) and bool(strata)
    return [(name, members, (MAIN_SHARE if name == "main" else 1 - MAIN_SHARE) if both else 1.0)
            for name, members in (("main", main), ("strata", strata)) if members]


def verdict(curve: Curve, alpha: float = ALPHA, min_effect: float | None = None) -> Verdict:
    """The verdict of one curve tested on its own (a family of one)."""
    annotated = annotate([replace(curve, main=True)], alpha=alpha, min_effect=min_effect)[0]
    assert annotated.verdict is not None
    return annotated.verdict
