"""False-positive rate and power of the equal-compute test ("strategy S vs CoT at matched compute").

The test (analysis/equal_compute.py) matches each strategy's budget to chain of thought at the same
total compute and tests every such difference of one (model, task, mode) together under one max-|t|
null. Its claim is family-wise: on a store where no strategy differs from CoT at matched compute, the
chance that *any* matched contrast of a comparison comes out significant is at most alpha. This
benchmark measures that on simulated stores shaped like the safety study's:

* two real task families (refusal, 100 items, with its harmful / benign labels as two main curves
  tested together, and misleading_math, 150 items), their real items, answer texts and scorer
  (family_items.py), 2 repeats per item;
* four strategies -- cot at budgets 0/128/512/2048, vote@3, best-of-n@3 (its verifier reads every
  candidate's reasoning: 120 + thinking tokens each) and settle@32,2,0.2 (stops at about 70% of
  the budget and pays a probe answer every 32 tokens) at 0/128/512 -- each record's
  `compute_tokens` built from its own realized thinking as a run writes it;
* paired by problem: one random effect per item (sd 1 on the logit scale) shared by every strategy
  and budget, so an item hard for CoT is hard for the vote too;
* the null: the event rate of a record is one function of the compute its (strategy, budget) spends,
  the same for every strategy. `flat` keeps it constant; `rising` shifts every item's logit by
  0.8 * log1p(c) / log1p(2056) (refusal and accuracy rise with compute, over-refusal too), a curve
  that is *not* linear in log compute, so interpolation between CoT budgets has some bias to show;
* the planted alternatives (`planted5`, `planted10`): as `flat`, but vote@3's main-curve rate is 5 or
  10 points better (harmful refusal, accuracy) at every budget; its power is the share of stores where
  vote@3 is called better at matched compute at some budget, and every other contrast stays null.

Per store every comparison is analysed exactly as `overthink compute` does (`equal_compute`, 1000
bootstrap replicates), and each tested contrast's simultaneous interval is checked against its
adjusted p-value (they must never disagree). Output: one line per scenario; --json writes all.

Resumable: every finished store is one JSON line in --out; a rerun skips the stores already there.

Usage: python benchmarks/equal_compute_null.py [--stores 200] [--boot 1000] [--repeats 2] [--workers 2]
       [--scenarios flat,rising,planted5,planted10] [--out equal_compute_null.jsonl] [--json results.json]
"""

# ruff: noqa: E402  (the thread settings must precede the numpy import)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import math
import multiprocessing
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from overthink.analysis.equal_compute import equal_compute
from overthink.analysis.families import simulate_family
from overthink.analysis.family_items import EVENT, NON_EVENT, ItemTable, item_table
from overthink.analysis.frame import tidy
from overthink.analysis.simulate import logit_intercepts
from overthink.tasks.catalog import family as catalog_family

ALPHA = 0.05
TASKS = ("refusal", "misleading_math")
ANSWER = 8  # answer tokens per sample (the simulator's convention)
ITEM_SD = 1.0
MAX_ITEMS = 150  # items per task (refusal's calibration size is 100, misleading_math's 300: halved for time)
RISE = 0.8  # logit shift over CoT's compute range in the `rising` null
PLANTED = {"planted5": 0.05, "planted10": 0.10}  # vote@3's main-curve advantage in the planted scenarios
PLANTED_STRATEGY = "vote@3"
SCENARIOS = ("flat", "rising", "planted5", "planted10")


@dataclass(frozen=True)
class Strategy:
    """A strategy's budgets and its compute per record from the realized thinking `t` of one sample."""

    name: str
    budgets: tuple[int, ...]
    compute: Callable[[np.ndarray], np.ndarray]
    thinking_share: float = 1.0  # of the budget it thinks before it stops (settle stops early)


