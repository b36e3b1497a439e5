"""Continuous piecewise-linear fits of a curve, the number of breakpoints chosen by a bootstrap test.

The job of `phases.py` is to say where a curve improves, plateaus and degrades; this module does
the model fitting behind it, on an axis and with a selection rule that do not invent shapes:

* **The axis** is log2(realized tokens), because sweeps double their budgets. Budget 0 has no place
  on a log axis (log1p put it 5.5 units left of 256 while each doubling is 0.7, so the 0 -> 256 step
  took a breakpoint of its own and the plateau went missing), so the smallest budget, when it is 0
  or lies further below the next budget than a typical step, is placed one typical step (the median
  log2 gap of the other budgets) below the next one: where a geometric grid would have put it.
* **Breakpoints** are searched on a grid (every budget and the midpoint of every gap); every
  segment must span at least two budgets (counting the budgets at its ends), so no segment is
  fitted to a single point.
* **How many breakpoints** (0, 1, 2): a sequential test, k-1 against k breakpoints, each at level
  alpha. The statistic is the drop in weighted chi-square from the best (k-1)-breakpoint fit to the
  best k-breakpoint fit; its null distribution is a parametric bootstrap from the fitted
  (k-1)-breakpoint curve plus each problem-bootstrap replicate's deviation from the observed curve
  (so the null keeps the pairing across budgets), refitted over the same grid (the search itself is
  in the null, which a BIC penalty ignores). A flat or straight curve therefore gets a breakpoint
  at most alpha of the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations, pairwise

import numpy as np

from overthink.analysis.inference import p_value

VAR_FLOOR = 1e-5  # keeps a point with zero bootstrap variance (all right / all wrong) from dominating
CHUNK = 64  # candidate knot tuples evaluated at once (memory: replicates x CHUNK x budgets)


@dataclass(frozen=True)
class Axis:
    """Where each budget sits on the fitting axis, and how to read an axis position back as tokens."""

    x: np.ndarray  # axis position of each point, ascending
    tokens: np.ndarray  # realized tokens of each point, ascending
    pulled: bool  # the first point was placed one typical step below the second

    def to_tokens(self, position: float) -> float:
        """Tokens at an axis position: a budget's own tokens at its position, 2**x between budgets (linear
        between the first two points when the first was pulled)."""
        at = np.flatnonzero(np.isclose(self.x, position, rtol=0.0, atol=1e-9))
        if at.size:
            return float(self.tokens[at[0]])
        if self.pulled and position < self.x[1]:
            share = (position - self.x[0]) / (self.x[1] - self.x[0])
            return float(self.tokens[0] + share * (self.tokens[1] - self.tokens[0]))
        return float(2.0 ** position)


def log_axis(tokens: np.ndarray) -> Axis | None:
    """log2 axis of ascending token counts with budget 0 one typical step below the next budget.

    None when it cannot be built (fewer than three points, or fewer than two with reasoning tokens).
    """
    if tokens.size < 3 or tokens[1] <= 0:
        return None
    logs = np.log2(np.maximum(tokens, 1e-12))
    steps = np.diff(logs[1:])
    step = float(np.median(steps[steps > 0])) if (steps > 0).any() else 1.0
    floor = logs[1] - step
    pulled = bool(logs[0] < floor)
    x = logs.copy()
    x[0] = max(logs[0], floor)
    return Axis(x, tokens.astype(float), pulled)


def design(x: np.ndarray, knots: Sequence[float]) -> np.ndarray:
    """Hinge basis 1, x, (x - k)+ for each knot: continuous and linear between knots."""
    columns = [np.ones_like(x), x] + [np.clip(x - k, 0, None) for k in knots]
    return np.stack(columns, axis=1)


def candidates(x: np.ndarray, count: int) -> list[tuple[float, ...]]:
    """Knot tuples at the budgets: outer segments span >= 2 budgets, inner ones >= 1 budget strictly inside.

    Knots only at budgets: a knot between two budgets is not located by any point, and the extra
    freedom cost the plateau on many simulated curves. An inner segment of two neighbouring budgets
    would be one step of the curve, not a phase."""
    if count == 0:
        return [()]
    out: list[tuple[float, ...]] = []
    for knots in combinations(x.tolist(), count):
        outer = min(int((x <= knots[0]).sum()), int((x >= knots[-1]).sum()))
        inner = [int(((x > a) & (x < b)).sum()) for a, b in pairwise(knots)]
        if outer >= 2 and all(n >= 1 for n in inner):
            out.append(tuple(float(k) for k in knots))
    return out


def fit(x: np.ndarray, white: np.ndarray, ys: np.ndarray,
        knots: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Generalized least squares of each row of ys on the hinge basis (residuals whitened by `white`):
    (coefficients (R, p), fitted values (R, K))."""
    basis = design(x, knots)
    solve = np.linalg.pinv(white @ basis) @ white  # (p, K)
    coef = ys @ solve.T
    return coef, coef @ basis.T


