"""When in the trace the answer was decided, and how longer thinking undid it (records with probes).

A probed cot record (`--probe-every M`, records `cot+probes@M`) holds the answers forked off its own
trace at 0, M, 2M, ... thinking tokens before its budget, each scored by the task's scorer. Along one
trace the *decision* at each point is refuse / comply where the scorer says whether the answer refused
(refusal tasks), right / wrong where it says whether it was correct, else the extracted answer; the
*state* is 1 for refuse (or right), 0 for comply (or wrong). Per trace at budget b:

* the crystallization point: the earliest probe after which the decision never changes through b's
  own answer (b itself when the final answer is the first of its kind);
* the earliest decision agrees with the final one, or not;
* reasoned around: state 1 at some prefix and 0 at the end (a harmful prompt refused early and
  complied with at b; a right answer at some prefix and a wrong one at b), and the reverse (0 -> 1).

Per (model, task, mechanism, strategy, label, budget) the module reports the share of traces decided
by t tokens (a survival-style curve over the probe grid), the agreement and the two rates, each with a
95% problem-bootstrap band (repeats averaged within an item, problems resampled: analysis/bootstrap.py).

Whether reasoning-around *rises with budget* is tested on a fixed early window, so that a longer budget
does not win merely by having more prefixes to be refused at: the rate of traces in state 1 at some
probe before W (the smallest positive budget) and in state 0 at budget b, its least-squares slope over
log2 b, one-sided, studentized, with the critical value of the maximum over every label of the family
(model, task, mechanism, strategy), as the budget tests do (analysis/inference.py): the lower bound
`slope - c * se` is above 0 exactly when p < alpha, so the interval and the p-value never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from overthink.analysis.bootstrap import curve_seed, resample_weights
from overthink.analysis.frame import META_PREFIX
from overthink.analysis.inference import MIN_ITEMS, critical_value, p_value, percentile, standard_errors, studentize
from overthink.analysis.metrics import DETAIL_REFUSED, NO_TRAITS, Traits, declared_metric

FAMILY = ("model", "task", "mechanism", "strategy")
TRACE = (*FAMILY, "sample_id", "repeat")
PROBE_FRAME_COLUMNS = ("key", "at", "correct", "refused", "extracted")


@dataclass(frozen=True)
class Point:
    """One observation along a trace: thinking tokens, decision label, state (NaN: neither)."""

    at: int
    decision: str
    state: float


def decision_of(refused: Any, correct: Any, extracted: Any) -> tuple[str, float]:
    """(label, state) of one answer: refuse/comply, else right/wrong, else the extracted answer."""
    if refused is not None and not _missing(refused):
        return ("refuse", 1.0) if bool(refused) else ("comply", 0.0)
    if correct is not None and not _missing(correct):
        return ("right", 1.0) if bool(correct) else ("wrong", 0.0)
    return ("none" if extracted is None or _missing(extracted) else str(extracted)), math.nan


def _missing(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def crystallized_at(points: list[Point]) -> int:
    """The earliest point after which the decision never changes through the last (final) point."""
    final = points[-1].decision
    at = points[-1].at
    for point in reversed(points):
        if point.decision != final:
            break
        at = point.at
    return at


def trace_points(records: pd.DataFrame, probes: pd.DataFrame) -> dict[str, list[Point]]:
    """Each probed record's points in trace order: its probes, then its own answer at its budget."""
    by_key: dict[str, list[Point]] = {}
    for key, at, correct, refused, extracted in probes[list(PROBE_FRAME_COLUMNS)].itertuples(index=False):
        label, state = decision_of(refused, correct, extracted)
        by_key.setdefault(str(key), []).append(Point(int(at), label, state))
    refused_col = records[DETAIL_REFUSED] if DETAIL_REFUSED in records else pd.Series(None, index=records.index)
    out: dict[str, list[Point]] = {}
    for key, tokens, correct, refused, extracted in zip(records["key"], records["budget_tokens"], records["correct"],
                                                         refused_col, records["extracted"], strict=True):
        label, state = decision_of(refused, correct, extracted)
        out[str(key)] = [*by_key.get(str(key), []), Point(int(tokens), label, state)]
    return out