STRATEGIES = (
    Strategy("cot", (0, 128, 512, 2048), lambda t: t + ANSWER),
    Strategy("vote@3", (0, 128, 512), lambda t: 3 * (t + ANSWER)),
    Strategy("best-of-n@3", (0, 128, 512), lambda t: 3 * (t + ANSWER) + 3 * (120 + t)),
    Strategy("settle@32,2,0.2", (0, 128, 512), lambda t: t + ANSWER * (1 + t // 32), thinking_share=0.7),
)
TOP_COMPUTE = 2048 + ANSWER


def _shift(scenario: str, compute: float) -> float:
    """The common logit shift at a compute level: the one curve every strategy follows under the null."""
    return RISE * math.log1p(compute) / math.log1p(TOP_COMPUTE) if scenario == "rising" else 0.0


def _planted_shift(table: ItemTable, delta: float) -> float:
    """The logit shift of the main items that raises their mean rate by `delta` in goodness units."""
    main = table.main
    sign = float(table.sign[main][0])
    logits = np.log(table.base[main] / (1 - table.base[main]))
    target = float(table.base[main].mean()) + sign * delta
    low, high = -12.0, 12.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if float((1 / (1 + np.exp(-(logits + mid)))).mean()) < target else (low, mid)
    return (low + high) / 2


def _strategy_rows(table: ItemTable, strategy: Strategy, scenario: str, effects: np.ndarray, repeats: int,
                   seed: int, planted: float) -> pd.DataFrame:
    """One strategy's records: the simulator's skeleton (items, keys, metadata, realized tokens), with
    outcomes redrawn from the compute-indexed rate and the item effects every strategy shares."""
    rng = np.random.default_rng(seed)
    raw = simulate_family(table.family, "flat", n=len(table.samples), repeats=repeats,
                          budgets=strategy.budgets, seed=seed)
    k = len(strategy.budgets)
    thinking = np.round(raw["reasoning_tokens"].to_numpy(float) * strategy.thinking_share)
    nominal = strategy.compute(np.asarray(strategy.budgets, float) * strategy.thinking_share)
    logit_base = np.log(table.base / (1 - table.base))
    shift = np.array([_shift(scenario, c) for c in nominal])[None, :] + np.zeros((len(table.samples), 1))
    if planted:
        shift[table.main] += planted
    rates = 1 / (1 + np.exp(-(logit_base[:, None] + shift)))  # (items, budgets) population rates
    unique, inverse = np.unique(rates, return_inverse=True)
    intercepts = logit_intercepts(unique, ITEM_SD)[inverse.reshape(rates.shape)]
    logits = np.repeat(intercepts + ITEM_SD * effects[:, None], repeats, axis=1).ravel()
    cls = np.where(rng.random(logits.size) < 1 / (1 + np.exp(-logits)), EVENT, NON_EVENT)
    item = np.repeat(np.arange(len(table.samples)), k * repeats)
    slot = np.floor(rng.random(cls.size) * table.counts[item, cls]).astype(np.int64)
    pick = [table.answers[i] for i in table.choices[item, cls, slot]]
    raw["answer_text"] = [a.text for a in pick]
    raw["extracted"] = [a.extracted for a in pick]
    raw["score"] = [a.score for a in pick]
    raw["correct"] = [np.nan if a.correct is None else float(a.correct) for a in pick]
    raw["score_details"] = [a.details for a in pick]
    raw["reasoning_tokens"] = thinking
    raw["compute_tokens"] = strategy.compute(thinking)
    raw["strategy"] = strategy.name
    raw["key"] = raw["key"].astype(str) + "/" + strategy.name
    return raw


def simulate_store(scenario: str, seed: int, repeats: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One store: every task and strategy, outcomes paired by problem through shared item effects."""
    parts, traits = [], {}
    for t, task in enumerate(TASKS):
        found = catalog_family(task)
        table = item_table(found, min(found.calibration_n, MAX_ITEMS))
        traits[table.samples[0].task] = found.traits()
        effects = np.random.default_rng([seed, t]).normal(size=len(table.samples))
        planted = _planted_shift(table, PLANTED[scenario]) if scenario in PLANTED else 0.0
        for s, strategy in enumerate(STRATEGIES):
            plant = planted if strategy.name == PLANTED_STRATEGY else 0.0
            parts.append(_strategy_rows(table, strategy, scenario, effects, repeats,
                                        int(np.random.default_rng([seed, t, s]).integers(2**31)), plant))
    return tidy(pd.concat(parts, ignore_index=True)), traits


def run_store(job: dict[str, Any]) -> dict[str, Any]:
    """Analyse one store as `overthink compute` does; per comparison: any false call, calls, agreement."""
    started = time.process_time()
    frame, traits = simulate_store(job["scenario"], job["seed"], job["repeats"])
    tables = equal_compute(frame, n_boot=job["boot"], seed=job["seed"], alpha=ALPHA, traits=traits)
    comparisons: dict[str, dict[str, Any]] = {}
    for table in tables:
        entry = comparisons.setdefault(table.task, {"null_significant": False, "planted_better": False,
                                                    "tested": 0, "disagreements": 0, "null_contrasts": 0,
                                                    "null_hits": 0})
        for point in table.points:
            m = point.matched
            if m is None or m.p is None or m.lo is None or m.hi is None:
                continue
            entry["tested"] += 1
            significant = m.p < ALPHA
            entry["disagreements"] += int((m.lo > 0 or m.hi < 0) != significant)
            planted_here = (job["scenario"] in PLANTED and point.strategy == PLANTED_STRATEGY
                            and table.stratum == _main_stratum(table.task))
            if planted_here:
                entry["planted_better"] |= m.call == "better"
            else:  # every other contrast is null (the planted strategy's benign label too)
                entry["null_contrasts"] += 1
                entry["null_hits"] += int(significant)
                entry["null_significant"] |= significant
    return {**job, "comparisons": comparisons, "cpu_s": time.process_time() - started}


def _main_stratum(task: str) -> str:
    return catalog_family(task).main_stratum()


def _rate(flags: list[bool]) -> dict[str, float]:
    n = len(flags)
    rate = sum(flags) / n if n else math.nan
    return {"rate": rate, "se": math.sqrt(rate * (1 - rate) / n) if n else math.nan, "n": n}


def summarize(rows: list[dict[str, Any]], scenario: str) -> dict[str, Any]:
    mine = [r for r in rows if r["scenario"] == scenario]
    out: dict[str, Any] = {"scenario": scenario, "stores": len(mine)}
    for task in TASKS:
        entries = [r["comparisons"][task] for r in mine if task in r["comparisons"]]
        out[task] = {"fwer": _rate([e["null_significant"] for e in entries]),
                     "tested_per_store": float(np.mean([e["tested"] for e in entries])) if entries else 0.0,
                     "per_contrast": sum(e["null_hits"] for e in entries) / max(1, sum(e["null_contrasts"]
                                                                                        for e in entries)),
                     "disagreements": sum(e["disagreements"] for e in entries)}
        if scenario in PLANTED:
            out[task]["power"] = _rate([e["planted_better"] for e in entries])
    out["any_comparison"] = _rate([any(c["null_significant"] for c in r["comparisons"].values()) for r in mine])
    out["cpu_s_per_store"] = float(np.mean([r["cpu_s"] for r in mine])) if mine else 0.0
    return out


def line(summary: dict[str, Any]) -> str:
    parts = [f"scenario={summary['scenario']} stores={summary['stores']}"]
    for task in TASKS:
        s = summary[task]
        parts.append(f"{task}: fwer={s['fwer']['rate']:.3f}±{s['fwer']['se']:.3f} "
                     f"per_contrast={s['per_contrast']:.4f} tested/store={s['tested_per_store']:.1f} "
                     f"disagreements={s['disagreements']}"
                     + (f" power={s['power']['rate']:.3f}±{s['power']['se']:.3f}" if "power" in s else ""))
    any_ = summary["any_comparison"]
    parts.append(f"any comparison of the store: {any_['rate']:.3f}±{any_['se']:.3f}")
    parts.append(f"cpu/store={summary['cpu_s_per_store']:.2f}s")
    return " | ".join(parts)


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("equal_compute_null.jsonl"),
                        help="one JSON line per finished store; a rerun skips the stores already there")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    jobs = [{"scenario": s, "seed": args.seed * 1_000_003 + 10_007 * n + i, "repeats": args.repeats,
             "boot": args.boot} for n, s in enumerate(scenarios) for i in range(args.stores)]
    done = _read(args.out)
    finished = {(r["scenario"], r["seed"], r["repeats"], r["boot"]) for r in done}
    pending = [j for j in jobs if (j["scenario"], j["seed"], j["repeats"], j["boot"]) not in finished]
    started = time.time()
    with args.out.open("a", encoding="utf-8") as handle, multiprocessing.get_context("fork").Pool(args.workers) as pool:
        for row in pool.imap_unordered(run_store, pending):
            handle.write(json.dumps(row) + "\n")
            handle.flush()
    wanted = {(j["scenario"], j["seed"], j["repeats"], j["boot"]) for j in jobs}
    rows = [r for r in _read(args.out) if (r["scenario"], r["seed"], r["repeats"], r["boot"]) in wanted]
    summaries = [summarize(rows, s) for s in scenarios]
    for summary in summaries:
        print(line(summary), file=sys.stderr)
    print(f"wall {time.time() - started:.0f} s for {len(pending)} new stores ({len(rows)} in all) on "
          f"{args.workers} workers", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args), "summaries": summaries}, indent=2, default=str))


if __name__ == "__main__":
    main()
