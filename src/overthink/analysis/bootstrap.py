"""Scaling curves with a seeded, paired bootstrap that resamples problems, on common items.

Problems, not samples, are the unit of resampling: repeats of one item are averaged within the item
first (the paper's CIs treated repeats as independent, which makes them too narrow), and one
resampled problem set is shared by every budget and every stratum of a family (model, task,
mechanism, strategy), so differences between budgets are paired and tests can take a maximum over
the curves of a family. A curve compares budgets **on the items present at all of its budgets**:
when the hardest items error (or give no readable answer) at one budget only, averaging each budget
over whichever items it has would hide a real drop; the items each budget lost, and why, are kept
on the curve so the output can say so.

The resampling is one weight matrix per family: `W[b, i]` counts how often item i was drawn in
replicate b (one `np.bincount` over an index matrix), and every replicate's per-budget means are a
matrix product `W @ Y`. That is what makes a million records with 1,000 replicates take seconds.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from overthink.analysis.frame import META_PREFIX
from overthink.analysis.inference import MIN_ITEMS, percentile
from overthink.analysis.metrics import (
    NO_TRAITS,
    MetricInfo,
    Traits,
    cluster_keys,
    metric_info,
    record_values,
    strata_masks,
    task_metric,
)
from overthink.analysis.missing import Missing, missing_bounds, missing_by_budget, missing_shares
from overthink.analysis.order import budget_order
from overthink.analysis.results import Phases, Verdict
from overthink.analysis.versions import latest_versions
from overthink.types import TaskTraits

CURVE_KEYS = ("model", "task", "mechanism", "strategy")


@dataclass(frozen=True)
class CurvePoint:
    budget: str
    requested: float | None
    tokens: float | None
    value: float | None
    lo: float | None
    hi: float | None


@dataclass(frozen=True)
class Curve:
    """Metric vs budget for one (model, task, mechanism, strategy, stratum), with bootstrap draws."""

    model: str
    task: str
    mechanism: str
    strategy: str
    stratum: str
    metric: MetricInfo
    budgets: list[str]
    requested: np.ndarray  # requested tokens per budget (NaN for effort budgets)
    tokens: np.ndarray  # mean realized reasoning tokens per budget (x axis)
    values: np.ndarray  # metric per budget, on the common items
    lo: np.ndarray  # descriptive 95% percentile interval per budget
    hi: np.ndarray
    n_items: int  # items present at every budget (the ones compared)
    n_records: int
    boot_values: np.ndarray = field(repr=False)  # (B, K) paired replicates
    boot_tokens: np.ndarray = field(repr=False)
    # For tests of contrasts between budgets (bootstrap-t over clusters, see contrasts.py): the common
    # items' per-budget means (None for RMSE, which is not a mean of item values), each item's cluster
    # in the family, and the family's cluster weights (shared, never copied).
    item_values: np.ndarray | None = field(default=None, repr=False, compare=False)
    item_clusters: np.ndarray | None = field(default=None, repr=False, compare=False)
    cluster_weights: np.ndarray | None = field(default=None, repr=False, compare=False)
    # The common items' per-budget item means for every metric (squared errors for RMSE): what the
    # cross-fitted loss size reads (sizes.py).
    item_matrix: np.ndarray | None = field(default=None, repr=False, compare=False)
    # When items are missing: per-budget worst/best-case values (missing.py); when records errored or
    # went unparsed: each stratum item's share of them per budget (items, budgets, 2), and its cluster.
    bounds: np.ndarray | None = field(default=None, repr=False, compare=False)
    missing_flags: np.ndarray | None = field(default=None, repr=False, compare=False)
    flag_clusters: np.ndarray | None = field(default=None, repr=False, compare=False)
    main: bool = True
    n_items_total: int = 0  # items of the stratum at any budget
    n_clusters: int = 0  # independent units among the common items (= n_items unless items are variants)
    missing: tuple[Missing, ...] = ()
    verdict: Verdict | None = None
    phases: Phases | None = None

    @property
    def family(self) -> tuple[str, str, str, str]:
        return (self.model, self.task, self.mechanism, self.strategy)

    @property
    def label(self) -> str:
        return f"{self.model} / {self.task} / {self.stratum}"

    @property
    def descriptive(self) -> bool:
        """Too few common items (or independent units) for a bootstrap to estimate its own variance."""
        return min(self.n_items, self.n_clusters or self.n_items) < MIN_ITEMS

    @property
    def points(self) -> list[CurvePoint]:
        """One point per budget (NaN as None), in reasoning order."""
        return [CurvePoint(b, _num(r), _num(t), _num(v), _num(lo), _num(hi))
                for b, r, t, v, lo, hi in zip(self.budgets, self.requested, self.tokens, self.values, self.lo,
                                              self.hi, strict=True)]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready view without the bootstrap matrices."""
        return {
            "model": self.model, "task": self.task, "mechanism": self.mechanism,
            "strategy": self.strategy, "stratum": self.stratum, "main": self.main,
            "descriptive": self.descriptive, "metric": self.metric.name, "unit": self.metric.unit,
            "higher_is_better": self.metric.higher_is_better, "n_items": self.n_items,
            "n_items_total": self.n_items_total, "n_clusters": self.n_clusters, "n_records": self.n_records,
            "missing": [{"budget": m.budget, "error": m.error, "unparsed": m.unparsed, "absent": m.absent}
                        for m in self.missing if m.total],
            # the metric per budget with every missing item at the worst / best value seen (no assumption
            # on why it is missing), beside the common-items value; null when nothing is missing
            "missing_bounds": None if self.bounds is None else [
                {"budget": b, "low": _num(lo), "high": _num(hi)} for b, (lo, hi) in zip(self.budgets, self.bounds,
                                                                                         strict=True)],
            "points": [asdict(point) for point in self.points],
            "verdict": self.verdict.to_json() if self.verdict is not None else None,
            "phases": self.phases.to_json() if self.phases is not None else None,
        }


