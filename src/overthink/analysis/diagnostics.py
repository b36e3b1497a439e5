"""Separating the effect from the method: controls, loops, natural ends and budget compliance.

Forcing a small model to keep thinking damages it on every item (repetition loops, self-doubt after
"Wait"), so a falling curve alone cannot tell distraction from forcing damage. These diagnostics put
the curve next to what would explain it away: the same drop on control items (a difference in
differences, paired by item), the share of looping traces and the metric without them, the answer a
trace gave where it ended by itself against the budget-0 answer, and whether the budgets were
honoured at all. Each one runs only when the store has the columns it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from overthink.analysis.bootstrap import (
    CURVE_KEYS,
    curve_frame,
    curve_seed,
    item_means,
    resample_weights,
    weighted_means,
)
from overthink.analysis.frame import META_PREFIX
from overthink.analysis.inference import Interval, tested_interval
from overthink.analysis.metrics import (
    NO_TRAITS,
    Traits,
    metric_info,
    record_values,
    strata_masks,
    task_metric,
)
from overthink.analysis.order import budget_order
from overthink.analysis.trends import ALPHA
from overthink.types import TaskTraits

CONTROL = META_PREFIX + "control"
SHOTS = META_PREFIX + "shots"
INDISTINCT_RATIO = 1.10  # consecutive budgets whose mean realized lengths differ by less are flagged


def _item_values(sub: pd.DataFrame, traits: TaskTraits | None,
                 metric: str | None = None) -> tuple[np.ndarray, str, bool]:
    """Per-record values for item-level comparisons (abs error for regression tasks, not its square)."""
    metric = metric or task_metric(traits)
    info = metric_info(traits, metric)
    if info.rmse:
        return np.sqrt(record_values(sub, metric).to_numpy(float)), "abs_error", False
    return record_values(sub, metric).to_numpy(float), info.name, info.higher_is_better


def main_parts(sub: pd.DataFrame, task: str, traits: TaskTraits | None) -> dict[str, tuple[pd.DataFrame, str]]:
    """A family's rows split as its main curves are: {"all": (rows, metric)}, or for refusal
    {"label=harmful": (..., "refusal"), "label=benign": (..., "over_refusal")}, never pooled."""
    strata = strata_masks(sub, task, task_metric(traits), traits)
    return {s.label: (sub[s.mask.to_numpy()], s.metric) for s in strata if s.main}


@dataclass(frozen=True)
class DidStep:
    """From the baseline budget to `budget`: drops (positive = worse) and their difference."""

    budget: str
    treated_drop: float
    control_drop: float
    did: float
    interval: Interval | None
    n_treated: int  # items present at the baseline and at this budget
    n_control: int

    def to_json(self) -> dict[str, Any]:
        iv = self.interval
        return {"budget": self.budget, "treated_drop": self.treated_drop, "control_drop": self.control_drop,
                "did": self.did, "ci": [iv.lo, iv.hi] if iv else [None, None], "p": iv.p if iv else None,
                "n_treated": self.n_treated, "n_control": self.n_control}


@dataclass(frozen=True)
class Did:
    """Difference in differences of one family. `comparison` says what the two groups are:
    "controls" (items without the manipulation) or "shots" (k-shot items, for tasks whose controls
    are the anchored versions of the same query, such as grades)."""

    model: str
    task: str
    mechanism: str
    strategy: str
    metric: str
    baseline: str
    n_treated: int
    n_control: int
    comparison: str
    steps: tuple[DidStep, ...]
    higher_is_better: bool = True  # of `metric`: a drop (positive) is a rise of an error
    groups: tuple[str, str] = ("treated", "control")  # the two groups as the task names them

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "task": self.task, "mechanism": self.mechanism, "strategy": self.strategy,
                "metric": self.metric, "higher_is_better": self.higher_is_better, "baseline": self.baseline,
                "n_treated": self.n_treated, "n_control": self.n_control, "comparison": self.comparison,
                "groups": list(self.groups), "by_budget": [s.to_json() for s in self.steps]}


def group_names(sub: pd.DataFrame, control: np.ndarray, shots: bool, traits: TaskTraits | None) -> tuple[str, str]:
    """(treated, control) named as the task names its items: "zero-shot" / "k-shot" for shot levels,
    else by the first declared stratum whose levels separate the groups ("num_distractors=1,3" /
    "num_distractors=0"); "treated" / "control" only when the task declares nothing that does."""
    if shots:
        return "zero-shot", "k-shot"
    for name in traits.strata if traits is not None else ():
        column = META_PREFIX + name
        if column not in sub.columns:
            continue
        levels = [sorted({str(v) for v in sub.loc[part, column].dropna()}) for part in (~control, control)]
        if all(levels) and not set(levels[0]) & set(levels[1]):
            return f"{name}={','.join(levels[0])}", f"{name}={','.join(levels[1])}"
    return "treated", "control"


def _group_drops(sub: pd.DataFrame, part: np.ndarray, cols: np.ndarray, values: np.ndarray, k: int,
                 sign: float, rng: np.random.Generator, n_boot: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per budget: mean drop from the baseline over items present at both, its replicates, item counts."""
    items, labels = pd.factorize(sub["sample_id"].to_numpy()[part], sort=True)
    y, mask = item_means(items, cols[part], values[part], len(labels), k)
    drops = sign * (y[:, :1] - y[:, 1:])
    both = mask[:, :1] * mask[:, 1:]
    weights = resample_weights(len(labels), n_boot, rng)
    point = weighted_means(np.ones((1, len(labels))), drops * both, both)[0]
    return point, weighted_means(weights, drops * both, both), both.sum(axis=0).astype(int)


