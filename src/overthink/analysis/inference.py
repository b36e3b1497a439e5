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

MIN_ITEMS = 10  # fewer independent units: a bootstrap cannot estimate its own variance; no test


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


def finite_or_none(value: float | None) -> float | None:
    """A number for JSON output: NaN and infinities (no estimate, no bound) become null."""
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


def exact_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator where a zero denominator means an exactly known quantity: 0/0 = 0 and
    x/0 = +-inf (with the minimum number of units enforced upstream, that is real evidence)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        exact = ~(denominator > 0)
        signs = np.sign(numerator) * np.where(numerator == 0, 0.0, np.inf)
        return np.where(exact, signs, numerator / np.where(exact, 1.0, denominator))


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

    A difference with zero bootstrap variance is the same in every replicate: its t is exact
    (`exact_ratio`) and its null draws are 0.
    """
    exact = ~(se > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        null = np.where(exact, 0.0, (draws - estimates) / np.where(exact, 1.0, se))
    return exact_ratio(estimates, se), null


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


def tested_interval(estimate: float, draws: np.ndarray, n_units: int, alpha: float) -> Interval | None:
    """`two_sided`, or None when fewer than MIN_ITEMS independent units stand behind the estimate."""
    if n_units < MIN_ITEMS or not np.isfinite(draws).any():
        return None
    return two_sided(estimate, draws, alpha)


def percentile(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Descriptive percentile interval (no test attached), NaN when there are no finite draws."""
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)
