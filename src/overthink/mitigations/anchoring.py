"""Example anchoring, measured: how k-shot curves differ from their zero-shot twins.

`overthink run --shots k` (prompts/shots.py) records k-shot sweeps under the strategy name
"cot+3shot", "vote@5+2shot", so zero-shot and k-shot records never mix on one curve.
`compare_to_zero_shot` pairs each k-shot curve with its zero-shot twin on the problems both have and
reports, per budget, the change in the metric with a paired bootstrap CI, and the change in the trend
effect (fitted change over the token range) -- does anchoring flatten an inverse-scaling curve?
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from overthink.types import parse_label

if TYPE_CHECKING:  # pandas and the analysis package load only when a report is asked for
    import pandas as pd

    from overthink.analysis.metrics import Traits


def _arm(data: pd.DataFrame, items: pd.Index, budgets: list[str], metric: str) -> tuple[np.ndarray, ...]:
    """(item x budget) means of the metric and of realized tokens, with presence masks."""
    import pandas as pd

    from overthink.analysis.bootstrap import item_means
    from overthink.analysis.metrics import record_values

    item_idx = items.get_indexer(pd.Index(data["sample_id"]))
    col_idx = pd.Index(budgets).get_indexer(pd.Index(data["budget"]))
    keep = (item_idx >= 0) & (col_idx >= 0)
    values = record_values(data, metric).to_numpy(float)
    keep &= np.isfinite(values)
    y, mask = item_means(item_idx[keep], col_idx[keep], values[keep], len(items), len(budgets))
    tokens = data["realized"].to_numpy(float)
    has = keep & np.isfinite(tokens)
    t, tmask = item_means(item_idx[has], col_idx[has], tokens[has], len(items), len(budgets))
    return y, mask, t, tmask


def compare_to_zero_shot(frame: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0,
                         traits: Traits | None = None) -> list[dict[str, Any]]:
    """Per k-shot curve: metric change vs zero-shot at each budget and change of the trend effect.

    `traits` (task name -> what the store declares) give each task's metric and direction."""
    import pandas as pd

    from overthink.analysis.bootstrap import curve_frame, curve_seed, resample_weights, weighted_means
    from overthink.analysis.metrics import metric_info, task_metric
    from overthink.analysis.order import budget_order

    data = curve_frame(frame)
    if data.empty:
        return []
    parsed = data["strategy"].map(parse_label)
    data = data.assign(base_strategy=[p[0] for p in parsed], shots=[p[1] for p in parsed])
    out: list[dict[str, Any]] = []
    for key, group in data.groupby(["model", "task", "mechanism", "base_strategy"], sort=True):
        model, task, mechanism, base = (str(k) for k in key)
        zero = group[group["shots"] == 0]
        if zero.empty:
            continue
        declared = (traits or {}).get(task)
        metric = task_metric(declared)
        info = metric_info(declared, metric)
        sign = 1.0 if info.higher_is_better else -1.0
        for shots in sorted(set(group["shots"]) - {0}):
            anchored = group[group["shots"] == shots]
            items = pd.Index(sorted(set(zero["sample_id"]) & set(anchored["sample_id"])))
            budgets = [b for b in budget_order(zero) if b in set(anchored["budget"])]
            if len(items) < 2 or not budgets:
                continue
            weights = resample_weights(len(items), n_boot, curve_seed(seed, model, task, base, shots))
            ones = np.ones((1, len(items)))
            arms = []
            for arm in (zero, anchored):
                y, mask, t, tmask = _arm(arm, items, budgets, metric)
                arms.append((weighted_means(ones, y, mask)[0], weighted_means(weights, y, mask),
                             weighted_means(ones, t, tmask)[0], weighted_means(weights, t, tmask)))
            if info.rmse:
                arms = [(np.sqrt(p), np.sqrt(b), pt, bt) for p, b, pt, bt in arms]
            diff = sign * (arms[1][0] - arms[0][0])
            boot_diff = sign * (arms[1][1] - arms[0][1])
            lo, hi = np.nanpercentile(boot_diff, [2.5, 97.5], axis=0)
            effects = [_effect(p, pt, b, bt) for p, b, pt, bt in arms]
            change = sign * (effects[1][0] - effects[0][0])
            boot_change = sign * (effects[1][1] - effects[0][1])
            finite = boot_change[np.isfinite(boot_change)]
            clo, chi = np.percentile(finite, [2.5, 97.5]) if finite.size else (np.nan, np.nan)
            out.append(_without_nan({
                "model": model, "task": task, "mechanism": mechanism, "strategy": base, "shots": int(shots),
                "metric": info.name, "n_items": len(items),
                "by_budget": [{"budget": b, "zero_shot": float(arms[0][0][i]), "k_shot": float(arms[1][0][i]),
                               "improvement": float(diff[i]), "ci": [float(lo[i]), float(hi[i])]}
                              for i, b in enumerate(budgets)],
                "trend_zero_shot": float(effects[0][0]), "trend_k_shot": float(effects[1][0]),
                "trend_improvement": float(change), "trend_improvement_ci": [float(clo), float(chi)],
            }))
    return out