def _num(value: Any) -> float | None:
    number = float(value)
    return None if np.isnan(number) else round(number, 6)


def curve_seed(seed: int, *parts: object) -> np.random.Generator:
    """A generator seeded from an identity, so one family's CIs never depend on other families."""
    digest = hashlib.sha256("\x1f".join([str(seed), *map(str, parts)]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _index_dtype(n_items: int, n_boot: int) -> type[np.signedinteger[Any]]:
    """int32 draws when the whole index matrix fits (half the memory traffic); the draws' dtype is part
    of the random stream, so every resampler picks it the same way."""
    return np.int32 if n_boot * n_items < 2**31 else np.int64


def resample_weights(n_items: int, n_boot: int, rng: np.random.Generator, chunk: int = 128) -> np.ndarray:
    """(B, n) multinomial counts: row b says how often each item appears in replicate b (float32).

    Drawn `chunk` replicates at a time into the result, so the index and count arrays are chunk x n
    rather than B x n (at 125,000 items and 1,000 replicates, 2.4 GB became the result's 0.5 GB);
    the draws are the same as one (B, n) draw, since every chunk but the last holds an even count.
    """
    dtype = _index_dtype(n_items, n_boot)
    weights = np.empty((n_boot, n_items), dtype=np.float32)
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        index = rng.integers(0, n_items, size=(rows, n_items), dtype=dtype)
        index += (np.arange(rows, dtype=dtype) * n_items)[:, None]
        weights[start:start + rows] = np.bincount(index.ravel(), minlength=rows * n_items).reshape(rows, n_items)
    return weights


def resampled_means(values: np.ndarray, n_boot: int, rng: np.random.Generator, chunk: int = 128) -> np.ndarray:
    """The mean of `values` in each of `n_boot` item resamples, drawn `chunk` replicates at a time:
    the same draws as `resample_weights` with memory ~chunk x items instead of n_boot x items."""
    dtype = _index_dtype(values.size, n_boot)
    means = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        index = rng.integers(0, values.size, size=(rows, values.size), dtype=dtype)
        means[start:start + rows] = values[index].mean(axis=1)
    return means


def item_means(items: np.ndarray, cols: np.ndarray, values: np.ndarray, n_items: int,
               n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Average repeats within each (item, column) cell; returns (means with 0 where empty, mask)."""
    flat = items * n_cols + cols
    sums = np.bincount(flat, weights=values, minlength=n_items * n_cols).astype(np.float64)
    sums = sums.reshape(n_items, n_cols)
    counts = np.bincount(flat, minlength=n_items * n_cols).reshape(n_items, n_cols)
    mask = (counts > 0).astype(np.float64)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return means, mask


def weighted_means(weights: np.ndarray, means: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-replicate column means over the items present in each column (missing cells skipped)."""
    w = weights.astype(np.float32, copy=False)
    totals = (w @ means.astype(np.float32)).astype(np.float64)
    present = (w @ mask.astype(np.float32)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present > 0, totals / np.where(present > 0, present, 1.0), np.nan)


def budget_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Records that belong on a budget curve (any status: errors count as missing), not natural ends."""
    return frame[frame["budget"] != "natural"] if "budget" in frame.columns else frame


def curve_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Finished budget records (for the diagnostics that read answers)."""
    ok = frame["status"] == "ok" if "status" in frame else pd.Series(True, index=frame.index)
    return frame[ok & (frame["budget"] != "natural")]


@dataclass(frozen=True)
class FamilyData:
    """One family's records, its item index, shared bootstrap weights and budget order."""

    key: tuple[str, str, str, str]
    rows: pd.DataFrame
    item_index: pd.Index
    items: np.ndarray  # item position of every row
    weights: np.ndarray  # (B, N) shared by every curve of the family
    budgets: list[str]
    clusters: np.ndarray  # cluster number of every item (the unit that is resampled)
    cluster_weights: np.ndarray  # (B, C): how often each cluster was drawn (the same object as
    # `weights` when every item is its own cluster)
    traits: TaskTraits | None = None  # what the store declares of the task (None: the defaults)


def item_clusters(group: pd.DataFrame, codes: np.ndarray, n_items: int, traits: TaskTraits | None) -> np.ndarray:
    """Cluster number of every item (its own number when the task declares no cluster keys)."""
    columns = [META_PREFIX + k for k in cluster_keys(traits) if META_PREFIX + k in group.columns]
    if not columns:
        return np.arange(n_items)
    first = pd.Series(np.arange(len(group))).groupby(codes).first().to_numpy()
    labels = group[columns].iloc[first].astype(str).agg("\x1f".join, axis=1)
    missing = group[columns].iloc[first].isna().all(axis=1).to_numpy()
    labels = labels.where(~missing, "\x1e" + pd.Series(np.arange(n_items)).astype(str).to_numpy())
    return pd.factorize(labels.to_numpy(), sort=True)[0].astype(np.int64)


def families(frame: pd.DataFrame, n_boot: int, seed: int, traits: Traits = NO_TRAITS) -> list[FamilyData]:
    """Split a frame into families, each with its own seeded resampling of its clusters of items.

    `traits` (task name -> what the store declares) decide each family's metric, strata and clusters;
    each family keeps its task's traits so its curves need no further look-up."""
    data = budget_frame(frame)
    out: list[FamilyData] = []
    for key, group in data.groupby(list(CURVE_KEYS), sort=True, observed=True):
        family = tuple(str(k) for k in key)
        codes, index = pd.factorize(group["sample_id"].astype(str), sort=True)
        declared = traits.get(family[1])
        clusters = item_clusters(group, codes, len(index), declared)
        n_clusters = int(clusters.max()) + 1 if clusters.size else 0
        drawn = resample_weights(n_clusters, n_boot, curve_seed(seed, *family))
        # an item counts as often as its cluster was drawn
        weights = drawn[:, clusters] if n_clusters < len(index) else drawn
        out.append(FamilyData(family, group, pd.Index(index), codes.astype(np.int64), weights,  # type: ignore[arg-type]
                              budget_order(group), clusters, drawn, declared))
    return out


def build_curves(frame: pd.DataFrame, n_boot: int = 1000, seed: int = 0, *,
                 traits: Traits = NO_TRAITS) -> list[Curve]:
    """All curves of a store: per family, its main curve(s) then its strata (newest task version only)."""
    current, _ = latest_versions(frame)
    return [curve for family in families(current, n_boot, seed, traits) for curve in family_curves(family)]


def family_curves(family: FamilyData) -> list[Curve]:
    """A family's main curve(s) then its strata (those with any scored record)."""
    curves: list[Curve] = []
    task = family.key[1]
    for stratum in strata_masks(family.rows, task, task_metric(family.traits), family.traits):
        curve = family_curve(family, stratum.mask.to_numpy(), stratum.metric, stratum.label, stratum.main)
        if curve is not None:
            curves.append(curve)
    return curves


def family_curve(family: FamilyData, mask: np.ndarray, metric: str, stratum: str, main: bool,
                 info: MetricInfo | None = None) -> Curve | None:
    """One curve of a family on the items present at all of its budgets; None when nothing is scored."""
    rows = family.rows[mask]
    values = record_values(rows, metric).to_numpy(float)
    scored = np.isfinite(values)
    if not scored.any():
        return None
    items = family.items[mask]
    labels = rows["budget"].astype(str).to_numpy()
    present_budgets = set(pd.unique(labels[scored]).tolist())
    budgets = [b for b in family.budgets if b in present_budgets]
    cols = pd.Index(budgets).get_indexer(pd.Index(labels))
    in_curve = cols >= 0
    n_all, k = len(family.item_index), len(budgets)
    use = scored & in_curve
    y, present = item_means(items[use], cols[use], values[use], n_all, k)
    stratum_items = np.flatnonzero(np.bincount(items, minlength=n_all) > 0)
    common = stratum_items[present[stratum_items].all(axis=1)]
    in_common = np.zeros(n_all, dtype=bool)
    in_common[common] = True
    missing = missing_by_budget(rows, items, cols, scored, stratum_items, present, budgets)
    flags = missing_shares(rows, items, cols, stratum_items, n_all, k)
    tokens = rows["realized"].to_numpy(float)
    has_t = use & np.isfinite(tokens)
    t, tmask = item_means(items[has_t], cols[has_t], tokens[has_t], n_all, k)
    requested = rows["budget_tokens"][in_curve].groupby(labels[in_curve]).first()
    info = info or metric_info(family.traits, metric)
    key = (*family.key, stratum)
    y_all = y
    if common.size < n_all:  # a copy of the weights only when some items are not compared
        y, t, tmask, weights = y[common], t[common], tmask[common], family.weights[:, common]
    else:
        weights = family.weights
    curve = _assemble(key, info, budgets, requested.reindex(budgets).to_numpy(float), y, t, tmask, weights, main,
                      int(use[in_common[items]].sum()), len(stratum_items), missing)
    return replace(curve, n_clusters=int(np.unique(family.clusters[common]).size),
                   item_values=None if info.rmse else y, item_matrix=y, item_clusters=family.clusters[common],
                   cluster_weights=family.cluster_weights,
                   bounds=missing_bounds(y_all, present, stratum_items, info.rmse), missing_flags=flags,
                   flag_clusters=None if flags is None else family.clusters[stratum_items])


def _assemble(key: tuple[str, ...], info: MetricInfo, budgets: list[str], requested: np.ndarray, y: np.ndarray,
              t: np.ndarray, tmask: np.ndarray, weights: np.ndarray, main: bool, n_records: int,
              n_total: int, missing: tuple[Missing, ...]) -> Curve:
    """Point values, replicate values and descriptive intervals of a complete-case item matrix."""
    n_items, k = y.shape
    ones = np.ones((1, n_items), dtype=np.float32)
    point = weighted_means(ones, y, np.ones_like(y))[0] if n_items else np.full(k, np.nan)
    boot = weighted_means(weights, y, np.ones_like(y)) if n_items else np.full((weights.shape[0], k), np.nan)
    point_t = weighted_means(ones, t, tmask)[0] if n_items else np.full(k, np.nan)
    boot_t = weighted_means(weights, t, tmask) if n_items else np.full((weights.shape[0], k), np.nan)
    # a backend that reports no reasoning counts: the requested tokens stand in on the x axis
    point_t = np.where(np.isnan(point_t), requested, point_t)
    boot_t = np.where(np.isnan(boot_t), requested[None, :], boot_t)
    if info.rmse:
        point, boot = np.sqrt(point), np.sqrt(boot)
    bounds = [percentile(boot[:, j]) for j in range(k)] if boot.shape[0] else [(v, v) for v in point]
    return Curve(
        model=key[0], task=key[1], mechanism=key[2], strategy=key[3], stratum=key[4], metric=info,
        budgets=list(budgets), requested=requested, tokens=point_t, values=point,
        lo=np.array([b[0] for b in bounds]), hi=np.array([b[1] for b in bounds]), n_items=n_items,
        n_records=n_records, boot_values=boot, boot_tokens=boot_t, main=main, n_items_total=n_total,
        missing=missing,
    )
