"""Simulated probed stores (records + probe decisions as frames) for calibrating the crystallization tests.

The null: along each trace the decision at every probe point is an independent draw with the item's own
refusal probability (items differ, drawn uniformly from `spread`), so decisions do change along a
trace (flips happen; traces are reasoned around at some rate) but nothing depends on the budget: the
reasoned-around rate on the fixed early window is flat in budget, and its "rises" test should fire on
at most about alpha of the stores. `planted_rise` adds the alternative: from the longest budget on,
an extra share of traces that refused early comply at the end. Frames are built directly (no SQLite),
so benchmarks/crystallize_null.py can analyse hundreds of stores in seconds; the end-to-end path
through a real store is tests/analysis/test_crystallize_known_truth.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from overthink.analysis.crystallize import PROBE_FRAME_COLUMNS
from overthink.analysis.metrics import DETAIL_REFUSED

FAMILY = {"model": "sim", "task": "refusal", "mechanism": "forced", "strategy": "cot+probes@50"}


def null_probed_store(n_items: int, budgets: tuple[int, ...], every: int, rng: np.random.Generator, *,
                      spread: tuple[float, float] = (0.2, 0.8), planted_rise: float = 0.0,
                      label: str = "harmful") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records frame, probes frame) of one simulated probed sweep, one repeat per item."""
    grid = sorted(set(range(0, max(budgets) + 1, every)) | set(budgets))
    longest = max(budgets)
    records: list[dict[str, object]] = []
    probes: list[tuple[str, int, int | None, int | None, str | None]] = []
    for item in range(n_items):
        p = rng.uniform(*spread)
        refused = {t: bool(rng.random() < p) for t in grid}
        if planted_rise and refused[grid[0]] and rng.random() < planted_rise:
            refused[longest] = False
        for budget in budgets:
            key = f"k{item}-{budget}"
            records.append({**FAMILY, "key": key, "sample_id": f"s{item}", "repeat": 0, "budget": str(budget),
                            "budget_tokens": float(budget), "status": "ok", "correct": float(refused[budget]),
                            "extracted": "refuse" if refused[budget] else "comply",
                            DETAIL_REFUSED: float(refused[budget]), "meta_label": label})
            probes.extend((key, t, int(refused[t]), int(refused[t]), "refuse" if refused[t] else "comply")
                          for t in grid if t < budget)
    return pd.DataFrame(records), pd.DataFrame(probes, columns=list(PROBE_FRAME_COLUMNS))


def rise_findings(stores: int, items: int, n_boot: int, rise: float, seed: int,
                  budgets: tuple[int, ...] = (0, 200, 400, 800), every: int = 50) -> int:
    """How many of `stores` simulated refusal stores the "reasoned around rises with budget" test flags."""
    from overthink.analysis.crystallize import crystallization
    from overthink.tasks.refusal import TASK

    traits = {TASK.name: TASK.traits()}
    rng = np.random.default_rng(seed)
    hits = 0
    for index in range(stores):
        records, probes = null_probed_store(items, budgets, every, rng, planted_rise=rise)
        (family,) = crystallization(records, probes, traits, n_boot=n_boot, seed=index)
        hits += bool(family["groups"][0]["trend"]["rises"])
    return hits
