"""Equal compute: every strategy's metric against the total compute it spent, and each strategy against
chain of thought at matched compute.

A budget is not a fair x axis across strategies: vote@5 at budget 64 spends five chains of thought,
best-of-n also pays its verifier. The x here is each record's `compute_tokens` (docs/strategies.md
"Compute: one definition"), averaged per problem like every curve value.

**One paired bootstrap over all strategies.** A comparison is one (model, task, mechanism, shots);
its columns are every (strategy, budget), its problems those present at every column, and one
resampling of their clusters (bootstrap.py) serves every strategy, so a difference between two
strategies is paired by problem exactly like a difference between two budgets of one curve. It is
built by handing bootstrap.py one family whose "budgets" are the (strategy, budget) columns and whose
"realized tokens" are the records' compute; per-label metrics (refusal) get one main curve per
label, as every curve does.

**Matched compute.** For a strategy's budget with mean compute x, chain of thought's value at x is
read along CoT's own curve: linearly in log(1 + compute) between the two CoT budgets whose compute
brackets x (at one budget exactly when equal), or, outside CoT's range, its end budget when that is
within MATCH_RATIO of x (the ratio is reported); otherwise there is no CoT point at that compute and
the budget is not tested. The interpolation weights come from the point estimates of compute, so the
matched difference is a fixed linear contrast of the columns, tested by the bootstrap-t of
contrasts.py (cluster standard errors in every replicate).

**Family-wise control, as for budgets.** Every matched contrast of a comparison -- every strategy,
budget and main curve -- shares one null: the maximum over them of the centred studentized replicate
|t|, from the one resampling. Its critical value gives the simultaneous intervals and its tail the
adjusted p-values, so an interval excludes zero exactly when p < alpha. Comparisons with fewer than
MIN_ITEMS common problems (or clusters) are descriptive: intervals, no test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from overthink.analysis.bootstrap import Curve, budget_frame, families, family_curves
from overthink.analysis.compute_results import ComputePoint, ComputeTable, Matched, Rerank, strategy_verdict
from overthink.analysis.contrasts import contrasts
from overthink.analysis.inference import critical_value, p_value, percentile
from overthink.analysis.metrics import NO_TRAITS, Traits
from overthink.analysis.missing import Missing
from overthink.analysis.order import budget_order
from overthink.types import parse_label

REFERENCES = ("cot", "single")  # chain of thought as runs record it, and as simulated / older stores do
MATCH_RATIO = 1.5  # outside CoT's compute range, its end budget counts as matched within this factor
SEP = "\x1f"  # joins strategy and budget into one column label of the combined family
GROUP_KEYS = ("model", "task", "mechanism")


def reference_of(strategies: list[str]) -> str | None:
    """The chain-of-thought strategy of a comparison (same shots as the others), None without one."""
    return next((s for s in strategies if parse_label(s)[0] in REFERENCES), None)


def equal_compute(frame: pd.DataFrame, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05, *,
                  traits: Traits = NO_TRAITS) -> list[ComputeTable]:
    """One table per (model, task, mechanism, shots, main curve) run with at least two strategies."""
    data = budget_frame(frame)
    if data.empty or "compute_tokens" not in data.columns:
        return []
    shots = data["strategy"].astype(str).map(lambda s: parse_label(s)[1])
    out: list[ComputeTable] = []
    for key, group in data.groupby([*GROUP_KEYS, shots.rename("shots")], sort=True, observed=True):
        tables = _comparison(group, tuple(str(k) for k in key), n_boot, seed, alpha, traits)
        out.extend(tables)
    return out


def _strategies(group: pd.DataFrame) -> list[str]:
    """Strategies with finished records that carry compute: the reference first, then by name."""
    ok = group[(group["status"] == "ok") & group["compute_tokens"].notna()] if "status" in group else group
    found = sorted(str(s) for s in pd.unique(ok["strategy"].astype(str)))
    reference = reference_of(found)
    return ([reference] if reference else []) + [s for s in found if s != reference]


def _comparison(group: pd.DataFrame, key: tuple[str, ...], n_boot: int, seed: int, alpha: float,
                traits: Traits) -> list[ComputeTable]:
    """The tables of one comparison, tested together (one null for all of their matched contrasts)."""
    strategies = _strategies(group)
    if len(strategies) < 2:
        return []
    rows = group[group["strategy"].astype(str).isin(strategies)].copy()
    verifiers = _verifiers(rows)
    order = [f"{s}{SEP}{b}" for s in strategies
             for b in budget_order(rows[rows["strategy"].astype(str) == s])]
    rows["budget"] = rows["strategy"].astype(str) + SEP + rows["budget"].astype(str)
    rows["strategy"] = f"equal-compute{SEP}{key[-1]}"  # one family; its seed names the comparison
    rows["realized"] = rows["compute_tokens"]  # the curve's x: mean compute per problem
    combined = families(rows, n_boot, seed, traits)
    if not combined:
        return []
    family = replace(combined[0], budgets=order)
    curves = [c for c in family_curves(family) if c.main]
    reference = strategies[0] if reference_of(strategies) else None
    matches = [_matches(curve, reference) for curve in curves]
    tested = _test([(c, m) for c, m in zip(curves, matches, strict=True) if not c.descriptive], alpha)
    return [replace(_table(curve, match, tested, strategies, reference, alpha, key), verifiers=verifiers)
            for curve, match in zip(curves, matches, strict=True)]


def _verifiers(rows: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Per best-of-n strategy, the verifiers its records name with their options (`extra.verifier`, e.g.
    "prm:Qwen/Qwen2.5-Math-PRM-7B[last]"): the label names the verifier, not how it was configured."""
    if "verifier" in rows.columns:  # the analysis frame (summary.slim) keeps only this of `extra`
        named = list(rows["verifier"])
    elif "extra" in rows.columns:
        named = [e.get("verifier") if isinstance(e, dict) else None for e in rows["extra"]]
    else:
        return {}
    found: dict[str, set[str]] = {}
    for strategy, name in zip(rows["strategy"].astype(str), named, strict=True):
        if isinstance(name, str) and name:
            found.setdefault(strategy, set()).add(str(name))
    return {s: tuple(sorted(v)) for s, v in sorted(found.items())}


