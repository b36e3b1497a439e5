"""Studentized contrasts between the budgets of a curve: the bootstrap-t over independent units.

Every test of a curve is a contrast: a loss between two budgets is `y_i - y_j`, a fitted slope is
`sum_k c_k y_k`. For a metric that is a mean over items, a contrast is the mean of one number per
item, `z = Y @ c`, so its standard error can be computed in the sample *and in every bootstrap
replicate* (weighted by how often each unit was drawn). That is the bootstrap-t: the replicate
statistic `(e* - e) / se*` uses the replicate's own standard error. Dividing by a fixed bootstrap
standard error instead (`(e* - e) / se`) ignores that an estimate and its standard error move
together; on small strata near 0 or 1 (50 items at 90% accuracy) that made the one-sided tail of a
max over pairs two to four times too light, and the gate false-failed such stores too often.

The unit is the cluster: items that are variants of one question (choice orders) or one student
(shot levels) share a cluster, the bootstrap draws clusters, and the standard error is the ratio
estimator's (cluster totals minus the mean times the cluster size). Without clusters every item is
its own unit and this is the ordinary standard error of a mean.

RMSE is not a mean of item values (it is the square root of one), so RMSE curves keep the plain
studentized bootstrap on the replicate curves (`boot_values`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from overthink.analysis.bootstrap import Curve
from overthink.analysis.inference import exact_ratio, standard_errors, studentize

SE_FLOOR = 0.5  # replicate standard errors are floored at this share of the sample's


@dataclass(frozen=True)
class Contrasts:
    """Estimates, standard errors, t statistics and centred replicate t statistics of P contrasts."""

    estimate: np.ndarray  # (P,)
    se: np.ndarray  # (P,)
    t: np.ndarray  # (P,)
    null: np.ndarray  # (B, P): (e* - e) / se* (or / se for RMSE curves)


def _cluster_sums(curve: Curve, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per family cluster: totals of each contrast (C, P), item counts (C,), and the clusters used."""
    assert curve.item_clusters is not None and curve.cluster_weights is not None
    n_clusters = curve.cluster_weights.shape[1]
    counts = np.bincount(curve.item_clusters, minlength=n_clusters).astype(np.float64)
    totals = np.stack([np.bincount(curve.item_clusters, weights=z[:, p], minlength=n_clusters)
                       for p in range(z.shape[1])], axis=1)
    return totals, counts, np.flatnonzero(counts > 0)


def _ratio(weights: np.ndarray, totals: np.ndarray, counts: np.ndarray, n_units: int,
           columns: np.ndarray | None = None, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Mean and its standard error per row of `weights` (ratio estimator over clusters).

    `columns` picks the clusters used. Rows are taken `chunk` at a time, so the float64 copy of the
    weights is chunk x clusters, never the whole (B, clusters) matrix (4 GB-class at 125,000 items).
    """
    rows = weights.shape[0]
    mean, se = np.empty((rows, totals.shape[1])), np.empty((rows, totals.shape[1]))
    squares, cross, sizes = totals**2, totals * counts[:, None], counts**2
    for start in range(0, rows, chunk):
        part = weights[start:start + chunk]
        w = (part if columns is None else part[:, columns]).astype(np.float64)
        size = w @ counts  # (r,)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = (w @ totals) / size[:, None]
            resid = w @ squares - 2 * m * (w @ cross) + m**2 * (w @ sizes)[:, None]
            var = np.clip(resid, 0, None) * (n_units / max(n_units - 1, 1)) / size[:, None] ** 2
        mean[start:start + chunk], se[start:start + chunk] = m, np.sqrt(var)
    return mean, se


def contrasts(curve: Curve, matrix: np.ndarray) -> Contrasts:
    """Test the contrasts `matrix` (K, P) of a curve's budget values (goodness signs applied by the caller)."""
    if curve.item_values is None or curve.cluster_weights is None or curve.item_clusters is None:
        return _fixed_se(curve, matrix)
    z = np.nan_to_num(curve.item_values) @ matrix  # (n, P): one value per item and contrast
    totals, counts, used = _cluster_sums(curve, z)
    every = used.size == curve.cluster_weights.shape[1]  # no copy of the weights when all clusters are used
    totals, counts = totals[used], counts[used]
    point, se = _ratio(np.ones((1, used.size)), totals, counts, used.size)
    boot, boot_se = _ratio(curve.cluster_weights, totals, counts, used.size, None if every else used)
    estimate, se = point[0], se[0]
    t = exact_ratio(estimate, se)
    # A replicate that drew few distinct units can have a standard error near zero and a t* in the
    # millions; flooring se* at half the sample's keeps such draws from setting the critical value.
    null = exact_ratio(boot - estimate, np.maximum(boot_se, SE_FLOOR * se[None, :]))
    return Contrasts(estimate, se, t, null)


def _fixed_se(curve: Curve, matrix: np.ndarray) -> Contrasts:
    """Contrasts of the replicate curves themselves, studentized by their bootstrap standard error."""
    estimate = np.nan_to_num(curve.values) @ matrix
    draws = np.nan_to_num(curve.boot_values) @ matrix
    draws = np.where(np.isfinite(curve.boot_values).all(axis=1, keepdims=True), draws, np.nan)
    se = standard_errors(draws)
    t, null = studentize(estimate, draws, se)
    return Contrasts(estimate, se, t, null)