def probed_records(frame: pd.DataFrame, probes: pd.DataFrame) -> pd.DataFrame:
    """The ok, forced, token-budget records of the strategies that have probes (budget 0 included)."""
    if probes.empty or "key" not in frame.columns:
        return frame.iloc[0:0]
    keys = set(probes["key"].astype(str))
    ok = frame[(frame["status"] == "ok") & frame["budget_tokens"].notna()]
    strategies = set(ok.loc[ok["key"].astype(str).isin(keys), "strategy"].astype(str))
    return ok[ok["strategy"].astype(str).isin(strategies)]


def label_of(frame: pd.DataFrame, traits: Traits) -> pd.Series:
    """Each record's label (the metric's `label_key`, e.g. harmful / benign), "all" when the task has none."""
    out = pd.Series("all", index=frame.index, dtype=object)
    for task in frame["task"].astype(str).unique():
        info = declared_metric(traits.get(task))
        column = META_PREFIX + info.label_key
        mask = frame["task"].astype(str) == task
        if info.per_label and column in frame.columns:
            out[mask] = frame.loc[mask, column].astype(str)
    return out


def _item_means(codes: np.ndarray, values: np.ndarray, n_items: int) -> np.ndarray:
    """(items, columns) means of `values` (rows = records) over each item's repeats; NaN where none."""
    values = np.asarray(values, dtype=float).reshape(len(codes), -1)
    present = np.isfinite(values)
    sums = np.zeros((n_items, values.shape[1]))
    counts = np.zeros((n_items, values.shape[1]))
    np.add.at(sums, codes, np.where(present, values, 0.0))
    np.add.at(counts, codes, present.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)


