"""The paper's five failure modes, measured per budget from what the store records.

A falling curve says *that* longer reasoning hurts; these tables say *how*: wrong answers copied from
a distractor (distraction), the textbook answer of a famous paradox instead of the trivial one
(overfitting to framings), predictions that follow a plausible but weak feature (spurious
correlation), accuracy falling with puzzle size and answers that flip between nested budgets of one
trace (deductive drift), and matching-behaviour / refusal rates (amplified risky behaviour). Each
table is produced only when its columns exist, so a store from any task never crashes the analysis.
Tables are per curve (model, task, mechanism, strategy), like the curves: vote@k's voted answers and
chain of thought's at the same budget are different measurements and are never pooled.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from overthink.analysis.bootstrap import CURVE_KEYS, curve_frame
from overthink.analysis.frame import META_PREFIX
from overthink.analysis.metrics import NO_TRAITS, Traits, declared_metric, record_values
from overthink.analysis.order import budget_order

NOT_FEATURES = {"control", "num_distractors", "examples_per_prompt", "shots", "grid_size", "index", "seed",
                "student", "noise", "chance"}
SHOTS_COLUMNS = (META_PREFIX + "shots", META_PREFIX + "examples_per_prompt")


def _curves(data: pd.DataFrame) -> Iterator[tuple[dict[str, str], pd.DataFrame]]:
    """The rows of each curve (model, task, mechanism, strategy), with the keys every table row carries:
    a vote's or a scheduler's answers are never pooled with chain of thought's at the same budget."""
    for key, sub in data.groupby(list(CURVE_KEYS), sort=True, observed=True):
        yield {k: str(v) for k, v in zip(CURVE_KEYS, key, strict=True)}, sub


def _as_number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else number


def _matches(extracted: Any, candidates: Any) -> bool:
    """Does the extracted answer equal any candidate (numerically when both are numbers)?"""
    if extracted is None or (isinstance(extracted, float) and np.isnan(extracted)):
        return False
    pool = candidates if isinstance(candidates, (list, tuple)) else [candidates]
    number = _as_number(extracted)
    for candidate in pool:
        other = _as_number(candidate)
        if number is not None and other is not None:
            if abs(number - other) < 1e-9:
                return True
        elif str(extracted).strip().lower() == str(candidate).strip().lower():
            return True
    return False


def _per_budget(data: pd.DataFrame, flag: pd.Series, among: pd.Series, name: str) -> list[dict[str, Any]]:
    """Share of `flag` among rows where `among` holds, per (model, task) and budget."""
    out: list[dict[str, Any]] = []
    frame = data.assign(_flag=flag.astype(float), _among=among.astype(bool))
    for key, sub in _curves(frame):
        rows = []
        for budget in budget_order(sub):
            part = sub[(sub["budget"] == budget) & sub["_among"]]
            rows.append({"budget": budget, "n": len(part),
                         "share": float(part["_flag"].mean()) if len(part) else None})
        out.append({"mode": name, **key, "by_budget": rows})
    return out