TREND_NOTE = "a trend needs two budgets with distinct realized lengths in both arms"
BUDGET_NOTE = "no scored record of an arm at this budget"


def _without_nan(item: dict[str, Any]) -> dict[str, Any]:
    """NaN -> None (JSON has no NaN, and no output prints "nan"), with a note saying why a number is
    missing: one budget (or budgets of equal realized length) has no trend; an arm with no scored
    record at a budget has no value there."""
    def finite(value: float) -> float | None:
        return value if np.isfinite(value) else None

    for point in item["by_budget"]:
        for key in ("zero_shot", "k_shot", "improvement"):
            point[key] = finite(point[key])
        point["ci"] = [finite(v) for v in point["ci"]]
        point["note"] = "" if point["improvement"] is not None else BUDGET_NOTE
    for key in ("trend_zero_shot", "trend_k_shot", "trend_improvement"):
        item[key] = finite(item[key])
    item["trend_improvement_ci"] = [finite(v) for v in item["trend_improvement_ci"]]
    item["trend_note"] = "" if item["trend_improvement"] is not None else TREND_NOTE
    return item


def _effect(point: np.ndarray, tokens: np.ndarray, boot: np.ndarray,
            boot_tokens: np.ndarray) -> tuple[float, np.ndarray]:
    """Fitted change over the observed log-token range (as the analysis trend effect), with replicates."""
    from overthink.analysis.trends import slopes

    x = np.log1p(np.clip(tokens, 0, None))
    span = float(np.nanmax(x) - np.nanmin(x)) if np.isfinite(x).any() else 0.0
    return float(slopes(point, tokens)) * span, slopes(boot, boot_tokens) * span


def anchoring_line(item: dict[str, Any]) -> str:
    """One k-shot curve against zero-shot as a line; a number that cannot be computed reads
    "n/a (why)", never "+nan"."""
    from overthink.analysis.wording import number, signed

    def pair(values: list[float | None], note: str) -> str:
        return f"[{signed(values[0])}, {signed(values[1])}]" if None not in values else f"(no interval: {note})"

    points = "; ".join(
        f"{p['budget']}: {number(p['zero_shot'])}→{number(p['k_shot'])} ({signed(p['improvement'], 3, p['note'])} "
        f"{pair(p['ci'], p['note'] or 'too few items')})" for p in item["by_budget"])
    note = item["trend_note"]
    trend = (f"Trend effect {signed(item['trend_zero_shot'])} → {signed(item['trend_k_shot'])} (improvement "
             f"{signed(item['trend_improvement'])} {pair(item['trend_improvement_ci'], 'too few items')})"
             if not note else f"Trend effect n/a ({note})")
    return (f"{item['model']} / {item['task']} ({item['strategy']}, {item['shots']} shots, {item['n_items']} items, "
            f"{item['metric']}): {points}. {trend}")