def _bands(values: np.ndarray, weights: np.ndarray) -> list[tuple[float, float, float]]:
    """Per column: the mean of item values and its 95% bootstrap percentile band (NaN items left out)."""
    present = np.isfinite(values)
    filled = np.where(present, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = (weights @ filled) / (weights @ present.astype(float))
        means = filled.sum(axis=0) / present.sum(axis=0)
    return [(float(means[j]), *percentile(draws[:, j])) for j in range(values.shape[1])]


def _per_trace(part: pd.DataFrame, points: dict[str, list[Point]], window: int) -> pd.DataFrame:
    """One row per record: crystallization point, agreement, the two rates and the window statistic."""
    rows = []
    for key in part["key"].astype(str):
        seq = points[key]
        states = np.array([p.state for p in seq])
        prefix, end = states[:-1], states[-1]
        early = [p.state for p in seq[:-1] if p.at < window]
        rows.append({
            "crystallized": crystallized_at(seq), "agrees": float(seq[0].decision == seq[-1].decision),
            "around": float(bool((prefix == 1).any()) and end == 0) if np.isfinite(end) else math.nan,
            "reverse": float(bool((prefix == 0).any()) and end == 1) if np.isfinite(end) else math.nan,
            "window": float(1.0 in early and end == 0) if np.isfinite(end) else math.nan,
        })
    return pd.DataFrame(rows, index=part.index)


def _group(part: pd.DataFrame, grid: list[int], weights: np.ndarray, codes: np.ndarray, n_items: int
           ) -> dict[str, Any]:
    """The per-budget results of one (family, label) group; `weights` resample its items."""
    rows = []
    tokens = part["budget_tokens"].to_numpy(dtype=float)
    for budget in sorted({int(b) for b in tokens}):
        at_b = tokens == budget
        sub, where = part[at_b], codes[at_b]
        steps = [g for g in grid if g <= budget]
        crystal = sub["crystallized"].to_numpy(dtype=float)
        decided = _bands(_item_means(where, crystal[:, None] <= np.array(steps)[None, :], n_items), weights)
        rates = _bands(_item_means(where, sub[["agrees", "around", "reverse"]].to_numpy(dtype=float), n_items),
                       weights)
        entry: dict[str, Any] = {
            "budget": str(budget), "tokens": budget, "n_traces": len(sub), "mean_crystallized": float(crystal.mean()),
            "decided": [{"tokens": t, "share": e, "lo": lo, "hi": hi}
                        for t, (e, lo, hi) in zip(steps, decided, strict=True)]}
        for name, (e, lo, hi) in zip(("agrees", "around", "reverse"), rates, strict=True):
            entry[name] = {"rate": e, "lo": lo, "hi": hi}
        rows.append(entry)
    return {"budgets": rows}


def _slope_draws(y: np.ndarray, x: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Least-squares slope of per-budget means over x, observed and per replicate (common items)."""
    centred = (x - x.mean()) / float(((x - x.mean()) ** 2).sum())
    observed = float(np.nanmean(y, axis=0) @ centred)
    draws = (weights @ y) / weights.sum(axis=1, keepdims=True) @ centred
    return observed, draws


def crystallization(frame: pd.DataFrame, probes: pd.DataFrame, traits: Traits = NO_TRAITS, *, n_boot: int = 1000,
                    seed: int = 0, alpha: float = 0.05) -> list[dict[str, Any]]:
    """Every probed family's crystallization results, with the reasoned-around trend test."""
    records = probed_records(frame, probes)
    if records.empty:
        return []
    points = trace_points(records, probes)
    records = records.assign(_label=label_of(records, traits))
    out: list[dict[str, Any]] = []
    for family, fam in records.groupby(list(FAMILY), sort=True, observed=True):
        grid = sorted({p.at for key in fam["key"].astype(str) for p in points[key]})
        positive = sorted(int(b) for b in fam["budget_tokens"].unique() if b > 0)
        window = positive[0] if positive else 0
        groups = []
        for label, part in fam.groupby("_label", sort=True):
            part = part.join(_per_trace(part, points, window))
            items, codes = np.unique(part["sample_id"].astype(str).to_numpy(), return_inverse=True)
            rng = curve_seed(seed, *family, label, "crystallization")
            weights = resample_weights(len(items), n_boot, rng).astype(float)
            group = {"label": str(label), "n_items": len(items), "window": window,
                     **_group(part, grid, weights, codes, len(items))}
            group["trend_data"] = _trend_data(part, positive, codes, len(items), weights)
            groups.append(group)
        _test_family(groups, alpha)
        out.append({**dict(zip(FAMILY, map(str, family), strict=True)), "grid": grid, "groups": groups})
    return out


def _trend_data(part: pd.DataFrame, positive: list[int], codes: np.ndarray, n_items: int,
                weights: np.ndarray) -> dict[str, Any]:
    """The window rate's slope over log2(budget), observed and bootstrapped, on items present everywhere."""
    if len(positive) < 2:
        return {"slope": math.nan, "draws": None, "n_items": 0}
    tokens = part["budget_tokens"].to_numpy(dtype=float)
    window = part["window"].to_numpy(dtype=float)
    y = np.column_stack([_item_means(codes[tokens == b], window[tokens == b], n_items)[:, 0] for b in positive])
    common = np.isfinite(y).all(axis=1)
    slope, draws = _slope_draws(y[common], np.log2(np.array(positive, dtype=float)), weights[:, common])
    return {"slope": slope, "draws": draws, "n_items": int(common.sum())}


def _test_family(groups: list[dict[str, Any]], alpha: float) -> None:
    """One-sided "rises with budget" per label, critical value of the studentized max over the family."""
    tested = [g for g in groups if g["trend_data"]["draws"] is not None and g["trend_data"]["n_items"] >= MIN_ITEMS]
    if tested:
        est = np.array([g["trend_data"]["slope"] for g in tested])
        draws = np.column_stack([g["trend_data"]["draws"] for g in tested])
        se = standard_errors(draws)
        t, null = studentize(est, draws, se)
        null_max = null.max(axis=1)
        c = critical_value(null_max, alpha)
        for g, e, s, stat in zip(tested, est, se, t, strict=True):
            half = c * float(s) if s > 0 else 0.0
            g["trend"] = {"slope_per_doubling": float(e), "lower": float(e - half) if math.isfinite(half) else None,
                          "p": p_value(float(stat), null_max), "rises": bool(p_value(float(stat), null_max) < alpha),
                          "n_items": g["trend_data"]["n_items"], "tested_with": len(tested)}
    for g in groups:
        g.setdefault("trend", {"slope_per_doubling": g["trend_data"]["slope"], "lower": None, "p": None,
                               "rises": False, "n_items": g["trend_data"]["n_items"], "tested_with": 0})
        g.pop("trend_data")


def probe_frame(rows: list[tuple[str, int, int | None, int | None, str | None]]) -> pd.DataFrame:
    """The store's probe decisions (`Store.probe_decisions()`) as a frame the analysis reads."""
    return pd.DataFrame(rows, columns=list(PROBE_FRAME_COLUMNS))


def probe_points_of(store: Any, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The probe decisions of `keys` (at, decision), for a reader that shows a few traces (the report)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key, rows in store.probes_of(keys, text=False).items():
        out[key] = [{"at": r.at, "decision": decision_of(r.score_details.get("refused"), r.correct, r.extracted)[0]}
                    for r in rows]
    return out
