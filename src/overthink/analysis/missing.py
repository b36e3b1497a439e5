"""What a curve lost at each budget, item by item, and what the lost items could have done to it.

A curve compares its budgets on the items present at every one of them. That is unbiased only if
an item goes missing (an error, an answer the scorer cannot read) for reasons unrelated to how it
would have scored; long budgets timing out on hard items break exactly that. So besides the counts
per budget (`Missing`), a curve keeps, when anything errored or went unparsed, the share of each
item's records at each budget that did (the gate tests whether those shares rise with reasoning,
paired by problem like every other test), and per-budget worst/best-case bounds: the metric over all of
the stratum's items with every missing one counted as the worst (best) value observed on the
curve (0 and 1 for a rate or accuracy). The bounds make no assumption about why data is missing;
the common-items estimate assumes it is unrelated to the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from overthink.analysis.metrics import unparsed


@dataclass(frozen=True)
class Missing:
    """Items of a curve's stratum left out at one budget, by reason."""

    budget: str
    error: int
    unparsed: int
    absent: int

    @property
    def total(self) -> int:
        return self.error + self.unparsed + self.absent


def missing_shares(rows: pd.DataFrame, items: np.ndarray, cols: np.ndarray, stratum_items: np.ndarray,
                   n_items: int, k: int) -> np.ndarray | None:
    """(stratum items, budgets, 2): the share of each item's records at each budget that errored, and
    that finished with an answer the scorer could not read (any task: for accuracy an unparsed answer
    is scored wrong, but a rising share of them is still its own failure mode). Records, not items:
    with 3 repeats an item is on the curve if any one of them answered, so a 30% unparsed rate moves
    the item-level count by 3%. None when nothing errored or went unparsed."""
    status = rows["status"].astype(str).to_numpy() if "status" in rows.columns else np.full(len(rows), "ok")
    use = cols >= 0
    flat = items[use] * k + cols[use]
    counts = np.bincount(flat, minlength=n_items * k).astype(np.float64)
    shares = np.zeros((n_items * k, 2))
    for n, flag in enumerate((status != "ok", unparsed(rows).to_numpy(bool))):
        shares[:, n] = np.bincount(flat, weights=flag[use].astype(np.float64), minlength=n_items * k)
    if not shares.any():
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(counts[:, None] > 0, shares / np.where(counts > 0, counts, 1.0)[:, None], 0.0)
    result: np.ndarray = shares.reshape(n_items, k, 2)[stratum_items]
    return result


def missing_by_budget(rows: pd.DataFrame, items: np.ndarray, cols: np.ndarray, scored: np.ndarray,
                      stratum_items: np.ndarray, present: np.ndarray, budgets: list[str]) -> tuple[Missing, ...]:
    """Per budget: stratum items without a scored value there, split into error / unparsed / absent."""
    status = rows["status"].astype(str).to_numpy() if "status" in rows.columns else np.full(len(rows), "ok")
    out = []
    for j, budget in enumerate(budgets):
        lacking = stratum_items[present[stratum_items, j] == 0]
        if lacking.size == 0:
            out.append(Missing(budget, 0, 0, 0))
            continue
        lacks = np.zeros(present.shape[0], dtype=bool)
        lacks[lacking] = True
        at = (cols == j) & lacks[items]
        ok_rows = set(items[at & (status == "ok") & ~scored].tolist())
        error_rows = set(items[at & (status != "ok")].tolist()) - ok_rows
        out.append(Missing(budget, len(error_rows), len(ok_rows), int(lacking.size) - len(ok_rows | error_rows)))
    return tuple(out)


def missing_bounds(y: np.ndarray, present: np.ndarray, stratum_items: np.ndarray, rmse: bool) -> np.ndarray | None:
    """(budgets, 2): the metric over every stratum item with the missing ones at the lowest / highest
    item value observed on the curve (item means; squared errors for RMSE, rooted after). None when
    nothing is missing."""
    sub_y, sub_p = y[stratum_items], present[stratum_items] > 0
    if sub_p.all() or not sub_p.any():
        return None
    n = len(stratum_items)
    counts, sums = sub_p.sum(axis=0), np.where(sub_p, sub_y, 0.0).sum(axis=0)
    low_value, high_value = float(sub_y[sub_p].min()), float(sub_y[sub_p].max())
    bounds = np.stack([(sums + (n - counts) * low_value) / n, (sums + (n - counts) * high_value) / n], axis=1)
    return np.sqrt(bounds) if rmse else bounds