def difference_in_differences(frame: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                              alpha: float = ALPHA, *, traits: Traits = NO_TRAITS) -> list[Did]:
    """Drop from the first budget on treated items minus the same drop on control items, per budget."""
    if CONTROL not in frame.columns:
        return []
    data = curve_frame(frame)
    data = data[data[CONTROL].notna()]
    out: list[Did] = []
    for key, sub in data.groupby(list(CURVE_KEYS), sort=True, observed=True):
        control = sub[CONTROL].astype(bool).to_numpy()
        if control.all() or not control.any():
            continue
        values, metric, higher = _item_values(sub, traits.get(str(key[1])))
        keep = ~np.isnan(values)
        sub, values, control = sub[keep], values[keep], control[keep]
        budgets = budget_order(sub)
        if len(budgets) < 2:
            continue
        cols = pd.Index(budgets).get_indexer(sub["budget"].astype(str)).astype(np.int64)
        sign = 1.0 if higher else -1.0
        parts = {group: _group_drops(sub, control == group, cols, values, len(budgets), sign,
                                     curve_seed(seed, "did", *key, group), n_boot) for group in (False, True)}
        (t_point, t_boot, t_n), (c_point, c_boot, c_n) = parts[False], parts[True]
        steps = tuple(
            DidStep(budget, float(t_point[j]), float(c_point[j]), float(t_point[j] - c_point[j]),
                    tested_interval(float(t_point[j] - c_point[j]), t_boot[:, j] - c_boot[:, j],
                                    int(min(t_n[j], c_n[j])), alpha), int(t_n[j]), int(c_n[j]))
            for j, budget in enumerate(budgets[1:]))
        shots = SHOTS in sub.columns and bool((pd.to_numeric(sub.loc[control, SHOTS], errors="coerce") > 0).all())
        out.append(Did(str(key[0]), str(key[1]), str(key[2]), str(key[3]), metric, budgets[0],
                       int(sub.loc[~control, "sample_id"].nunique()), int(sub.loc[control, "sample_id"].nunique()),
                       "shots" if shots else "controls", steps, higher,
                       group_names(sub, control, shots, traits.get(str(key[1])))))
    return out


def looping(frame: pd.DataFrame, traits: Traits = NO_TRAITS) -> list[dict[str, Any]]:
    """Share of looping traces per budget and the metric with and without them (per main curve:
    refusal's harmful and benign prompts apart)."""
    if "looping" not in frame.columns or frame["looping"].isna().all():
        return []
    data = curve_frame(frame)
    data = data[data["looping"].notna()]
    out: list[dict[str, Any]] = []
    for key, family in data.groupby([*CURVE_KEYS], sort=True, observed=True):
        declared = traits.get(str(key[1]))
        for stratum, (sub, name) in main_parts(family, str(key[1]), declared).items():
            values, metric, _ = _item_values(sub, declared, name)
            sub = sub.assign(_v=values)
            rows = []
            for budget in budget_order(sub):
                part = sub[sub["budget"] == budget]
                clean = part[part["looping"] == 0]
                rows.append({"budget": budget, "n": len(part), "looping_share": float(part["looping"].mean()),
                             "metric": float(part["_v"].mean()),
                             "metric_non_looping": float(clean["_v"].mean()) if len(clean) else None,
                             "n_non_looping": len(clean)})
            out.append({"model": key[0], "task": key[1], "mechanism": key[2], "strategy": key[3],
                        "stratum": stratum, "metric": metric, "by_budget": rows})
    return out


