"""Budget guard-rail: the smallest reasoning budget that is as good as the best one, within a tolerance.

Serving a model at its best-looking budget wastes compute when a much smaller budget does as well, and
risks inverse scaling when larger budgets are allowed at all. Per (model, task, mechanism, strategy),
on the paired problem bootstrap of the analysis package, the guard-rail compares every token budget
with the best one (loss = best - budget, in "goodness" units) and recommends the smallest budget whose
loss is within the tolerance:

* rule "point" (default): the point estimate of the loss is <= tolerance;
* rule "ci": only budgets whose loss upper bound (95%) is <= tolerance qualify (the best budget
  always does), which is conservative with few problems.

The loss of a budget is measured against the best budget *re-chosen in every replicate*
(max over budgets of the replicate minus this budget), so the uncertainty of which budget is best
is part of it: the best budget's own loss is not zero by construction, and `confident` (the whole
interval within the tolerance) means something for it too. Tolerances are in the metric's unit (2
accuracy points, 0.05 RMSE by default); curves with fewer than 10 common problems are never
`confident`.

The output is a YAML snippet that clamps each model's thinking budget (`max_reasoning_tokens`) and
lists the sweep budgets up to the clamp, ready to paste into a deployment or an overthink config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml

from overthink.analysis.bootstrap import Curve, build_curves
from overthink.analysis.metrics import NO_TRAITS, Traits
from overthink.errors import UserError
from overthink.mitigations.gate import gated_curves

RULES = ("point", "ci")


@dataclass
class Recommendation:
    model: str
    task: str
    mechanism: str
    strategy: str
    stratum: str
    metric: str
    max_reasoning_tokens: int
    budget: str
    value: float
    best_budget: str
    best_value: float
    loss: float
    loss_ci: list[float]
    confident: bool
    tolerance: float
    rule: str
    n_items: int
    budgets: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def recommend_curve(curve: Curve, tolerance: float, rule: str = "point") -> Recommendation | None:
    """The guard-rail of one curve, or None when it has no token budgets (effort/natural only)."""
    tokens = np.asarray(curve.requested, dtype=float)
    usable = np.flatnonzero(np.isfinite(tokens) & np.isfinite(curve.values))
    if usable.size == 0:
        return None
    sign = 1.0 if curve.metric.higher_is_better else -1.0
    good = sign * curve.values[usable]
    boot = sign * curve.boot_values[:, usable]
    best = int(np.argmax(good))
    losses = good[best] - good
    boot_losses = np.nanmax(boot, axis=1, keepdims=True) - boot  # against each replicate's own best
    order = np.argsort(tokens[usable], kind="stable")
    chosen, ci = best, [0.0, 0.0]
    for position in order:
        draws = boot_losses[:, position]
        draws = draws[np.isfinite(draws)]
        lo, hi = (np.percentile(draws, [2.5, 97.5]) if draws.size else (np.nan, np.nan))
        ok = losses[position] <= tolerance if rule == "point" else (position == best or hi <= tolerance)
        if ok:
            chosen, ci = int(position), [float(lo), float(hi)]
            break
    index = int(usable[chosen])
    limit = int(tokens[index])
    return Recommendation(
        model=curve.model, task=curve.task, mechanism=curve.mechanism, strategy=curve.strategy,
        stratum=curve.stratum, metric=curve.metric.name, max_reasoning_tokens=limit,
        budget=curve.budgets[index], value=round(float(curve.values[index]), 6),
        best_budget=curve.budgets[int(usable[best])], best_value=round(float(curve.values[usable[best]]), 6),
        loss=round(float(losses[chosen]), 6), loss_ci=[round(v, 6) for v in ci],
        confident=bool(np.isfinite(ci[1]) and ci[1] <= tolerance and not curve.descriptive),
        tolerance=tolerance, rule=rule,
        n_items=curve.n_items,
        budgets=[b for b, t in zip(curve.budgets, tokens, strict=True) if np.isfinite(t) and t <= limit],
    )


def recommend(frame: pd.DataFrame, *, tolerance: float | None = None, rule: str = "point", n_boot: int = 1000,
              seed: int = 0, traits: Traits = NO_TRAITS) -> list[Recommendation]:
    """Guard-rails for every main curve of a tidy store frame (tolerance None: the metric's own).

    `traits` are what the store declares of its tasks: they decide which direction is better."""
    if tolerance is not None and tolerance < 0:
        raise UserError(f"--tolerance {tolerance} must be >= 0 (e.g. 0.02 = 2 accuracy points)")
    if rule not in RULES:
        raise UserError(f"unknown --rule {rule!r}; choose point or ci")
    data = frame[(frame["status"] == "ok") & (frame["budget"] != "natural")] if "status" in frame else frame
    if data.empty:
        raise UserError("the store has no finished budget records; run a sweep first")
    curves = gated_curves(build_curves(data, n_boot=n_boot, seed=seed, traits=traits))
    chosen = (recommend_curve(c, c.metric.tolerance if tolerance is None else tolerance, rule) for c in curves)
    out = [r for r in chosen if r is not None]
    if not out:
        raise UserError("no curve in the store has token budgets to clamp (effort or natural budgets only)")
    return out


def snippet(recommendations: list[Recommendation]) -> str:
    """YAML that clamps the budget per model and task, with the evidence beside each clamp."""
    entries = []
    for r in recommendations:
        entry: dict[str, Any] = {
            "model": r.model, "task": r.task, "mechanism": r.mechanism, "strategy": r.strategy,
            "max_reasoning_tokens": r.max_reasoning_tokens, "budgets": r.budgets, "metric": r.metric,
            "value": r.value, "best_budget": r.best_budget, "best_value": r.best_value, "loss": r.loss,
            "loss_ci": r.loss_ci, "confident": r.confident, "tolerance": r.tolerance,
        }
        if r.stratum != "all":
            entry["stratum"] = r.stratum
        entries.append(entry)
    rule = recommendations[0].rule if recommendations else "point"
    tolerances = sorted({r.tolerance for r in recommendations})
    tolerance = tolerances[0] if len(tolerances) == 1 else "the metric's tolerance"
    strategies = ", ".join(dict.fromkeys(r.strategy for r in recommendations)) or "none"
    header = (
        "# Budget guard-rail written by `overthink recommend`.\n"
        f"# Strategies read: {strategies} (each clamp holds for the strategy its entry names).\n"
        f"# Per model and task: the smallest budget within {tolerance} of the best budget (rule: {rule};\n"
        "# loss = best - this budget, 95% CI from a paired bootstrap over problems). Clamp thinking to\n"
        "# max_reasoning_tokens; `budgets` are the sweep budgets up to the clamp.\n"
    )
    body = yaml.safe_dump({"budget_guardrails": entries}, sort_keys=False, allow_unicode=True)
    return header + body