def best_fits(x: np.ndarray, white: np.ndarray, ys: np.ndarray,
              options: list[tuple[float, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """For every row of ys, the smallest whitened chi-square over the knot tuples and its index."""
    yw = ys @ white.T  # (R, K)
    best = np.full(ys.shape[0], np.inf)
    where = np.zeros(ys.shape[0], dtype=np.int64)
    for start in range(0, len(options), CHUNK):
        chunk = options[start:start + CHUNK]
        xw = np.stack([white @ design(x, knots) for knots in chunk])  # (C, K, p)
        hat = xw @ np.linalg.pinv(xw)  # (C, K, K): projection on each candidate's fits
        resid = yw[:, None, :] - np.einsum("ckj,rj->rck", hat, yw)  # (R, C, K)
        chi2 = (resid**2).sum(axis=2)
        pick = np.argmin(chi2, axis=1)
        value = chi2[np.arange(ys.shape[0]), pick]
        better = value < best
        best, where = np.where(better, value, best), np.where(better, pick + start, where)
    return best, where


@dataclass(frozen=True)
class Selection:
    """The chosen number and place of breakpoints, and the p-value of each step that added one."""

    count: int
    knots: tuple[float, ...]
    step_p: tuple[float, ...]  # p of "k-1 breakpoints suffice" for k = 1, 2, ... (tested steps only)


def select(x: np.ndarray, white: np.ndarray, y: np.ndarray, boot: np.ndarray, max_breakpoints: int,
           alpha: float) -> Selection:
    """Add breakpoints while the bootstrap test rejects "one fewer suffices" at level alpha."""
    deviations = boot - y[None, :]
    grids = [candidates(x, c) for c in range(max_breakpoints + 1)]
    chi2 = best_fits(x, white, y[None, :], grids[0])[0]
    count, knots, p_values = 0, grids[0][0], []
    for k in range(1, max_breakpoints + 1):
        if not grids[k] or 2 + k >= x.size:
            break
        chi2_k, where_k = best_fits(x, white, y[None, :], grids[k])
        statistic = float(chi2[0] - chi2_k[0])
        null_curve = fit(x, white, y[None, :], knots)[1]
        replicates = null_curve + deviations
        null = best_fits(x, white, replicates, grids[k - 1])[0] - best_fits(x, white, replicates, grids[k])[0]
        p = p_value(statistic, null)
        p_values.append(p)
        if p >= alpha:
            break
        count, knots, chi2 = k, grids[k][int(where_k[0])], chi2_k
    return Selection(count, knots, tuple(p_values))


def whitener(boot: np.ndarray) -> np.ndarray:
    """diag(1 / bootstrap sd) of each point (variances floored): chi-square = |W r|^2, weighted least squares.

    The points share their problems, so their errors are correlated, but with nearly equal
    correlation between every pair of budgets generalized least squares on the full covariance gives
    the same fits (an intercept absorbs a common error): measured, it found the plateau no more often.
    The bootstrap null keeps the pairing either way."""
    var = np.maximum(boot.var(axis=0), VAR_FLOOR)
    result: np.ndarray = np.diag(1.0 / np.sqrt(var))
    return result


def knot_intervals(x: np.ndarray, white: np.ndarray, boot: np.ndarray, count: int,
                   level: float = 0.95) -> list[tuple[float, float]]:
    """95% intervals (axis units) of each knot: the percentile interval of the replicates' knots, each
    replicate refitted on the grid, widened by half a gap to the neighbouring budgets.

    Knots sit at budgets, so a kink anywhere between two gap midpoints is found at the budget between
    them; without the half gap, a knot every replicate puts at one budget would read [2016, 2016], a
    precision the grid does not have."""
    if count == 0:
        return []
    options = candidates(x, count)
    picked = np.array(options)[best_fits(x, white, boot, options)[1]]  # (R, count)
    tail = (1 - level) / 2 * 100
    lows = np.percentile(picked, tail, axis=0, method="lower")
    highs = np.percentile(picked, 100 - tail, axis=0, method="higher")
    mids = (x[:-1] + x[1:]) / 2
    out = []
    for lo, hi in zip(lows, highs, strict=True):
        below, above = mids[mids < lo], mids[mids > hi]
        out.append((float(below.max()) if below.size else float(x.min()),
                    float(above.min()) if above.size else float(x.max())))
    return out
