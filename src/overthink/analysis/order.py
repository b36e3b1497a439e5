"""Which budget means more reasoning: one ordering rule for every analysis, the gate and the report.

A step "to a larger budget" is only meaningful as a step to *more realized reasoning*. Requested
token counts cannot order effort levels (they have none), and effort levels cannot be ordered by
the text a user typed. So budgets are ordered by the mean reasoning tokens the model actually
produced; where that is missing the requested tokens stand in; ties (and effort levels without token
counts) are broken by a fixed effort rank, then by the requested tokens, then by the label, so the
order never depends on the order budgets were typed or stored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

# "none" is no thinking at all; "max" above "xhigh" follows the providers that have both.
EFFORT_RANK: dict[str, int] = {"none": 0, "minimal": 1, "low": 2, "medium": 3, "high": 4, "xhigh": 5,
                               "max": 6}
UNKNOWN_EFFORT = len(EFFORT_RANK)


def effort_rank(label: str) -> int:
    """Rank of an `effort:LEVEL` label; token budgets rank -1 (ties among them go by tokens)."""
    if not label.startswith("effort:"):
        return -1
    return EFFORT_RANK.get(label.split(":", 1)[1].lower(), UNKNOWN_EFFORT)


def sort_key(label: str, realized: float, requested: float) -> tuple[float, int, float, str]:
    """(reasoning tokens, effort rank, requested tokens, label): realized first, requested as fallback."""
    requested_key = requested if not math.isnan(requested) else math.inf
    tokens = realized if not math.isnan(realized) else requested_key
    return (tokens, effort_rank(label), requested_key, label)


def order_positions(labels: Sequence[str], realized: Sequence[float], requested: Sequence[float]) -> list[int]:
    """Positions of `labels` from least to most reasoning."""
    keys = [sort_key(str(b), float(r), float(q)) for b, r, q in zip(labels, realized, requested, strict=True)]
    return sorted(range(len(keys)), key=keys.__getitem__)


def budget_order(sub: pd.DataFrame) -> list[str]:
    """Budget labels of a (tidy) frame from least to most reasoning, over its finished records."""
    if sub.empty:
        return []
    ok = sub[sub["status"] == "ok"] if "status" in sub.columns else sub
    ok = ok if not ok.empty else sub
    stats = ok.groupby("budget", observed=True).agg(requested=("budget_tokens", "first"),
                                                    realized=("realized", "mean"))
    labels = [str(b) for b in stats.index]
    positions = order_positions(labels, stats["realized"].to_numpy(float).tolist(),
                                stats["requested"].to_numpy(float).tolist())
    return [labels[i] for i in positions]
