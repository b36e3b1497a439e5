"""The table `overthink run` prints when a sweep ends: one row per budget, with a problem-level CI.

It reads only the store (like all analysis), so a resumed sweep prints the same table as an
uninterrupted one. The interval is a seeded percentile bootstrap that resamples problems, with each
problem's repeats averaged first: repeats of one item are not independent evidence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class BudgetRow:
    budget: str
    requested: int | None
    mean_realized: float
    metric: float
    low: float
    high: float
    n_items: int
    n_records: int
    looping: float
    errors: int
    by_group: dict[str, tuple[float, float, float, int]]


def bootstrap_mean_ci(values: np.ndarray, *, resamples: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float, float]:
    """Mean and percentile CI of per-item values, resampling items (the analysis package's resampler,
    in chunks of replicates, so memory does not grow with the number of resamples)."""
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    from overthink.analysis.bootstrap import resampled_means

    means = resampled_means(values, resamples, np.random.default_rng(seed))
    alpha = (1.0 - level) / 2.0
    return float(values.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


@dataclass(frozen=True)
class ItemCell:
    """One problem at one budget, aggregated over its repeats (what the table needs, no text)."""

    budget: str
    sample_id: str
    group: str
    requested: int | None
    ok: int
    errors: int
    mean_score: float | None  # mean over its finished records with a score
    realized_sum: float
    realized_n: int
    looping: int


def _budget_order(label: str) -> tuple[int, float, str]:
    if label.isdigit():
        return (0, float(label), label)
    return (1, 0.0, label)


def group_label(metadata: dict[str, Any]) -> str:
    """Treated vs control items, the split that separates the effect from forcing damage."""
    if "control" in metadata:
        return "control" if metadata["control"] else "treated"
    return "all"


def item_cells(rows: Iterable[dict[str, Any]]) -> list[ItemCell]:
    """Record rows (dicts with sample_id, budget, status, score, ...) to item cells, in Python."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        cells[(str(row["budget"]), str(row["sample_id"]))].append(row)
    out = []
    for (budget, sample), records in cells.items():
        ok = [r for r in records if r["status"] == "ok"]
        scores = [float(r["score"]) for r in ok if r["score"] is not None]
        realized = [float(r["reasoning_tokens"]) for r in ok if r["reasoning_tokens"] is not None]
        out.append(ItemCell(budget, sample, group_label(records[0]["metadata"] or {}), records[0]["requested_tokens"],
                            len(ok), len(records) - len(ok), float(np.mean(scores)) if scores else None,
                            float(sum(realized)), len(realized), sum(bool(r["looping"]) for r in ok)))
    return out


def _ci_row(cells: list[ItemCell], seed: int) -> tuple[float, float, float, int]:
    values = np.array([c.mean_score for c in cells if c.ok and c.mean_score is not None], dtype=float)
    return (*bootstrap_mean_ci(values, seed=seed), int(values.size))


def summarize_cells(cells: Iterable[ItemCell], seed: int = 0) -> list[BudgetRow]:
    """One row per budget: the metric with its problem-bootstrap CI, by treated/control group too."""
    by_budget: dict[str, list[ItemCell]] = defaultdict(list)
    for cell in cells:
        by_budget[cell.budget].append(cell)
    table = []
    for label in sorted(by_budget, key=_budget_order):
        members = sorted(by_budget[label], key=lambda c: c.sample_id)  # the CI must not depend on row order
        metric, low, high, _ = _ci_row(members, seed)
        groups: dict[str, list[ItemCell]] = defaultdict(list)
        for cell in members:
            if cell.ok:
                groups[cell.group].append(cell)
        realized_n = sum(c.realized_n for c in members)
        n_ok = sum(c.ok for c in members)
        table.append(BudgetRow(
            budget=label, requested=members[0].requested,
            mean_realized=sum(c.realized_sum for c in members) / realized_n if realized_n else float("nan"),
            metric=metric, low=low, high=high, n_items=sum(1 for c in members if c.ok), n_records=n_ok,
            looping=sum(c.looping for c in members) / n_ok if n_ok else float("nan"),
            errors=sum(c.errors for c in members),
            by_group={name: _ci_row(group, seed) for name, group in sorted(groups.items())},
        ))
    return table


def summarize(rows: Iterable[dict[str, Any]], seed: int = 0) -> list[BudgetRow]:
    """The table from record rows (tests, small stores); sweeps aggregate in SQL (`store_cells`)."""
    return summarize_cells(item_cells(rows), seed)


CELLS_SQL = """
SELECT budget, sample_id,
       CASE WHEN json_type(metadata, '$.control') IS NULL THEN 'all'
            WHEN json_extract(metadata, '$.control') THEN 'control' ELSE 'treated' END,
       MAX(requested_tokens),
       SUM(status = 'ok'), SUM(status != 'ok'),
       AVG(CASE WHEN status = 'ok' THEN score END),
       TOTAL(CASE WHEN status = 'ok' THEN reasoning_tokens END),
       COUNT(CASE WHEN status = 'ok' AND reasoning_tokens IS NOT NULL THEN 1 END),
       SUM(CASE WHEN status = 'ok' AND looping THEN 1 ELSE 0 END)
FROM records WHERE experiment = ? AND model = ? AND task = ? AND strategy = ?
GROUP BY budget, sample_id
"""


def store_cells(conn: Any, *, experiment: str, model: str, task: str, strategy: str) -> list[ItemCell]:
    """Item cells of one curve family aggregated by SQLite: one row per (budget, problem) reaches
    Python, never one per record, so the end-of-run table costs memory per problem, not per record."""
    cursor = conn.execute(CELLS_SQL, (experiment, model, task, strategy))
    return [ItemCell(str(b), str(s), str(g), None if q is None else int(q), int(ok), int(err),
                     None if mean is None else float(mean), float(total), int(n), int(loops))
            for b, s, g, q, ok, err, mean, total, n, loops in cursor]