def _split(label: str) -> tuple[str, str]:
    strategy, _, budget = label.partition(SEP)
    return strategy, budget


@dataclass(frozen=True)
class _Plan:
    """How one column is matched: "interpolated" or "nearest", and its contrast vector over the columns."""

    kind: str
    vector: np.ndarray


Plans = dict[int, "Matched | _Plan"]  # per non-reference column: its plan, or why it has none


def _matches(curve: Curve, reference: str | None) -> Plans:
    """Per non-reference column: its contrast against CoT at the same compute, or why there is none."""
    columns = [_split(b) for b in curve.budgets]
    if reference is None:
        return {j: Matched("none", reason="no chain-of-thought (cot) records to compare with")
                for j, (s, _) in enumerate(columns)}
    x = np.log1p(np.clip(curve.tokens, 0, None))
    ref = sorted((j for j, (s, _) in enumerate(columns) if s == reference and np.isfinite(x[j])),
                 key=lambda j: x[j])
    out: Plans = {}
    for j, (strategy, _) in enumerate(columns):
        if strategy == reference:
            continue
        plan = _match_vector(x, j, ref, len(columns))
        out[j] = plan if plan is not None else Matched(
            "none", reason=_no_match(curve.tokens, j, ref) if ref else "no chain-of-thought budget on these problems")
    return out


def _match_vector(x: np.ndarray, j: int, ref: list[int], k: int) -> _Plan | None:
    """Contrast (strategy column j) - (CoT at its compute); None when no CoT point is close enough."""
    if not ref or not np.isfinite(x[j]):
        return None
    vector = np.zeros(k)
    vector[j] = 1.0
    xs = x[ref]
    if xs[0] <= x[j] <= xs[-1]:
        upper = int(np.searchsorted(xs, x[j], side="left"))
        if xs[upper] == x[j]:
            vector[ref[upper]] -= 1.0
            return _Plan("interpolated", vector)
        weight = (x[j] - xs[upper - 1]) / (xs[upper] - xs[upper - 1])
        vector[ref[upper - 1]] -= 1.0 - weight
        vector[ref[upper]] -= weight
        return _Plan("interpolated", vector)
    end = ref[0] if x[j] < xs[0] else ref[-1]
    mine, theirs = math.expm1(x[j]), math.expm1(x[end])
    if max(mine, theirs) <= MATCH_RATIO * min(mine, theirs):
        vector[end] -= 1.0
        return _Plan("nearest", vector)
    return None


def _no_match(tokens: np.ndarray, j: int, ref: list[int]) -> str:
    low, high = float(np.nanmin(tokens[ref])), float(np.nanmax(tokens[ref]))
    return (f"no chain-of-thought budget within {MATCH_RATIO:g}x of its compute ({tokens[j]:.0f} tokens; "
            f"chain of thought spans {low:.0f}-{high:.0f})")


Tested = dict[tuple[str, int], tuple[float, float, float, float]]  # (stratum, column) -> (estimate, lo, hi, p)


def _test(pairs: list[tuple[Curve, Plans]], alpha: float) -> Tested:
    """Every matched contrast of a comparison under one max-|t| null (simultaneous CIs, adjusted p)."""
    found: list[tuple[str, int, float, float, float, np.ndarray]] = []
    for curve, matches in pairs:
        plans = {j: m for j, m in matches.items() if isinstance(m, _Plan)}
        if not plans:
            continue
        columns = list(plans)
        matrix = np.stack([plans[j].vector for j in columns], axis=1)
        result = contrasts(curve, matrix)
        for n, j in enumerate(columns):
            found.append((curve.stratum, j, float(result.estimate[n]), float(result.se[n]), float(result.t[n]),
                          np.abs(result.null[:, n])))
    if not found:
        return {}
    stacked = np.stack([f[5] for f in found], axis=1)
    null_max = np.max(np.where(np.isnan(stacked), -np.inf, stacked), axis=1)
    c = critical_value(null_max, alpha)
    out: Tested = {}
    for stratum, j, estimate, se, t, _ in found:
        half = c * se if se > 0 else 0.0
        out[(stratum, j)] = (estimate, estimate - half, estimate + half, p_value(abs(t), null_max))
    return out


