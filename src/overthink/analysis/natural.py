"""Natural overthinking: without a budget, do an item's longer traces score worse than its shorter ones?

The paper samples each item several times with no budget, ranks the samples of each item by
reasoning length and plots accuracy by rank. That ranking is within item, but a plain regression of
correctness on length is not: hard items produce long traces *and* wrong answers, so length looks
harmful even when it is not. Next to the rank curve this module therefore estimates the length
effect conditional on the item (a demeaned, item-fixed-effects regression of the metric on log
length), with a CI from the problem bootstrap, and shows the naive pooled slope for contrast.

Selection and censoring: the within-item slope uses every item with at least two scored samples
(fixed effects need no equal counts), so items that lost samples to errors are not dropped; the rank
curve needs equal counts and says how many items it left out. A censored trace (it never ended by
itself, cut at the cap) has a length that is the cap, not the model's choice: the within-item effect
is reported with and without censored samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overthink.analysis.bootstrap import (
    CURVE_KEYS,
    curve_seed,
    item_means,
    resample_weights,
    weighted_means,
)
from overthink.analysis.inference import Interval, percentile, tested_interval
from overthink.analysis.inference import finite_or_none as _n
from overthink.analysis.metrics import (
    NO_TRAITS,
    MetricInfo,
    Traits,
    metric_info,
    record_values,
    strata_masks,
    task_metric,
)
from overthink.analysis.trends import ALPHA

LOG2 = math.log(2)


@dataclass(frozen=True)
class RankPoint:
    rank: int
    tokens: float
    value: float
    lo: float
    hi: float


@dataclass(frozen=True)
class WithinItem:
    """Change of the metric per doubling of the same item's reasoning length."""

    n_items: int
    n_samples: int
    per_doubling: float
    interval: Interval | None  # None when fewer than MIN_ITEMS items: descriptive
    pooled_per_doubling: float

    def to_json(self) -> dict[str, Any]:
        ci = [self.interval.lo * LOG2, self.interval.hi * LOG2] if self.interval else [None, None]
        return {"n_items": self.n_items, "n_samples": self.n_samples, "per_doubling": _n(self.per_doubling),
                "ci_per_doubling": [_n(v) for v in ci], "p": _n(self.interval.p) if self.interval else None,
                "pooled_per_doubling": _n(self.pooled_per_doubling)}


@dataclass(frozen=True)
class NaturalResult:
    model: str
    task: str
    mechanism: str
    strategy: str
    stratum: str
    metric: str
    higher_is_better: bool
    n_items: int  # items on the rank curve
    samples_per_item: int
    items_left_out: int  # items with another number of samples (not on the rank curve)
    censored: int
    ranks: tuple[RankPoint, ...]
    within_item: WithinItem
    within_item_uncensored: WithinItem | None

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "task": self.task, "mechanism": self.mechanism, "strategy": self.strategy,
                "stratum": self.stratum, "metric": self.metric, "higher_is_better": self.higher_is_better,
                "n_items": self.n_items, "samples_per_item": self.samples_per_item,
                "items_left_out": self.items_left_out, "censored": self.censored,
                "ranks": [{"rank": r.rank, "tokens": _n(r.tokens), "value": _n(r.value), "lo": _n(r.lo),
                           "hi": _n(r.hi)} for r in self.ranks],
                "within_item": self.within_item.to_json(),
                "within_item_uncensored": self.within_item_uncensored.to_json()
                if self.within_item_uncensored else None}


def natural_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Finished natural-budget records with a realized length."""
    ok = frame["status"] == "ok" if "status" in frame else pd.Series(True, index=frame.index)
    return frame[ok & (frame["budget"] == "natural") & frame["realized"].notna()]


def _ranked(sub: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Items sampled the most common number of times (>= 2), samples ranked by length; and how many
    items with >= 2 samples were left out for having another count."""
    counts = sub.groupby("sample_id", observed=True)["realized"].transform("size")
    multi = counts[counts >= 2]
    if multi.empty:
        return sub.iloc[0:0], 0, 0
    per_item = multi.groupby(sub.loc[multi.index, "sample_id"], observed=True).first()
    size = int(per_item.mode().iloc[0])
    kept = sub[counts == size].sort_values(["sample_id", "realized", "repeat"], kind="stable")
    kept = kept.assign(rank=kept.groupby("sample_id", observed=True).cumcount())
    return kept, size, int((per_item != size).sum())


