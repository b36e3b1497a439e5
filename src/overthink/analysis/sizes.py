"""A loss size you can quote: the largest loss of a curve, chosen and measured on different problems.

The max-type test picks the budget pair with the largest (studentized) loss and reports that pair's
estimate. Picking the largest of several noisy estimates inflates it (the winner's curse): on a
true 4-point tail drop (0.70, 0.80, 0.80, 0.76; 300 items) the reported loss averaged 0.053, and
more in the stores that failed. The test is still valid (its null distribution takes the same
maximum); only the size is not.

The size here is **cross-fitted**: split the problems (independent units: clusters) at random into
two halves, choose the pair with the largest loss on one half and measure that pair's loss on the
other, both ways round, and average over SPLITS random splits. The half that measures never took
part in the choice, so each measurement is unbiased for the true loss of the pair chosen; when the
choice is clear that is the largest true loss, and when two pairs tie (1K -> 16K and 4K -> 16K of
the tail drop) either one is right. It can fall short of the largest true loss only when the half
chooses a pair with a clearly smaller loss, which becomes rare as the data grow. Measured bias on
the calibration stores: docs/statistics.md.
"""

from __future__ import annotations

import math

import numpy as np

from overthink.analysis.bootstrap import Curve, curve_seed

SPLITS = 20  # random half-splits (each used both ways): the split's own noise averages out


def pair_matrix(k: int, higher_is_better: bool) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Every pair i < j of k budgets as a (k, P) contrast matrix of losses in goodness units."""
    sign = 1.0 if higher_is_better else -1.0
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    matrix = np.zeros((k, len(pairs)))
    for n, (i, j) in enumerate(pairs):
        matrix[i, n], matrix[j, n] = sign, -sign
    return pairs, matrix


def _half_losses(curve: Curve, halves: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(rows, P) pair losses of the items selected by each row of the 0/1 `halves` (rows, items)."""
    assert curve.item_matrix is not None
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (halves @ curve.item_matrix) / halves.sum(axis=1, keepdims=True)
    if curve.metric.rmse:
        means = np.sqrt(means)
    result: np.ndarray = means @ matrix
    return result


def crossfit_size(curve: Curve, seed: int = 0, splits: int = SPLITS) -> float | None:
    """The cross-fitted largest loss of a curve (goodness units); None when it cannot be split."""
    y, clusters = curve.item_matrix, curve.item_clusters
    if y is None or clusters is None or len(curve.budgets) < 2 or y.shape[0] != clusters.size:
        return None
    _, unit = np.unique(clusters, return_inverse=True)
    n_units = int(unit.max()) + 1 if unit.size else 0
    if n_units < 4:
        return None
    rng = curve_seed(seed, *curve.family, curve.stratum, "crossfit")
    in_first = np.stack([rng.permutation(n_units) < n_units // 2 for _ in range(splits)])[:, unit]  # (S, n)
    first, second = in_first.astype(np.float64), (~in_first).astype(np.float64)
    _, matrix = pair_matrix(len(curve.budgets), curve.metric.higher_is_better)
    loss_first, loss_second = _half_losses(curve, first, matrix), _half_losses(curve, second, matrix)
    rows = np.arange(splits)
    chosen_first = np.argmax(np.nan_to_num(loss_first, nan=-np.inf), axis=1)
    chosen_second = np.argmax(np.nan_to_num(loss_second, nan=-np.inf), axis=1)
    measured = np.concatenate([loss_second[rows, chosen_first], loss_first[rows, chosen_second]])
    value = float(np.nanmean(measured)) if np.isfinite(measured).any() else math.nan
    return None if math.isnan(value) else value
