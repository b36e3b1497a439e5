"""The table `overthink run` prints when a sweep ends: one row per budget, with a problem-level CI.

It reads only the store (like all analysis), so a resumed sweep prints the same table as an
uninterrupted one. The interval is a seeded percentile bootstrap that resamples problems, with each
problem's repeats averaged first: repeats of one item are not independent evidence.

The groups beside the metric are named as the task names its items (`Grouping`): the control split
of a task carries its first declared stratum ("shots=0" / "shots=8,16", not "treated" / "control",
which for grades would call the k-shot items the control), and refusal is never pooled: harmful
prompts give the refusal rate, benign ones the over-refusal rate, and there is no column over both
(docs/statistics.md). Records whose trace never ended by itself (censored at the cap) are counted
per budget, so the table can mark a realized length that is the cap's rather than the model's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from overthink.store import CellRow, Store
from overthink.tasks.catalog import metric_named
from overthink.types import BudgetRow, TaskTraits


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


ItemCell = CellRow  # one problem at one budget, aggregated over its repeats (the store's query row)


def _budget_order(label: str) -> tuple[int, float, str]:
    if label.isdigit():
        return (0, float(label), label)
    return (1, 0.0, label)


@dataclass(frozen=True)
class Grouping:
    """How the table splits a task's items. `by_label`: refusal's harmful / benign prompts, never
    pooled; else the control flag, with each side named by the task's first declared stratum (`key`)."""

    key: str | None = None
    by_label: bool = False


LABEL_METRICS = {"harmful": "refusal", "benign": "over-refusal"}


def grouping_for(traits: TaskTraits | None) -> Grouping:
    """The grouping a task's declared traits ask for (none declared: control / treated)."""
    if traits is None:
        return Grouping()
    if not metric_named(traits.metric).pooled:
        return Grouping(by_label=True)
    return Grouping(key=traits.strata[0] if traits.strata else None)


def group_label(metadata: dict[str, Any], grouping: Grouping = Grouping()) -> str:
    """The item's group before naming: its label (refusal), else treated vs control, else "all"."""
    if grouping.by_label:
        return str(metadata.get("label", "all"))
    if "control" in metadata:
        return "control" if metadata["control"] else "treated"
    return "all"


def _level(metadata: dict[str, Any], grouping: Grouping) -> str:
    value = metadata.get(grouping.key) if grouping.key else None
    return "" if value is None else str(value)


