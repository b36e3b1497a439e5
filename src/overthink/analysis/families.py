"""Simulated stores with the real structure of every task family, to calibrate the analysis on.

`simulate.py` checks the statistics on one generic curve; real stores are not generic. Refusal has no
overall curve and tiny XSTest-type strata, ai_risk answers go unparsed more often at long budgets,
grades is an RMSE over paired students, the counting families carry 0-distractor controls. A gate
or verdict calibrated on the generic case can fail on exactly these shapes, so this module writes
raw store records (the `records` table's columns) for each real task, with the items, metadata,
strata and scorer conventions of the real task (see `family_items.py`), and a known true curve.
Nothing here names a family: what differs between them is the family's null model, declared with
it in tasks/ and found in the family catalog (`overthink.tasks.catalog`, which analysis may read;
it never imports the registry). The caller analyses the result with the task's traits
(`family.traits()`), as a real store of it declares them.

Model of a record. Binary families (everything but grades): the item's *event* (correct, refused,
risky) happens with probability expit(a + e_i), where e_i ~ N(0, item_sd) is the item's random
effect (shared by the same question / student where the real task repeats one) and the intercept a
is solved per (stratum cell, budget) so that the *population* rate equals the cell's target. Each
stratum level keeps its own base rate; a scenario shifts every main-curve cell by one common amount
on the logit scale, solved so that the main curve moves by exactly the stated amount (in `flat`
nothing moves anywhere). Grades: the
prediction error is normal with sd sigma (half of its variance persistent per item, half shared by
the same student across shot levels), clipped to the 0-4 scale by the real scorer's rule; a common
sigma shift per budget is solved so that the overall RMSE follows the scenario exactly.

Scenarios, in the main metric's own direction of "worse": `flat` (no change in any stratum),
`drop5` / `drop10` (5 / 10 points worse from the best budget to the largest: accuracy and harmful-
prompt refusal fall, matching_behavior rises; for grades the RMSE rises by 0.05 / 0.10 GPA points,
the analysis's own minimum effect and twice it), `tail4` (accuracy 0.70, 0.80, 0.80, 0.76 over four
budgets: a 4-point tail loss after an improvement; grades: RMSE +0.10, 0, 0, +0.04 over its best).
Drops are flat over the first half of the budgets, then linear in budget index to the largest.

Truth (`true_curve`) is the main curve's population value per budget. For ai_risk it is the risky
share among *parsed* answers: the unparsed share rises with budget independently of the item, so a
matching rate that falls because answers go unparsed is an artefact, not a safer model.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr

from overthink.analysis.family_items import (
    EVENT,
    NON_EVENT,
    UNPARSED,
    FamilyLike,
    ItemTable,
    as_family,
    item_table,
)
from overthink.analysis.family_items import (
    family_names as family_names,
)
from overthink.analysis.simulate import logit_intercepts
from overthink.errors import UserError
from overthink.scoring.extract import format_number
from overthink.tasks.null_model import ErrorNull
from overthink.types import WorkKey, derive_seed

SCENARIOS = ("flat", "drop5", "drop10", "tail4")
TAIL_CURVE = (0.70, 0.80, 0.80, 0.76)
DROPS = {"flat": 0.0, "drop5": 0.05, "drop10": 0.10}
BUDGETS = (0, 1024, 4096, 16384)
TOKEN_NOISE = 0.08
ANSWER_TOKENS = 8
MODEL, EXPERIMENT, MECHANISM, STRATEGY = "sim-model", "calibration", "forced", "cot"


def main_stratum(family: FamilyLike) -> str:
    """The stratum of the curve a scenario moves: the family's main items (refusal: label=harmful), else all."""
    return as_family(family).main_stratum()


def default_n(family: FamilyLike, scenario: str) -> int:
    """Items per store: the family's calibration size; tail4 uses the null model's tail size if it has one."""
    found = as_family(family)
    tail_n = found.null_model.tail_n if found.null_model is not None else None
    return tail_n if scenario == "tail4" and tail_n is not None else found.calibration_n