def within_item_slope(items: np.ndarray, x: np.ndarray, y: np.ndarray, n_items: int,
                      weights: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Item-demeaned slope of y on x (point, bootstrap draws) and the naive pooled slope."""
    counts = np.bincount(items, minlength=n_items).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.bincount(items, weights=x, minlength=n_items) / counts
        my = np.bincount(items, weights=y, minlength=n_items) / counts
    dx, dy = x - mx[items], y - my[items]
    sxy = np.bincount(items, weights=dx * dy, minlength=n_items)
    sxx = np.bincount(items, weights=dx * dx, minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = float(sxy.sum() / sxx.sum()) if sxx.sum() > 0 else float("nan")
        boot = (weights @ sxy.astype(weights.dtype)).astype(float) / (weights @ sxx.astype(weights.dtype))
    cx, cy = x - x.mean(), y - y.mean()
    pooled = float((cx * cy).sum() / (cx * cx).sum()) if (cx * cx).sum() > 0 else float("nan")
    return point, boot, pooled


@dataclass(frozen=True)
class NaturalFamily:
    """One family's natural records with its item codes and shared bootstrap weights (one draw of
    problems for every stratum, rank curve and within-item effect of the family)."""

    codes: pd.Series  # item position of every row, aligned with the rows
    n_items: int
    weights: np.ndarray


def _within(sub: pd.DataFrame, values: np.ndarray, family: NaturalFamily, alpha: float) -> WithinItem:
    """Within-item effect over every item with >= 2 scored samples."""
    counts = sub.groupby("sample_id", observed=True)["realized"].transform("size").to_numpy()
    keep = counts >= 2
    items = family.codes.loc[sub.index].to_numpy()[keep]
    x = np.log1p(sub["realized"].to_numpy(float)[keep])
    n_used = int(np.unique(items).size) if items.size else 0
    if n_used == 0:
        return WithinItem(0, 0, math.nan, None, math.nan)
    slope, boot, pooled = within_item_slope(items, x, values[keep], family.n_items, family.weights)
    interval = tested_interval(slope, boot, n_used, alpha)
    return WithinItem(n_used, int(keep.sum()), slope * LOG2, interval, pooled * LOG2)


def analyze_natural(frame: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                    alpha: float = ALPHA, *, traits: Traits = NO_TRAITS) -> list[NaturalResult]:
    """Rank curves and within-item length effects per (model, task, mechanism, strategy, stratum)."""
    data = natural_frame(frame)
    out: list[NaturalResult] = []
    if data.empty:
        return out
    for key, group in data.groupby(list(CURVE_KEYS), sort=True, observed=True):
        model, task, mechanism, strategy = (str(k) for k in key)
        codes, index = pd.factorize(group["sample_id"].astype(str), sort=True)
        family = NaturalFamily(pd.Series(codes, index=group.index), len(index),
                               resample_weights(len(index), n_boot, curve_seed(seed, "natural", *key)))
        declared = traits.get(task)
        for stratum in strata_masks(group, task, task_metric(declared), declared):
            sub = group[stratum.mask.to_numpy()]
            sub = sub[record_values(sub, stratum.metric).notna().to_numpy()]
            ranked, size, left_out = _ranked(sub)
            if size < 2:
                continue
            ident = (model, task, mechanism, strategy, stratum.label)
            info = metric_info(declared, stratum.metric)
            out.append(_one(sub, ranked, size, left_out, info, stratum.metric, ident, family, alpha))
    return out


def _effect_values(sub: pd.DataFrame, metric: str, rmse: bool) -> np.ndarray:
    """What the within-item regression uses: absolute error for regression tasks, else the metric."""
    return sub["score"].to_numpy(float) if rmse else record_values(sub, metric).to_numpy(float)


def _one(sub: pd.DataFrame, ranked: pd.DataFrame, size: int, left_out: int, info: MetricInfo, metric: str,
         ident: tuple[str, ...], family: NaturalFamily, alpha: float) -> NaturalResult:
    items = family.codes.loc[ranked.index].to_numpy()
    ranks = ranked["rank"].to_numpy(np.int64)
    y, mask = item_means(items, ranks, record_values(ranked, metric).to_numpy(float), family.n_items, size)
    t, tmask = item_means(items, ranks, ranked["realized"].to_numpy(float), family.n_items, size)
    ones = np.ones((1, family.n_items))
    point, boot = weighted_means(ones, y, mask)[0], weighted_means(family.weights, y, mask)
    if info.rmse:
        point, boot = np.sqrt(point), np.sqrt(boot)
    bounds = [percentile(boot[:, r]) for r in range(size)]
    rank_tokens = weighted_means(ones, t, tmask)[0]
    censored = sub["censored"].astype(bool).to_numpy() if "censored" in sub else np.zeros(len(sub), bool)
    within = _within(sub, _effect_values(sub, metric, info.rmse), family, alpha)
    uncensored = None
    if censored.any():
        clean = sub[~censored]
        uncensored = _within(clean, _effect_values(clean, metric, info.rmse), family, alpha)
    return NaturalResult(
        model=ident[0], task=ident[1], mechanism=ident[2], strategy=ident[3], stratum=ident[4],
        metric=info.name, higher_is_better=info.higher_is_better, n_items=int(np.unique(items).size),
        samples_per_item=size, items_left_out=left_out, censored=int(censored.sum()),
        ranks=tuple(RankPoint(r + 1, float(tok), float(v), lo, hi)
                    for r, (tok, v, (lo, hi)) in enumerate(zip(rank_tokens, point, bounds, strict=True))),
        within_item=within, within_item_uncensored=uncensored)