def natural_vs_zero(frame: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                    alpha: float = ALPHA, *, traits: Traits = NO_TRAITS) -> list[dict[str, Any]]:
    """The answer where each trace ended by itself against the budget-0 answer on the same item/repeat,
    per main curve (refusal's harmful and benign prompts apart, never pooled).

    Censored natural records (the trace never ended by itself; its answer was forced at the cap) are
    no natural end and are left out, counted in `censored_left_out`.
    """
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    natural = ok[ok["budget"] == "natural"]
    if "censored" not in natural:
        natural = natural.assign(censored=False)
    by_family = {tuple(str(k) for k in key): part
                 for key, part in natural.groupby(list(CURVE_KEYS), sort=True, observed=True)}
    out: list[dict[str, Any]] = []
    for key, zero_family in ok[ok["budget"] == "0"].groupby(list(CURVE_KEYS), sort=True, observed=True):
        family = tuple(str(k) for k in key)
        nat_family = by_family.get(family)
        if nat_family is None or nat_family.empty:
            continue
        declared = traits.get(family[1])
        natural_parts = main_parts(nat_family, family[1], declared)
        for stratum, (zero_part, metric) in main_parts(zero_family, family[1], declared).items():
            nat_part = natural_parts.get(stratum, (nat_family.iloc[0:0], metric))[0]
            censored = nat_part["censored"].astype(bool).to_numpy()
            ident = [*key] if stratum == "all" else [*key, stratum]  # "all" keeps the seed it always had
            pair = _natural_pair(nat_part[~censored], zero_part, declared, metric,
                                 resample_seed=curve_seed(seed, "natzero", *ident), n_boot=n_boot, alpha=alpha)
            if pair is not None:
                out.append({**dict(zip(CURVE_KEYS, family, strict=True)), "stratum": stratum, **pair,
                            "censored_left_out": int(censored.sum())})
    return out


def _natural_pair(nat_part: pd.DataFrame, zero_part: pd.DataFrame, declared: TaskTraits | None, metric: str, *,
                  resample_seed: np.random.Generator, n_boot: int, alpha: float) -> dict[str, Any] | None:
    """One main curve's natural ends against its budget-0 answers, paired by (item, repeat)."""
    if nat_part.empty:
        return None
    nat_vals, name, _ = _item_values(nat_part, declared, metric)
    zero_vals, _, _ = _item_values(zero_part, declared, metric)
    cols = ["sample_id", "repeat", "extracted"] if "extracted" in zero_part.columns else ["sample_id", "repeat"]
    merged = nat_part[cols].assign(_v=nat_vals).merge(zero_part[cols].assign(_v=zero_vals),
                                                      on=["sample_id", "repeat"], suffixes=("_nat", "_zero"))
    nat, zer = merged["_v_nat"].to_numpy(float), merged["_v_zero"].to_numpy(float)
    keep = ~(np.isnan(nat) | np.isnan(zer))
    merged, nat, zer = merged[keep], nat[keep], zer[keep]
    if merged.empty:
        return None
    items, labels = pd.factorize(merged["sample_id"], sort=True)
    diff, _ = item_means(items, np.zeros(len(items), np.int64), nat - zer, len(labels), 1)
    weights = resample_weights(len(labels), n_boot, resample_seed)
    boot = (weights @ diff[:, 0].astype(weights.dtype)).astype(float) / len(labels)
    interval = tested_interval(float(diff.mean()), boot, len(labels), alpha)
    same = (int((merged["extracted_nat"].astype(str) == merged["extracted_zero"].astype(str)).sum())
            if "extracted_nat" in merged else None)
    return {"metric": name, "n_pairs": len(merged), "n_items": len(labels), "natural": float(nat.mean()),
            "budget0": float(zer.mean()), "difference": float(diff.mean()),
            "ci": [interval.lo, interval.hi] if interval else [None, None], "p": interval.p if interval else None,
            "same_answer_share": same / len(merged) if same is not None else math.nan, "same_answer": same}


def compliance(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Requested vs realized reasoning per budget, with a warning when budgets do not separate.

    Per strategy as well: a scheduler's budget is a maximum it may stop short of, and a vote's realized
    length is its samples' mean, so pooling them with chain of thought would blur (or fake) a warning."""
    ok = frame[(frame["status"] == "ok") & frame["realized"].notna()] if "status" in frame else frame
    out: list[dict[str, Any]] = []
    for key, sub in ok.groupby(list(CURVE_KEYS), sort=True, observed=True):
        rows: list[dict[str, Any]] = []
        warnings: list[str] = []
        order = budget_order(sub)
        for budget in order:
            real = sub.loc[sub["budget"] == budget, "realized"].to_numpy(float)
            requested = float(sub.loc[sub["budget"] == budget, "budget_tokens"].iloc[0])
            ratio = float(real.mean() / requested) if requested > 0 else None  # NaN > 0 is False
            rows.append({"budget": budget, "requested": None if np.isnan(requested) else requested,
                         "n": int(real.size), "mean": float(real.mean()), "median": float(np.median(real)),
                         "p10": float(np.percentile(real, 10)), "p90": float(np.percentile(real, 90)),
                         "ratio": ratio,
                         "over_budget_share": float((real > requested * 1.05).mean()) if ratio else None})
        ladder = [r for r in rows if r["budget"] != "natural"]
        for small, large in pairwise(ladder):
            if float(large["mean"]) < INDISTINCT_RATIO * max(float(small["mean"]), 1.0):
                warnings.append(f"budgets {small['budget']} and {large['budget']} gave indistinguishable "
                                f"realized lengths (mean {small['mean']:.0f} vs {large['mean']:.0f} tokens)")
        out.append({**dict(zip(CURVE_KEYS, key, strict=True)), "by_budget": rows, "warnings": warnings})
    return out
