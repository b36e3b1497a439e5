"""Bootstrap tests whose interval and p-value can never disagree.

Every test in overthink has the same shape: an estimate, its bootstrap replicates (problems
resampled), and a null distribution of a studentized maximum over everything the test looked at
(budget pairs, curves of a family). The p-value counts how often that maximum reaches the observed
statistic, `p = (1 + #{M* >= t}) / (B + 1)`, and the interval uses the critical value read off the
*same* sorted maximum: the order statistic `c` with `p < alpha  <=>  t > c`. An interval
`estimate - c * se` therefore excludes zero exactly when the p-value is below alpha; percentile
intervals next to centred p-values (what the paper and most tools print) can contradict each other.

Studentizing (dividing each difference by its own bootstrap standard error) is what gives the max
statistic power: without it the noisiest pair (usually the largest, most variable difference)
dominates the maximum and hides a small, precise drop elsewhere.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """An estimate with the interval and p-value of one test (`level` = 1 - the alpha it was run at)."""

    estimate: float
    lo: float
    hi: float
    p: float
    level: float

    @property
    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0

    def to_json(self) -> dict[str, float | None]:
        return {"estimate": _clean(self.estimate), "lo": _clean(self.lo), "hi": _clean(self.hi),
                "p": _clean(self.p), "level": self.level}


def _clean(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else float(value)


def allowed_exceedances(alpha: float, n_draws: int) -> int:
    """Largest count r of null draws >= t that still gives p < alpha (-1: nothing can be significant)."""
    return math.ceil(alpha * (n_draws + 1) - 1) - 1


def critical_value(null_max: np.ndarray, alpha: float) -> float:
    """The c with `p_value(t, null_max) < alpha` exactly when `t > c` (inf when B is too small)."""
    draws = np.sort(null_max[~np.isnan(null_max)])[::-1]
    r = allowed_exceedances(alpha, draws.size)
    if r < 0 or draws.size == 0:
        return math.inf
    if r >= draws.size:
        return -math.inf
    return float(draws[r])


def p_value(statistic: float, null_max: np.ndarray) -> float:
    """`(1 + #{M* >= t}) / (B + 1)`; a NaN statistic is no evidence (p = 1)."""
    draws = null_max[~np.isnan(null_max)]
    if math.isnan(statistic) or draws.size == 0:
        return 1.0
    return float((1 + int((draws >= statistic).sum())) / (1 + draws.size))


def standard_errors(draws: np.ndarray) -> np.ndarray:
    """Bootstrap standard deviation per column (rows = replicates), NaN-safe."""
    finite = np.where(np.isfinite(draws), draws, np.nan)
    count = np.isfinite(finite).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN is the answer
        se = np.nanstd(finite, axis=0, ddof=1)
    return np.where(count >= 2, se, np.nan)


def studentize(estimates: np.ndarray, draws: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t = estimate / se, centred null draws (D* - D) / se); zero-variance columns are exact.

    A difference with zero bootstrap variance is the same in every replicate: its t is +-inf when it
    is not zero (with the minimum number of problems enforced upstream, that is real evidence) and 0
    when it is; its null draws are 0.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        exact = ~(se > 0)
        t = np.where(exact, np.sign(estimates) * np.where(estimates == 0, 0.0, np.inf), estimates / se)
        null = np.where(exact, 0.0, (draws - estimates) / np.where(exact, 1.0, se))
    return t, null


def two_sided(estimate: float, draws: np.ndarray, alpha: float) -> Interval:
    """One estimate: symmetric studentized interval and two-sided p from the same centred draws."""
    draws = draws[np.isfinite(draws)]
    if draws.size < 2 or math.isnan(estimate):
        return Interval(estimate, math.nan, math.nan, 1.0, 1 - alpha)
    se = standard_errors(draws[:, None])
    t, null = studentize(np.array([estimate]), draws[:, None], se)
    null_abs = np.abs(null[:, 0])
    c = critical_value(null_abs, alpha)
    half = c * float(se[0]) if se[0] > 0 else 0.0
    return Interval(estimate, estimate - half, estimate + half, p_value(abs(float(t[0])), null_abs), 1 - alpha)


def percentile(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Descriptive percentile interval (no test attached), NaN when there are no finite draws."""
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)
