"""Answers that changed between budgets of one trace: right -> wrong, refuse -> comply, and back.

With forced budgets every budget's answer forks off one trace (the embedded engine and openai-compat
nest them), so two budgets of one (item, repeat) differ only by the thinking between them: a flip is
longer reasoning changing the decision, no probes needed. Each flip lists its two records' keys (the
report fetches their texts by key, never through a frame), the decision on each side (refuse /
comply where the scorer says whether the answer refused, right / wrong where it says whether it was
correct, else the extracted answer), the item's label and declared strata, and its failure-mode tag
where the store has one (a `failure_mode` or `mode` item metadata, or the scorer's `mode` detail).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import numpy as np
import pandas as pd

from overthink.analysis.crystallize import TRACE, label_of
from overthink.analysis.frame import META_PREFIX
from overthink.analysis.metrics import DETAIL_REFUSED, NO_TRAITS, Traits

MODE_COLUMNS = (META_PREFIX + "failure_mode", META_PREFIX + "mode", "detail_mode")
MAX_LISTED = 2000  # flips listed per store (the counts cover all); the report browses these


def _strata(row: pd.Series, traits: Traits, task: str) -> dict[str, str]:
    declared = traits.get(task)
    names = declared.strata if declared is not None else ()
    return {name: str(row[META_PREFIX + name]) for name in names
            if META_PREFIX + name in row.index and pd.notna(row[META_PREFIX + name])}


def _mode(row: pd.Series) -> str | None:
    for column in MODE_COLUMNS:
        if column in row.index and pd.notna(row[column]) and str(row[column]):
            return str(row[column])
    return None


def _decisions(frame: pd.DataFrame) -> pd.Series:
    """`crystallize.decision_of` for every record at once: refuse/comply, else right/wrong, else the answer."""
    refused = pd.to_numeric(frame[DETAIL_REFUSED], errors="coerce") if DETAIL_REFUSED in frame else None
    correct = pd.to_numeric(frame["correct"], errors="coerce")
    answer = frame["extracted"].astype(object).where(frame["extracted"].notna(), "none").astype(str)
    graded = pd.Series(np.where(correct > 0, "right", "wrong"), index=frame.index, dtype=str)
    out = answer.where(correct.isna(), graded)
    if refused is not None:
        said = pd.Series(np.where(refused > 0, "refuse", "comply"), index=frame.index, dtype=str)
        out = out.where(refused.isna(), said)
    return out


def flips(frame: pd.DataFrame, traits: Traits = NO_TRAITS) -> dict[str, Any]:
    """Every decision change between consecutive forced budgets of one trace, and their counts by kind."""
    if frame.empty or "key" not in frame.columns or "budget_tokens" not in frame.columns:
        return {"counts": [], "flips": [], "listed": 0, "total": 0}
    data = frame[(frame["status"] == "ok") & frame["budget_tokens"].notna()]
    if "mechanism" in data.columns:
        data = data[data["mechanism"].astype(str) == "forced"]
    if data.empty:
        return {"counts": [], "flips": [], "listed": 0, "total": 0}
    data = data.assign(flip_decision=_decisions(data), flip_label=label_of(data, traits))
    ordered = data.sort_values([*TRACE, "budget_tokens"], kind="stable")
    grouped = ordered.groupby(list(TRACE), sort=False, observed=True)
    before = {c: grouped[c].shift(1) for c in ("flip_decision", "key", "budget", "budget_tokens", "extracted")}
    changed = before["key"].notna() & (ordered["flip_decision"] != before["flip_decision"])
    steps = ordered[changed].assign(**{f"from_{c}": v[changed] for c, v in before.items()})
    steps = steps.assign(kind=steps["from_flip_decision"].astype(str) + "->" + steps["flip_decision"].astype(str))
    counts: Counter[tuple[str, ...]] = Counter()
    for key, n in steps.groupby([*TRACE[:4], "flip_label", "kind"], sort=True, observed=True).size().items():
        counts[tuple(str(part) for part in cast(tuple[Any, ...], key))] += int(n)
    listed = [_listed(row, traits) for _, row in steps.head(MAX_LISTED).iterrows()]
    table = [{"model": k[0], "task": k[1], "mechanism": k[2], "strategy": k[3], "label": k[4], "kind": k[5], "n": n}
             for k, n in sorted(counts.items())]
    return {"counts": table, "flips": listed, "listed": len(listed), "total": sum(counts.values())}


def _listed(row: pd.Series, traits: Traits) -> dict[str, Any]:
    """One flip as the report and --json show it."""
    return {
        **{name: str(row[name]) for name in TRACE}, "label": str(row["flip_label"]), "kind": str(row["kind"]),
        "from_budget": str(row["from_budget"]), "to_budget": str(row["budget"]),
        "from_tokens": int(row["from_budget_tokens"]), "to_tokens": int(row["budget_tokens"]),
        "from_key": str(row["from_key"]), "to_key": str(row["key"]),
        "from_extracted": _text(row["from_extracted"]), "to_extracted": _text(row["extracted"]),
        "strata": _strata(row, traits, str(row["task"])), "failure_mode": _mode(row),
    }


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) else str(value)