def _call(curve: Curve, estimate: float, lo: float, hi: float, p: float, alpha: float) -> str:
    """better / worse / negligible / equivalent / unclear, in goodness units against the minimum effect."""
    sign = 1.0 if curve.metric.higher_is_better else -1.0
    good, (good_lo, good_hi) = sign * estimate, sorted((sign * lo, sign * hi))
    threshold = curve.metric.min_effect
    if p < alpha:
        return "better" if good >= threshold else "worse" if good <= -threshold else "negligible"
    return "equivalent" if -threshold < good_lo and good_hi < threshold else "unclear"


def _table(curve: Curve, matches: Plans, tested: Tested, strategies: list[str], reference: str | None,
           alpha: float, key: tuple[str, ...]) -> ComputeTable:
    """One main curve of a comparison as a table of (strategy, budget) points with their matched tests."""
    points: list[ComputePoint] = []
    calls: dict[str, list[str]] = {s: [] for s in strategies if s != reference}
    for j, label in enumerate(curve.budgets):
        strategy, budget = _split(label)
        plan = matches.get(j)
        matched = None if plan is None else _matched(curve, j, plan, tested.get((curve.stratum, j)), alpha,
                                                     len(tested))
        if matched is not None:
            calls[strategy].append(matched.call)
        compute_lo, compute_hi = percentile(curve.boot_tokens[:, j])
        points.append(ComputePoint(strategy, budget, float(curve.tokens[j]), compute_lo, compute_hi,
                                   float(curve.values[j]), float(curve.lo[j]), float(curve.hi[j]), matched))
    missing = tuple(Missing(" ".join(_split(m.budget)), m.error, m.unparsed, m.absent) for m in curve.missing)
    return ComputeTable(reranks=tuple(_reranks(curve, strategies)),
        model=key[0], task=key[1], mechanism=key[2], stratum=curve.stratum, metric=curve.metric,
        reference=reference, strategies=tuple(strategies), points=tuple(points), n_items=curve.n_items,
        n_clusters=curve.n_clusters, n_items_total=curve.n_items_total, alpha=alpha,
        contrasts_tested=len(tested), verdicts={s: strategy_verdict(c) for s, c in calls.items()}, missing=missing)


def _reranks(curve: Curve, strategies: list[str]) -> list[Rerank]:
    """best-of-n@N minus vote@N at every budget both ran (they rerank / vote the same N samples)."""
    column = {_split(label): j for j, label in enumerate(curve.budgets)}
    out: list[Rerank] = []
    for best in strategies:
        name, param = parse_label(best)[0].partition("@")[::2]
        if name != "best-of-n" or not param:
            continue
        shots = parse_label(best)[1]
        vote = f"vote@{param.split(',')[0]}" + (f"+{shots}shot" if shots else "")
        if vote not in strategies:
            continue
        for (strategy, budget), j in column.items():
            k = column.get((vote, budget))
            if strategy != best or k is None:
                continue
            lo, hi = percentile(curve.boot_values[:, j] - curve.boot_values[:, k])
            out.append(Rerank(best, vote, budget, float(curve.values[j] - curve.values[k]), lo, hi,
                              float(curve.tokens[j] - curve.tokens[k])))
    return out


def _matched(curve: Curve, j: int, plan: Matched | _Plan, result: tuple[float, float, float, float] | None,
             alpha: float, n_tested: int) -> Matched:
    """The Matched of column j: its CoT budgets and weights, and its test when the curve was tested."""
    if isinstance(plan, Matched):
        return plan
    used = [int(i) for i in np.flatnonzero(plan.vector) if i != j]
    weights = tuple(float(-plan.vector[i]) for i in used)
    log_compute = sum(w * math.log1p(float(curve.tokens[i])) for w, i in zip(weights, used, strict=True))
    cot_compute = math.expm1(log_compute)
    cot_value = float(sum(w * curve.values[i] for w, i in zip(weights, used, strict=True)))
    base = Matched(plan.kind, tuple(_split(curve.budgets[i])[1] for i in used), weights, cot_compute, cot_value,
                   float(curve.tokens[j]) / cot_compute if cot_compute > 0 else None,
                   float(curve.values[j]) - cot_value)
    if result is None:
        return replace(base, reason=f"only {curve.n_items} common problems (a test needs 10): descriptive")
    estimate, lo, hi, p = result
    return replace(base, difference=estimate, lo=lo, hi=hi, p=p, call=_call(curve, estimate, lo, hi, p, alpha),
                   reason=f"simultaneous over the {n_tested} matched contrasts of this comparison")