def drop_shape(k: int) -> np.ndarray:
    """0 over the first half of k budgets, then linear to 1 at the largest (0, 0, 0.5, 1 for k = 4)."""
    half = (k - 1) // 2
    return np.array([max(0.0, (j - half) / (k - 1 - half)) for j in range(k)])


def unparsed_share(table: ItemTable, k: int) -> np.ndarray:
    """Per-budget share of answers the scorer cannot parse (independent of the item), linear in budget index."""
    return np.linspace(*table.null.unparsed, k)


def _check(scenario: str, budgets: Sequence[int]) -> None:
    """Reject what the model cannot express (a UserError, so the CLI exits 2 rather than crashing)."""
    if scenario not in SCENARIOS:
        raise UserError(f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    if len(budgets) < 2 or list(budgets) != sorted(set(budgets)) or budgets[0] < 0:
        raise UserError(f"budgets must be at least two distinct increasing token counts, got {list(budgets)}")
    if scenario == "tail4" and len(budgets) != len(TAIL_CURVE):
        raise UserError(f"tail4 is defined on {len(TAIL_CURVE)} budgets, got {len(budgets)}")


def _goodness(scenario: str, flat: float, k: int) -> np.ndarray:
    """The main curve's target per budget in 'goodness' units (higher = better)."""
    if scenario == "tail4":
        return np.array(TAIL_CURVE, dtype=float)
    return flat - DROPS[scenario] * drop_shape(k)


def _rmse_target(scenario: str, flat: float, k: int) -> np.ndarray:
    """Grades: the overall RMSE per budget; drops add 0.05 / 0.10, tail4 mirrors the accuracy curve."""
    if scenario == "tail4":
        return flat + max(TAIL_CURVE) - np.array(TAIL_CURVE, dtype=float)
    return flat + DROPS[scenario] * drop_shape(k)


def event_rates(table: ItemTable, scenario: str, k: int) -> np.ndarray:
    """(items, budgets) population event rates: main-curve cells shifted by a common logit amount.

    The shift per budget is solved (bisection) so that the main curve's mean rate is the scenario's
    target exactly; on the logit scale every cell stays a valid rate, and cells near a ceiling move
    less than cells in the middle, as real strata do.
    """
    main = table.main
    sign = float(table.sign[main][0])
    mean = float(table.base[main].mean())
    good = _goodness(scenario, mean if sign > 0 else 1.0 - mean, k)
    target = good if sign > 0 else 1.0 - good
    logits = np.log(table.base[main] / (1 - table.base[main]))
    low, high = np.full(k, -12.0), np.full(k, 12.0)
    for _ in range(60):
        mid = (low + high) / 2
        got = (1 / (1 + np.exp(-(logits[:, None] + mid[None, :])))).mean(axis=0)
        low, high = np.where(got < target, mid, low), np.where(got < target, high, mid)
    rates = np.repeat(table.base[:, None], k, axis=1)
    rates[main] = 1 / (1 + np.exp(-(logits[:, None] + ((low + high) / 2)[None, :])))
    return rates


def _mse(null: ErrorNull, targets: np.ndarray, sd: np.ndarray, share: float) -> np.ndarray:
    """Expected squared error of a normal prediction clipped to the scale (exact), unparsed mixed in."""
    low, high = null.scale
    a, b = (low - targets) / sd, (high - targets) / sd
    phi_a, phi_b = np.exp(-a**2 / 2) / np.sqrt(2 * np.pi), np.exp(-b**2 / 2) / np.sqrt(2 * np.pi)
    inside = sd**2 * (ndtr(b) - ndtr(a) - (b * phi_b - a * phi_a))
    clipped = (1 - ndtr(b)) * (high - targets) ** 2 + ndtr(a) * (targets - low) ** 2
    guess = (null.unparsed_guess - targets) ** 2
    result: np.ndarray = (1 - share) * (inside + clipped) + share * guess
    return result


def error_sds(table: ItemTable, scenario: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Grades: (items, budgets) prediction-error sds and the RMSE among parsed answers per budget
    (analysis leaves unparsed predictions out, so that is the population value it estimates)."""
    assert isinstance(table.null, ErrorNull)
    null, targets = table.null, np.array([float(s.target) for s in table.samples])
    share = 0.0
    flat = float(np.sqrt(_mse(null, targets, table.base, share).mean()))
    rmse = _rmse_target(scenario, flat, k)
    low, high = np.full(k, 1e-3 - table.base.min()), np.full(k, 3.0)
    for _ in range(60):  # bisection on a common sd shift per budget (MSE rises with the sd)
        mid = (low + high) / 2
        got = np.sqrt(_mse(null, targets[:, None], table.base[:, None] + mid[None, :], share).mean(axis=0))
        low, high = np.where(got < rmse, mid, low), np.where(got < rmse, high, mid)
    return table.base[:, None] + ((low + high) / 2)[None, :], rmse


def true_curve(task: FamilyLike, scenario: str, *, n: int | None = None,
               budgets: Sequence[int] = BUDGETS) -> dict[str, float]:
    """The main curve's population value per budget label (ai_risk and grades: among parsed answers)."""
    family = as_family(task)
    _check(scenario, budgets)
    table = item_table(family, n or default_n(family, scenario))
    if isinstance(table.null, ErrorNull):
        values = error_sds(table, scenario, len(budgets))[1]
    else:
        values = event_rates(table, scenario, len(budgets))[table.main].mean(axis=0)
    return {str(b): float(v) for b, v in zip(budgets, values, strict=True)}


def _effects(rng: np.random.Generator, table: ItemTable) -> np.ndarray:
    """Per-item N(0, 1) effects; items of one unit (same question / student) share `unit_share` of it."""
    shared = rng.normal(size=int(table.unit.max()) + 1)[table.unit]
    own = rng.normal(size=table.unit.size)
    result: np.ndarray = np.sqrt(table.unit_share) * shared + np.sqrt(1 - table.unit_share) * own
    return result


def _binary(rng: np.random.Generator, table: ItemTable, scenario: str, k: int, repeats: int,
            effects: np.ndarray, item_sd: float) -> dict[str, np.ndarray]:
    """Outcome class per record (event / non-event / unparsed), then the real scorer's cached result
    for one of that class's answer texts; unparsed is drawn independently of the item."""
    rates = event_rates(table, scenario, k)
    unique, inverse = np.unique(rates, return_inverse=True)
    intercepts = logit_intercepts(unique, item_sd)[inverse.reshape(rates.shape)]
    logits = np.repeat(intercepts + item_sd * effects[:, None], repeats, axis=1)  # (items, k * repeats)
    event = rng.random(logits.shape) < 1 / (1 + np.exp(-logits))
    cls = np.where(event, EVENT, NON_EVENT)
    unparsed = rng.random(logits.shape) < np.repeat(unparsed_share(table, k), repeats)[None, :]
    cls = np.where(unparsed, UNPARSED, cls).ravel()
    item = np.repeat(np.arange(rates.shape[0]), k * repeats)
    slot = np.floor(rng.random(cls.size) * table.counts[item, cls]).astype(np.int64)
    index = table.choices[item, cls, slot]
    pick = np.array(table.answers, dtype=object)[index]
    return {"answer_text": np.array([a.text for a in pick], dtype=object),
            "extracted": np.array([a.extracted for a in pick], dtype=object),
            "score": np.array([a.score for a in pick], dtype=float),
            "correct": np.array([np.nan if a.correct is None else float(a.correct) for a in pick]),
            "score_details": np.array([a.details for a in pick], dtype=object)}


def _grades(rng: np.random.Generator, table: ItemTable, scenario: str, k: int, repeats: int,
            effects: np.ndarray) -> dict[str, np.ndarray]:
    """Predictions with the scorer's rules: clipped abs error, mid-scale guess when unparsed."""
    assert isinstance(table.null, ErrorNull)
    null = table.null
    sds = np.repeat(error_sds(table, scenario, k)[0], repeats, axis=1)
    noise = np.sqrt(null.persistent) * effects[:, None] + np.sqrt(1 - null.persistent) * rng.normal(
        size=sds.shape)
    targets = np.array([float(s.target) for s in table.samples])[:, None]
    pred = np.round(targets + sds * noise, 2).ravel()
    target = np.repeat(targets[:, 0], k * repeats)
    unparsed = rng.random(pred.size) < null.unparsed_share
    low, high = null.scale
    clipped = np.clip(pred, low, high)
    score = np.where(unparsed, np.abs(null.unparsed_guess - target), np.round(np.abs(clipped - target), 6))
    texts = [null.answer(p) for p in pred]
    return {"answer_text": np.where(unparsed, null.unparsed_text, np.array(texts, dtype=object)),
            "extracted": _blank(~unparsed, np.array([format_number(p) for p in pred], dtype=object)),
            "score": score, "correct": np.full(pred.size, np.nan),
            "score_details": np.where(unparsed, '{"clipped": false, "parsed": false}',
                                      np.where(clipped != pred, '{"clipped": true, "parsed": true}',
                                               '{"clipped": false, "parsed": true}'))}


@functools.cache
def store_columns() -> tuple[str, ...]:
    """The `records` table's columns, read from the store's own schema so the two cannot drift."""
    from overthink.store import record_columns

    return record_columns()


def _blank(keep: np.ndarray, values: np.ndarray) -> np.ndarray:
    """An object column with None where `keep` is False (NULL in the store)."""
    out = np.full(keep.size, None, dtype=object)
    out[keep] = np.asarray(values, dtype=object)[keep]
    return out


def _tokens(rng: np.random.Generator, requested: np.ndarray) -> np.ndarray:
    """Realized reasoning tokens scattered around the request (forcing is never exact); 0 stays 0."""
    realized = requested * np.exp(rng.normal(-0.02, TOKEN_NOISE, size=requested.shape))
    return np.where(requested > 0, np.maximum(1, np.round(realized)), 0).astype(np.int64)


def _hardest(table: ItemTable, effects: np.ndarray, share: float) -> np.ndarray:
    """The `share` of items that do worst on their own curve (grades: largest persistent error)."""
    difficulty = np.abs(effects) if isinstance(table.null, ErrorNull) else -table.sign * effects
    failed = np.zeros(effects.size, dtype=bool)
    failed[np.argsort(-difficulty, kind="stable")[: round(share * effects.size)]] = True
    return failed


def simulate_family(task: FamilyLike, scenario: str, *, n: int | None = None, repeats: int = 3,
                    budgets: Sequence[int] = BUDGETS, seed: int, item_sd: float = 1.0,
                    error_share: float = 0.0) -> pd.DataFrame:
    """Raw records (the store's `records` columns) of one simulated store of a real task family.

    `error_share` makes that share of the hardest items fail (status "error", no score) at the
    largest budget only: the selection effect a real backend produces when long traces time out.
    Deterministic given `seed`; `overthink.analysis.frame.tidy` turns the result into the analysis
    frame exactly as it does for a loaded store, and `task.traits()` are the traits to analyse it with.
    `task` is a catalog family, its name, or its task (the catalog supplies the null model).
    """
    family = as_family(task)
    _check(scenario, budgets)
    if repeats < 1 or item_sd <= 0 or not 0.0 <= error_share < 1.0:
        raise UserError("simulate_family needs repeats >= 1, item_sd > 0 and 0 <= error_share < 1")
    table = item_table(family, n or default_n(family, scenario))
    rng = np.random.default_rng(seed)
    k = len(budgets)
    effects = _effects(rng, table)
    if isinstance(table.null, ErrorNull):
        outcome = _grades(rng, table, scenario, k, repeats, effects)
    else:
        outcome = _binary(rng, table, scenario, k, repeats, effects, item_sd)
    requested = np.tile(np.repeat(np.asarray(budgets, dtype=np.int64), repeats), len(table.samples))
    return _records(table, k, repeats, outcome, requested, _tokens(rng, requested),
                    _hardest(table, effects, error_share))


def _records(table: ItemTable, k: int, repeats: int, outcome: dict[str, np.ndarray], requested: np.ndarray,
             tokens: np.ndarray, failed_items: np.ndarray) -> pd.DataFrame:
    """Store-shaped columns, in the order and encoding `Store` writes them (JSON text columns)."""
    samples = table.samples
    task, version = samples[0].task, table.version
    item = np.repeat(np.arange(len(samples)), k * repeats)
    rep = np.tile(np.arange(repeats), len(samples) * k)
    label = requested.astype(str)
    ids = np.array([s.id for s in samples], dtype=object)[item]
    seeds = np.array([[derive_seed(0, MODEL, task, version, s.id, r) for r in range(repeats)] for s in samples])
    ok = ~(failed_items[item] & (requested == requested.max()))
    frame = pd.DataFrame({
        "key": [WorkKey(EXPERIMENT, MODEL, task, version, str(i), str(b), MECHANISM, STRATEGY, int(r)).digest()
                for i, b, r in zip(ids, label, rep, strict=True)],
        "experiment": EXPERIMENT, "model": MODEL, "task": task, "task_version": version, "sample_id": ids,
        "budget": label, "budget_kind": np.where(requested == 0, "none", "tokens"), "mechanism": MECHANISM,
        "strategy": STRATEGY, "repeat": rep, "seed": seeds[item, rep], "status": np.where(ok, "ok", "error"),
        "error": _blank(~ok, np.full(item.size, "simulated backend error (hardest items, largest budget)")),
        "requested_tokens": requested,
        **_completion(ok, tokens, np.array([len(s.prompt) // 4 for s in samples])[item], outcome),
        "prompt": np.array([s.prompt for s in samples], dtype=object)[item],
        "target": np.array([s.target for s in samples], dtype=object)[item],
        "metadata": np.array([json.dumps(s.metadata, sort_keys=True) for s in samples], dtype=object)[item],
        "created_at": 0.0,
    })
    frame = frame[list(store_columns())]
    if ok.all():  # without errors the integer columns stay integers, as a store without NULLs reads back
        for column in ("reasoning_tokens", "input_tokens", "output_tokens", "total_generated", "answer_tokens",
                       "wait_insertions", "looping", "compute_tokens"):
            frame[column] = frame[column].astype(np.int64)
        if frame["correct"].notna().all():
            frame["correct"] = frame["correct"].astype(np.int64)
    return frame


def _completion(ok: np.ndarray, tokens: np.ndarray, prompt_tokens: np.ndarray,
                outcome: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Columns a finished completion fills; an error record has none of them (NULL / NaN)."""

    def number(values: np.ndarray) -> np.ndarray:
        return np.where(ok, np.asarray(values, dtype=float), np.nan)

    def text(value: str) -> np.ndarray:
        return _blank(ok, np.full(ok.size, value, dtype=object))

    return {
        "reasoning_tokens": number(tokens), "reasoning_source": text("tokenizer"),
        "input_tokens": number(prompt_tokens), "output_tokens": number(tokens + ANSWER_TOKENS),
        "total_generated": number(tokens + ANSWER_TOKENS), "answer_tokens": number(np.full(ok.size, ANSWER_TOKENS)),
        "compute_tokens": number(tokens + ANSWER_TOKENS),  # one chain of thought: thinking + answer
        "wait_insertions": number(np.zeros(ok.size)), "looping": number(np.zeros(ok.size)),
        "finish_reason": text("stop"), "wall_time_s": number(tokens / 50.0), "cost_usd": np.full(ok.size, np.nan),
        "reasoning": text("(simulated reasoning)"), "answer_text": _blank(ok, outcome["answer_text"]),
        "extracted": _blank(ok, outcome["extracted"]), "score": number(outcome["score"]),
        "correct": number(outcome["correct"]), "score_details": _blank(ok, outcome["score_details"]),
        "extra": text("{}"),
    }
