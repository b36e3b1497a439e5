"""Example anchoring: k worked examples from the same generator in the prompt, and its effect.

`overthink run --shots k` puts k solved items in front of every question. They come from the task's
own generator with a different seed (so they are never the question itself) and carry the answer in
the format the model must use. Which k examples an item gets is fixed by the item's id, so a resumed
or repeated sweep shows the same examples.

Zero-shot and k-shot records must never mix on one curve, and the analysis groups curves by
(model, task, mechanism, strategy). So the number of shots is part of the recorded strategy name:
"cot+3shot", "vote@5+2shot" (zero shots keep the plain name). `compare_to_zero_shot` then pairs each
k-shot curve with its zero-shot twin on the problems both have and reports, per budget, the change in
the metric with a paired bootstrap CI, and the change in the trend effect (fitted change over the
token range) -- does anchoring flatten an inverse-scaling curve?
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from overthink.errors import UserError
from overthink.runner.plan import WorkGroup
from overthink.tasks.base import TaskError, TaskSpec, seeded_rng
from overthink.types import Sample

if TYPE_CHECKING:  # pandas and the analysis package load only when a report is asked for
    import pandas as pd

SHOT_SEED_SALT = "shots"
POOL_EXTRA = 8  # examples generated beyond k, so an item never has to be shown itself
_LABEL = re.compile(r"^(?P<base>.+)\+(?P<k>\d+)shot$")

Shots = tuple[tuple[str, str], ...]


def strategy_label(strategy: str, shots: int) -> str:
    """Recorded strategy name: "cot" for zero-shot, "cot+3shot" with three examples."""
    return strategy if shots == 0 else f"{strategy}+{shots}shot"


def parse_label(label: str) -> tuple[str, int]:
    """("cot", 3) from "cot+3shot"; ("cot", 0) from "cot"."""
    match = _LABEL.match(label)
    return (match["base"], int(match["k"])) if match else (label, 0)


def worked_answer(sample: Sample) -> str:
    """The example's answer in the required format (with its worked solution when the task has one)."""
    for key in ("solution", "explanation", "rationale"):
        text = sample.metadata.get(key)
        if isinstance(text, str) and text.strip():
            return f"<think>\n{text.strip()}\n</think>\n<answer>{sample.target}</answer>"
    return f"<answer>{sample.target}</answer>"


def shot_seed(task_seed: int) -> int:
    return seeded_rng(SHOT_SEED_SALT, task_seed).randrange(2**31)


def make_shots_for(task: TaskSpec, task_seed: int, k: int, params: dict[str, Any] | None = None
                   ) -> Callable[[WorkGroup], Shots]:
    """The Executor's `shots_for` hook: k examples per item, drawn from a pool of generated items."""
    if k < 0:
        raise UserError(f"--shots {k} must be >= 0")
    if k == 0:
        return lambda group: ()
    try:
        pool = task.generate(k + POOL_EXTRA, shot_seed(task_seed), **(params or {}))
    except (TaskError, TypeError) as exc:
        raise UserError(f"task {task.name}: cannot generate {k} examples for --shots: {exc}") from None

    def shots_for(group: WorkGroup) -> Shots:
        candidates = [s for s in pool if s.prompt != group.sample.prompt and s.id != group.sample.id]
        if len(candidates) < k:
            raise UserError(f"task {task.name} yields too few distinct examples for --shots {k}")
        chosen = seeded_rng(SHOT_SEED_SALT, group.sample.id).sample(candidates, k)
        return tuple((s.prompt, worked_answer(s)) for s in chosen)

    return shots_for


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


def compare_to_zero_shot(frame: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Per k-shot curve: metric change vs zero-shot at each budget and change of the trend effect."""
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
        metric = task_metric(task)
        info = metric_info(task, metric)
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
            out.append({
                "model": model, "task": task, "mechanism": mechanism, "strategy": base, "shots": int(shots),
                "metric": info.name, "n_items": len(items),
                "by_budget": [{"budget": b, "zero_shot": float(arms[0][0][i]), "k_shot": float(arms[1][0][i]),
                               "improvement": float(diff[i]), "ci": [float(lo[i]), float(hi[i])]}
                              for i, b in enumerate(budgets)],
                "trend_zero_shot": float(effects[0][0]), "trend_k_shot": float(effects[1][0]),
                "trend_improvement": float(change), "trend_improvement_ci": [float(clo), float(chi)],
            })
    return out


def _effect(point: np.ndarray, tokens: np.ndarray, boot: np.ndarray,
            boot_tokens: np.ndarray) -> tuple[float, np.ndarray]:
    """Fitted change over the observed log-token range (as the analysis trend effect), with replicates."""
    from overthink.analysis.trends import slopes

    x = np.log1p(np.clip(tokens, 0, None))
    span = float(np.nanmax(x) - np.nanmin(x)) if np.isfinite(x).any() else 0.0
    return float(slopes(point, tokens)) * span, slopes(boot, boot_tokens) * span