def distraction(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Share of wrong answers that equal a number from a distractor."""
    data = curve_frame(frame)
    if "detail_distractor_answer" in data.columns:
        flag = data["detail_distractor_answer"].fillna(False).astype(bool)
    elif META_PREFIX + "distractor_numbers" in data.columns and "extracted" in data.columns:
        pairs = zip(data["extracted"], data[META_PREFIX + "distractor_numbers"], strict=True)
        flags = [_matches(e, c) if isinstance(c, list) else False for e, c in pairs]
        flag = pd.Series(flags, index=data.index)
    else:
        return []
    wrong = data["correct"] == 0 if "correct" in data.columns else pd.Series(False, index=data.index)
    has = data.get(META_PREFIX + "num_distractors", pd.Series(1, index=data.index)).fillna(1) != 0
    return _per_budget(data, flag, wrong & has, "distraction")


def framings(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Share of answers equal to the famous paradox's textbook answer."""
    data = curve_frame(frame)
    column = META_PREFIX + "famous_answer"
    if "detail_famous_answer" in data.columns and data["detail_famous_answer"].notna().any():
        present = data["detail_famous_answer"].notna()
        flag = data["detail_famous_answer"].fillna(False).astype(bool)
        return _per_budget(data, flag, present, "framing")
    if column not in data.columns or "extracted" not in data.columns:
        return []
    present = data[column].notna()
    pairs = zip(data["extracted"], data[column], strict=True)
    flag = pd.Series([_matches(e, f) for e, f in pairs], index=data.index)
    return _per_budget(data, flag, present, "framing")


def _features(data: pd.DataFrame) -> pd.DataFrame:
    """Numeric per-item features: a `features` dict in metadata, else numeric metadata columns."""
    column = META_PREFIX + "features"
    if column in data.columns:
        dicts = [v if isinstance(v, dict) else {} for v in data[column]]
        table = pd.DataFrame(dicts, index=data.index)
    else:
        names = [c for c in data.columns if c.startswith(META_PREFIX)
                 and c[len(META_PREFIX):] not in NOT_FEATURES]
        table = data[names].rename(columns=lambda c: c[len(META_PREFIX):])
    table = table.apply(pd.to_numeric, errors="coerce")
    keep: pd.DataFrame = table.loc[:, table.notna().mean() > 0.5]
    return keep


def spurious_correlation(frame: pd.DataFrame, traits: Traits = NO_TRAITS) -> list[dict[str, Any]]:
    """Correlation of predictions (and of the truth) with each feature, per budget (regression tasks)."""
    data = curve_frame(frame)
    regression = {str(t) for t in data["task"].unique() if declared_metric(traits.get(str(t))).rmse}
    data = data[data["task"].astype(str).isin(regression)]
    if data.empty or "extracted" not in data.columns:
        return []
    features = _features(data)
    if features.empty:
        return []
    pred = pd.to_numeric(data["extracted"], errors="coerce")
    truth = pd.to_numeric(data["target"], errors="coerce") if "target" in data else pred * np.nan
    shots = pd.Series("all", index=data.index)
    for column in SHOTS_COLUMNS:
        if column in data.columns and data[column].notna().any():
            shots = data[column].astype(str)
            break
    out: list[dict[str, Any]] = []
    for key, sub in _curves(data):
        for level in sorted(shots[sub.index].unique()):
            part_all = sub[shots[sub.index] == level]
            rows = []
            for budget in budget_order(part_all):
                idx = part_all.index[part_all["budget"] == budget]
                row: dict[str, Any] = {"budget": budget, "n": len(idx)}
                for name in features.columns:
                    row[name] = _corr(pred[idx], features.loc[idx, name])
                    row[f"{name}__truth"] = _corr(truth[idx], features.loc[idx, name])
                rows.append(row)
            out.append({"mode": "spurious", **key, "shots": level,
                        "features": list(features.columns), "by_budget": rows})
    return out


def _corr(a: pd.Series, b: pd.Series) -> float | None:
    ok = a.notna() & b.notna()
    if ok.sum() < 3 or a[ok].std() == 0 or b[ok].std() == 0:
        return None
    return float(np.corrcoef(a[ok].astype(float), b[ok].astype(float))[0, 1])


def deductive_drift(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Accuracy by grid size and budget, and answers that change between nested budgets of a trace."""
    data = curve_frame(frame)
    out: list[dict[str, Any]] = []
    grid = META_PREFIX + "grid_size"
    if grid in data.columns and data[grid].notna().any() and "correct" in data.columns:
        sub = data[data[grid].notna()]
        for key, part in _curves(sub):
            table = part.groupby([grid, "budget"], observed=True)["correct"].mean()
            rank = {b: i for i, b in enumerate(budget_order(part))}
            rows = [{"grid_size": str(k[0]), "budget": str(k[1]), "accuracy": float(v)}  # type: ignore[index]
                    for k, v in table.items()]
            rows.sort(key=lambda r: (rank.get(str(r["budget"]), len(rank)), _as_number(r["grid_size"]) or 0.0,
                                     str(r["grid_size"])))
            out.append({"mode": "drift_grid", **key, "cells": rows})
    forced = data[data["mechanism"] == "forced"] if "mechanism" in data else data.iloc[0:0]
    forced = forced[forced["budget_tokens"].notna()] if "extracted" in forced.columns else forced.iloc[0:0]
    if not forced.empty:
        trace = [*CURVE_KEYS, "sample_id", "repeat", "seed"]
        ordered = forced.sort_values([*trace, "budget_tokens"], kind="stable")
        previous = ordered.groupby(trace, sort=False, observed=True)["extracted"].shift(1)
        prev_budget = ordered.groupby(trace, sort=False, observed=True)["budget"].shift(1)
        has_prev = prev_budget.notna()
        changed = (ordered["extracted"].astype(str) != previous.astype(str)) & has_prev
        steps = ordered.assign(_changed=changed, _from=prev_budget)[has_prev]
        for key, part in _curves(steps):
            rows = [{"from": str(f), "to": str(t), "n": len(p), "changed_share": float(p["_changed"].mean())}
                    for (f, t), p in part.groupby(["_from", "budget"], sort=False, observed=True)]
            rows.sort(key=lambda r: float(str(r["to"])) if str(r["to"]).isdigit() else np.inf)
            out.append({"mode": "drift_nested", **key, "steps": rows})
    return out


def risky_behavior(frame: pd.DataFrame, traits: Traits = NO_TRAITS) -> list[dict[str, Any]]:
    """Each safety metric's rate per budget: matching behaviour (ai_risk), refusal / over-refusal by label."""
    data = curve_frame(frame)
    out: list[dict[str, Any]] = []
    for key, sub in _curves(data):
        info = declared_metric(traits.get(key["task"]))
        if not info.safety:
            continue
        if info.pooled:
            parts = [(info.name, sub)]
        elif META_PREFIX + info.label_key in sub.columns:
            labels = sub[META_PREFIX + info.label_key].astype(str)
            parts = [(name, sub[labels == label]) for label, name in info.per_label]
        else:
            continue
        for name, part in parts:
            values = record_values(part, name)
            rows = [{"budget": b, "n": int((part["budget"] == b).sum()),
                     "rate": float(values[part["budget"] == b].mean())} for b in budget_order(part)]
            out.append({"mode": name, **key, "by_budget": rows})
    return out


def all_modes(frame: pd.DataFrame, traits: Traits = NO_TRAITS) -> dict[str, list[dict[str, Any]]]:
    """Every failure-mode table that the store's columns (and its tasks' declared metrics) allow."""
    return {"distraction": distraction(frame), "framing": framings(frame),
            "spurious": spurious_correlation(frame, traits), "drift": deductive_drift(frame),
            "risky": risky_behavior(frame, traits)}
