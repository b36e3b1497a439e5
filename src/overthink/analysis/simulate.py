"""Synthetic stores with a known true curve, and the power / false-positive measurement built on them.

Real items differ in difficulty, and that is exactly what makes naive CIs too narrow, so the
simulator draws one random effect per item on the logit scale (sd `item_sd`) and solves, per budget,
for the intercept that makes the *population* accuracy equal the requested curve value. Realized
reasoning tokens scatter around the requested budget (forcing is never exact). Optional control
items (their own curve) and natural-end samples (with a within-item length effect and the usual
confound: hard items think longer) let the diagnostics be checked against a known truth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from overthink.errors import UserError
from overthink.types import TaskTraits

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def parse_curve(text: str) -> dict[int, float]:
    """"0:0.95,1024:0.93" -> {0: 0.95, 1024: 0.93}; raises UserError naming the bad part."""
    curve: dict[int, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        budget, sep, value = part.partition(":")
        try:
            tokens, prob = int(budget), float(value)
        except ValueError:
            raise UserError(f"curve point {part!r} is not BUDGET:ACCURACY (e.g. 1024:0.9)") from None
        if not sep or tokens < 0 or not 0.0 < prob < 1.0:
            raise UserError(f"curve point {part!r}: budget must be >= 0 and accuracy strictly in (0, 1)")
        if tokens in curve:
            raise UserError(f"curve lists budget {tokens} twice; give each budget once")
        curve[tokens] = prob
    if len(curve) < 2:
        raise UserError("a curve needs at least two BUDGET:ACCURACY points, e.g. \"0:0.95,4096:0.85\"")
    return dict(sorted(curve.items()))


def logit_intercepts(probs: np.ndarray, item_sd: float) -> np.ndarray:
    """Intercepts a with E[expit(a + sd*Z)] = p for Z ~ N(0,1) (Gauss-Hermite, vectorized bisection)."""
    low, high = np.full(probs.shape, -30.0), np.full(probs.shape, 30.0)
    for _ in range(80):
        mid = (low + high) / 2
        mean = (1 / (1 + np.exp(-(mid[..., None] + item_sd * _NODES)))) @ _WEIGHTS
        low, high = np.where(mean < probs, mid, low), np.where(mean < probs, high, mid)
    result: np.ndarray = (low + high) / 2
    return result


def _tokens(rng: np.random.Generator, budget: np.ndarray, noise: float) -> np.ndarray:
    realized = budget * np.exp(rng.normal(-0.02, noise, size=budget.shape))
    return np.where(budget > 0, np.maximum(1, np.round(realized)), 0).astype(np.int64)


def simulate_frame(curve: Mapping[int, float], n: int, repeats: int, seed: int, *, model: str = "sim",
                   task: str = "sim_task", item_sd: float = 1.0, token_noise: float = 0.08,
                   control_curve: Mapping[int, float] | None = None, control_fraction: float = 0.0,
                   natural: bool = False, natural_effect: float = 0.0, mechanism: str = "forced",
                   strategy: str = "single") -> pd.DataFrame:
    """Raw records (store columns) for n items x budgets x repeats; tidy them with frame.tidy."""
    if n < 2 or repeats < 1:
        raise UserError("simulate needs --n >= 2 items and --repeats >= 1")
    rng = np.random.default_rng(seed)
    budgets = np.array(sorted(curve), dtype=np.int64)
    effects = rng.normal(0.0, item_sd, size=n)
    is_control = np.arange(n) < round(control_fraction * n) if control_curve else np.zeros(n, bool)
    treated_a = logit_intercepts(np.array([curve[b] for b in budgets]), item_sd)
    control_a = (logit_intercepts(np.array([control_curve[b] for b in budgets]), item_sd)
                 if control_curve else treated_a)
    item = np.repeat(np.arange(n), len(budgets) * repeats)
    col = np.tile(np.repeat(np.arange(len(budgets)), repeats), n)
    rep = np.tile(np.arange(repeats), n * len(budgets))
    intercept = np.where(is_control[item], control_a[col], treated_a[col])
    correct = rng.random(item.size) < 1 / (1 + np.exp(-(intercept + effects[item])))
    requested = budgets[col]
    frames = [_rows(item, rep, requested.astype(str), requested, _tokens(rng, requested, token_noise),
                    correct, is_control, "tokens")]
    if natural:
        nat_item = np.repeat(np.arange(n), repeats)
        nat_rep = np.tile(np.arange(repeats), n)
        log_len = np.log(600) - 0.5 * effects[nat_item] + rng.normal(0, 0.5, size=nat_item.size)
        centred = log_len - np.log(600) + 0.5 * effects[nat_item]
        base = np.where(is_control[nat_item], control_a[0], treated_a[0])
        prob = 1 / (1 + np.exp(-(base + effects[nat_item] + natural_effect * centred)))
        frames.append(_rows(nat_item, nat_rep, np.full(nat_item.size, "natural"), None,
                            np.round(np.exp(log_len)).astype(np.int64), rng.random(nat_item.size) < prob,
                            is_control, "natural"))
    raw = pd.concat(frames, ignore_index=True)
    raw["model"], raw["task"], raw["mechanism"], raw["strategy"] = model, task, mechanism, strategy
    raw["experiment"], raw["task_version"], raw["status"] = "simulated", "1", "ok"
    return raw


def _rows(item: np.ndarray, rep: np.ndarray, label: np.ndarray, requested: np.ndarray | None,
          realized: np.ndarray, correct: np.ndarray, is_control: np.ndarray, kind: str) -> pd.DataFrame:
    control = is_control[item]
    meta = np.where(control, '{"control": true, "num_distractors": 0}',
                    '{"control": false, "num_distractors": 3}')
    return pd.DataFrame({
        "sample_id": np.char.add("sim-", item.astype(str)), "budget": label,
        "budget_kind": kind if kind == "natural" else np.where(requested == 0, "none", "tokens"),
        "repeat": rep, "seed": rep, "requested_tokens": requested if requested is not None else None,
        "reasoning_tokens": realized, "compute_tokens": realized + 5, "looping": 0, "score": correct.astype(float),
        "correct": correct.astype(np.int64), "metadata": meta, "target": "1",
        "extracted": np.where(correct, "1", "2"),
    })


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _json_field(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return json.loads(value) if isinstance(value, str) and value else {}


def _record(row: dict[Any, Any]) -> Any:
    """One simulated row as a store Record: errors stay errors, None stays None (never False)."""
    from overthink.types import Completion, Record, Score, Status, TokenSource, Usage, WorkKey

    key = WorkKey(str(row["experiment"]), str(row["model"]), str(row["task"]), str(row["task_version"]),
                  str(row["sample_id"]), str(row["budget"]), str(row["mechanism"]), str(row["strategy"]),
                  int(row["repeat"]))
    requested = row.get("requested_tokens")
    common: dict[str, Any] = dict(key=key, seed=int(row["seed"]), budget_kind=str(row["budget_kind"]),
                  requested_tokens=None if _missing(requested) or pd.isna(requested) else int(requested),
                  prompt=f"Simulated item {row['sample_id']}", target=str(row["target"]),
                  metadata=_json_field(row["metadata"]), created_at=0.0)
    if str(row.get("status", "ok")) != "ok" or _missing(row.get("score")):
        return Record(**common, status=Status.ERROR, error=str(row.get("error") or "simulated error"))
    tokens = int(row["reasoning_tokens"])
    usage = Usage(input_tokens=40, output_tokens=tokens + 5, reasoning_tokens=tokens,
                  reasoning_source=TokenSource.TOKENIZER)
    extracted = None if _missing(row.get("extracted")) else str(row["extracted"])
    completion = Completion(text=f"The answer is {extracted}.", reasoning="(simulated)", usage=usage,
                            finish_reason="stop", total_generated=tokens + 5, compute_tokens=tokens + 5,
                            extra=_json_field(row.get("extra")))
    correct = None if _missing(row.get("correct")) else bool(row["correct"])
    score = Score(value=float(row["score"]), correct=correct, extracted=extracted,
                  details=_json_field(row.get("score_details")))
    return Record(**common, status=Status.OK, completion=completion, score=score)


def write_store(raw: pd.DataFrame, path: str | Path, traits: Sequence[TaskTraits] = ()) -> int:
    """Write simulated rows through the real Store (so the result is an ordinary overthink store).

    `traits` are declared in the store as a run declares its tasks', so the store explains itself
    (a simulated family's metric, direction and strata) without any registry knowing the task."""
    from overthink.store import Store

    target = Path(path)
    if target.exists():
        raise UserError(f"{target} already exists; simulate writes a new store (choose another --out)")
    records = [_record(row) for row in raw.to_dict("records")]
    with Store(target) as store:
        store.set_meta("simulated", "true")
        for declared in traits:
            store.put_task_traits(declared)
        return store.write_many(records)


def power(curve: Mapping[int, float], n: int, repeats: int, trials: int, seed: int = 1, *,
          n_boot: int = 1000, alpha: float = 0.05, item_sd: float = 1.0) -> dict[str, Any]:
    """Run the full verdict on `trials` simulated stores; report how often each verdict came out."""
    from overthink.analysis.bootstrap import build_curves
    from overthink.analysis.frame import tidy
    from overthink.analysis.trends import verdict

    if trials < 1:
        raise UserError("--trials must be >= 1")
    counts = {"inverse": 0, "positive": 0, "flat": 0, "noisy": 0, "descriptive": 0}
    triggers = {"slope": 0, "loss": 0, "slope+loss": 0}  # which test made each inverse call
    for trial in range(trials):
        frame = tidy(simulate_frame(curve, n, repeats, seed * 100_003 + trial, item_sd=item_sd))
        overall = next(c for c in build_curves(frame, n_boot=n_boot, seed=trial) if c.stratum == "all")
        result = verdict(overall, alpha=alpha)
        counts[result.call] = counts.get(result.call, 0) + 1
        if result.call == "inverse":
            triggers[result.reason] += 1
    values = list(curve.values())
    is_flat = max(values) - min(values) < 1e-12
    rate = counts["inverse"] / trials
    return {
        "curve": {str(k): v for k, v in curve.items()}, "n": n, "repeats": repeats, "trials": trials,
        "alpha": alpha, "n_boot": n_boot, "item_sd": item_sd, "verdicts": counts,
        "inverse_by_test": triggers,
        "inverse_rate": rate, "kind": "false_positive_rate" if is_flat else "power",
        "stderr": float(np.sqrt(rate * (1 - rate) / trials)),
    }