def item_cells(rows: Iterable[dict[str, Any]], grouping: Grouping = Grouping()) -> list[ItemCell]:
    """Record rows (dicts with sample_id, budget, status, score, ...) to item cells, in Python."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        cells[(str(row["budget"]), str(row["sample_id"]))].append(row)
    out = []
    for (budget, sample), records in cells.items():
        ok = [r for r in records if r["status"] == "ok"]
        scores = [float(r["score"]) for r in ok if r["score"] is not None]
        realized = [float(r["reasoning_tokens"]) for r in ok if r["reasoning_tokens"] is not None]
        metadata = records[0]["metadata"] or {}
        censored = sum(bool((r.get("extra") or {}).get("censored")) for r in ok)
        out.append(ItemCell(budget, sample, group_label(metadata, grouping), records[0]["requested_tokens"],
                            len(ok), len(records) - len(ok), float(np.mean(scores)) if scores else None,
                            float(sum(realized)), len(realized), sum(bool(r["looping"]) for r in ok),
                            _level(metadata, grouping), censored))
    return out


def _level_order(level: str) -> tuple[int, float, str]:
    try:
        return (0, float(level), level)
    except ValueError:
        return (1, 0.0, level)


def group_names(cells: Iterable[ItemCell], grouping: Grouping) -> dict[str, str]:
    """Display name of each raw group: "shots=8,16" for the k-shot side of grades, "harmful: refusal"."""
    if grouping.by_label:
        return {label: f"{label}: {metric}" for label, metric in LABEL_METRICS.items()}
    levels: dict[str, set[str]] = defaultdict(set)
    for cell in cells:
        if cell.level:
            levels[cell.group].add(cell.level)
    if grouping.key is None or not levels or (set(levels) - {"all"}) != {"control", "treated"} \
            or levels["control"] & levels["treated"]:
        return {}  # the stratum does not separate the two sides: keep the generic names
    return {group: f"{grouping.key}={','.join(sorted(found, key=_level_order))}" for group, found in levels.items()}


def _ci_row(cells: list[ItemCell], seed: int) -> tuple[float, float, float, int]:
    values = np.array([c.mean_score for c in cells if c.ok and c.mean_score is not None], dtype=float)
    return (*bootstrap_mean_ci(values, seed=seed), int(values.size))


def summarize_cells(cells: Iterable[ItemCell], seed: int = 0, grouping: Grouping = Grouping()) -> list[BudgetRow]:
    """One row per budget: the metric with its problem-bootstrap CI, by group too (named as the task
    names them; refusal unpooled: its `metric` is NaN and only the harmful / benign groups count)."""
    by_budget: dict[str, list[ItemCell]] = defaultdict(list)
    cells = list(cells)
    names = group_names(cells, grouping)
    for cell in cells:
        by_budget[cell.budget].append(cell)
    table = []
    for label in sorted(by_budget, key=_budget_order):
        members = sorted(by_budget[label], key=lambda c: c.sample_id)  # the CI must not depend on row order
        metric = low = high = math.nan  # refusal: a rate over harmful and benign prompts together is no metric
        if not grouping.by_label:
            metric, low, high, _ = _ci_row(members, seed)
        groups: dict[str, list[ItemCell]] = defaultdict(list)
        for cell in members:
            if cell.ok:
                groups[names.get(cell.group, cell.group)].append(cell)
        realized_n = sum(c.realized_n for c in members)
        n_ok = sum(c.ok for c in members)
        table.append(BudgetRow(
            budget=label, requested=members[0].requested,
            mean_realized=sum(c.realized_sum for c in members) / realized_n if realized_n else float("nan"),
            metric=metric, low=low, high=high, n_items=sum(1 for c in members if c.ok), n_records=n_ok,
            looping=sum(c.looping for c in members) / n_ok if n_ok else float("nan"),
            errors=sum(c.errors for c in members),
            by_group={name: _ci_row(group, seed) for name, group in sorted(groups.items())},
            censored=sum(c.censored for c in members), pooled=not grouping.by_label,
        ))
    return table


def summarize(rows: Iterable[dict[str, Any]], seed: int = 0, grouping: Grouping = Grouping()) -> list[BudgetRow]:
    """The table from record rows (tests, small stores); sweeps aggregate in SQL (`sweep_rows`)."""
    return summarize_cells(item_cells(rows, grouping), seed, grouping)


def store_cells(store: Store, *, experiment: str, model: str, task: str, strategy: str,
                grouping: Grouping = Grouping()) -> list[ItemCell]:
    """Item cells of one curve family aggregated by SQLite (store/cells.py): one row per (budget, problem)
    reaches Python, never one per record, so the end-of-run table costs memory per problem, not per record."""
    cells = store.curve_cells(experiment=experiment, model=model, task=task, strategy=strategy,
                              by_label=grouping.by_label, key=grouping.key)
    return list(cells)


def sweep_rows(store: Store, *, experiment: str, model: str, task: str, strategy: str) -> list[BudgetRow]:
    """The end-of-run table of one sweep, grouped as the task's declared traits (the store's `tasks`
    table) ask: the runner's one call, so the table explains itself as the analysis does."""
    grouping = grouping_for(store.declared_traits(task))
    cells = store_cells(store, experiment=experiment, model=model, task=task, strategy=strategy, grouping=grouping)
    return summarize_cells(cells, grouping=grouping)
