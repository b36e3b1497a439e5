"""A loss size you can quote: the largest loss of a curve, chosen and measured on different problems.

The max-type test picks the budget pair with the largest (studentized) loss and reports that pair's
estimate. Picking the largest of several noisy estimates inflates it (the winner's curse): on a
true 4-point tail drop (0.70, 0.80, 0.80, 0.76; 300 items) the reported loss averaged 0.053, and
more in the stores that failed. The test is still valid (its null distribution takes the same
maximum); only the size is not.

The size here is **cross-fitted** over K folds: the problems (independent units: clusters) are
dealt at random into FOLDS folds; for each fold the pair with the largest loss is chosen on the other
K-1 folds and its loss measured on the held-out fold; the measurements are averaged (weighted by fold
size) over REPEATS random deals. The fold that measures never took part in the choice, so each
measurement is unbiased for the true loss of the pair chosen; when the choice is clear that is the
largest true loss, and when two pairs tie (1K -> 16K and 4K -> 16K of the tail drop) either one is
right. It falls short of the largest true loss only when the choosing folds pick a pair with a
clearly smaller loss. An earlier version chose on half of the problems and measured on the other
half; choosing on 9/10 picks the largest pair more often, which brought the 300-item calibration
curves within 10% of the true loss in every cell (docs/statistics.md). On curves with about 50
independent units (refusal's harmful prompts, ai_risk's questions) no split chooses reliably and
the size errs low by 10-40%: read it as "at least about this much". No estimator of the largest of
several noisy means is unbiased everywhere; this one errs low, not high, on average.
"""

from __future__ import annotations

import numpy as np

from overthink.analysis.bootstrap import Curve, curve_seed

FOLDS = 10  # choose on 9/10 of the problems, measure on the held-out tenth
REPEATS = 4  # random deals of the problems into folds: the deal's own noise averages out


def pair_matrix(k: int, higher_is_better: bool) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Every pair i < j of k budgets as a (k, P) contrast matrix of losses in goodness units."""
    sign = 1.0 if higher_is_better else -1.0
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    matrix = np.zeros((k, len(pairs)))
    for n, (i, j) in enumerate(pairs):
        matrix[i, n], matrix[j, n] = sign, -sign
    return pairs, matrix


def _part_losses(curve: Curve, parts: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(rows, P) pair losses of the items selected by each row of the 0/1 `parts` (rows, items)."""
    assert curve.item_matrix is not None
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (parts @ curve.item_matrix) / parts.sum(axis=1, keepdims=True)
    if curve.metric.rmse:
        means = np.sqrt(means)
    result: np.ndarray = means @ matrix
    return result


def crossfit_size(curve: Curve, seed: int = 0, folds: int = FOLDS, repeats: int = REPEATS) -> float | None:
    """The K-fold cross-fitted largest loss of a curve (goodness units); None when it cannot be split."""
    y, clusters = curve.item_matrix, curve.item_clusters
    if y is None or clusters is None or len(curve.budgets) < 2 or y.shape[0] != clusters.size:
        return None
    _, unit = np.unique(clusters, return_inverse=True)
    n_units = int(unit.max()) + 1 if unit.size else 0
    if n_units < 4:
        return None
    folds = min(folds, n_units)  # at most leave-one-unit-out
    rng = curve_seed(seed, *curve.family, curve.stratum, "crossfit")
    _, matrix = pair_matrix(len(curve.budgets), curve.metric.higher_is_better)
    measured, weights = [], []
    for _ in range(repeats):
        fold_of_item = (rng.permutation(n_units) % folds)[unit]
        held_out = np.stack([fold_of_item == f for f in range(folds)]).astype(np.float64)  # (folds, n)
        chosen = np.argmax(np.nan_to_num(_part_losses(curve, 1.0 - held_out, matrix), nan=-np.inf), axis=1)
        measured.append(_part_losses(curve, held_out, matrix)[np.arange(folds), chosen])
        weights.append(held_out.sum(axis=1))
    values, sizes = np.concatenate(measured), np.concatenate(weights)
    ok = np.isfinite(values)
    if not ok.any():
        return None
    return float(np.sum(values[ok] * sizes[ok]) / np.sum(sizes[ok]))
