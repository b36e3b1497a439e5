"""Test-time compute strategies on the embedded model: accuracy and compute for cot, vote, best-of-n
and the scheduler, with 95% CIs by problem.

Every strategy runs as an ordinary resumable sweep (`overthink run` machinery) into one store, so a
killed measurement continues where it stopped and the store can be re-analyzed with `overthink
analyze`. The same items and seeds are used by every strategy (sample 0 of vote/best-of-n and the
scheduler's trace are the cot trace of the same seed), so comparisons are paired by problem.

Compute per record is what a stand-alone run at that budget would generate: for nested records the
thinking generated up to the budget plus this budget's own answer(s); for the scheduler its recorded
`compute` (thinking up to the stop + every probe answer). Thinking tokens are the realized reasoning
tokens (per sample for vote). The verdict line checks the issue's target for the scheduler: >= 40%
fewer thinking tokens than the best fixed cot budget at <= 1 accuracy point lower (paired CI).

Tiny smoke run (seconds):  python benchmarks/strategies.py --model tiny --n 1 --budgets 0,24 --votes 2 \
    --best-of 2 --scheduler 8,2 --store /tmp/strategies-smoke.db
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from overthink.analysis.bootstrap import build_curves
from overthink.analysis.frame import load
from overthink.analysis.metrics import Traits
from overthink.cli.resolve import run_experiment
from overthink.cli.traits import store_traits
from overthink.config import ExperimentConfig, ModelConfig, TaskConfig


def sweep(args: argparse.Namespace, strategies: list[str]) -> None:
    for task in args.tasks.split(","):
        for strategy in strategies:
            config = ExperimentConfig(
                experiment="strategies", tasks=[TaskConfig(name=task, n=args.n, seed=args.task_seed)],
                models=[ModelConfig(name=args.model, options={"n_threads": args.threads} if args.threads else {})],
                mode="forced", budgets=args.budgets.split(","), repeats=args.repeats, strategy=strategy,
                temperature=args.temperature, max_answer_tokens=args.max_answer_tokens, seed=args.seed,
                store=str(args.store),
            )
            code = run_experiment(config).exit_code
            if code:
                raise SystemExit(code)


def standalone_compute(frame: pd.DataFrame) -> pd.Series:
    """Tokens a stand-alone run at each record's budget would generate (see the module docstring)."""
    data = frame[frame["budget"] != "natural"].copy()
    answers = [sum(e.get("answer_tokens_each") or [a]) for e, a in zip(data["extra"], data["answer_tokens"],
                                                                         strict=True)]
    data["answers_all"] = answers
    data["thinking_generated"] = data["total_generated"] - data["answers_all"]
    data = data.sort_values("budget_tokens", kind="stable")
    keys = ["task", "strategy", "sample_id", "repeat"]
    data["compute"] = data.groupby(keys)["thinking_generated"].cumsum() + data["answers_all"]
    recorded = [e.get("compute") for e in data["extra"]]
    data["compute"] = [float(r) if r is not None else float(c) for r, c in zip(recorded, data["compute"],
                                                                               strict=True)]
    return data["compute"].reindex(frame.index)


def table(frame: pd.DataFrame, n_boot: int, traits: Traits) -> list[dict[str, Any]]:
    frame = frame.assign(compute=standalone_compute(frame))
    rows = []
    for curve in build_curves(frame, n_boot=n_boot, seed=0, traits=traits):
        if curve.stratum != "all":
            continue
        sub = frame[(frame["task"] == curve.task) & (frame["strategy"] == curve.strategy)]
        for i, budget in enumerate(curve.budgets):
            at = sub[sub["budget"] == budget]
            rows.append({
                "task": curve.task, "strategy": curve.strategy, "budget": budget,
                "accuracy": float(curve.values[i]), "ci": [float(curve.lo[i]), float(curve.hi[i])],
                "thinking": float(at["realized"].mean()), "compute": float(at["compute"].mean()),
                "n_items": curve.n_items,
            })
    return rows


def paired_difference(frame: pd.DataFrame, a: tuple[str, str], b: tuple[str, str], task: str,
                      n_boot: int) -> tuple[float, float, float]:
    """Accuracy of (strategy, budget) b minus a, on the items both have, with a problem-bootstrap CI."""
    def item_means(strategy: str, budget: str) -> pd.Series:
        rows = frame[(frame["task"] == task) & (frame["strategy"] == strategy) & (frame["budget"] == budget)]
        return rows.groupby("sample_id")["score"].mean()

    left, right = item_means(*a), item_means(*b)
    both = left.index.intersection(right.index)
    diff = (right[both] - left[both]).to_numpy(float)
    if diff.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(0)
    boot = diff[rng.integers(0, diff.size, size=(n_boot, diff.size))].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(diff.mean()), float(lo), float(hi)


def scheduler_verdicts(frame: pd.DataFrame, rows: list[dict[str, Any]], scheduler: str,
                       n_boot: int) -> list[dict[str, Any]]:
    out = []
    for task in sorted({r["task"] for r in rows}):
        cot = [r for r in rows if r["task"] == task and r["strategy"] == "cot"]
        sched = [r for r in rows if r["task"] == task and r["strategy"] == scheduler]
        if not cot or not sched:
            continue
        best = max(cot, key=lambda r: (r["accuracy"], -r["thinking"]))
        for row in sched:
            diff, lo, hi = paired_difference(frame, ("cot", best["budget"]), (scheduler, row["budget"]), task,
                                             n_boot)
            saving = 1 - row["thinking"] / best["thinking"] if best["thinking"] else float("nan")
            out.append({"task": task, "scheduler_budget": row["budget"], "best_cot_budget": best["budget"],
                        "thinking_saving": saving, "accuracy_difference": diff, "ci": [lo, hi],
                        "meets_target": bool(saving >= 0.4 and diff >= -0.01)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="embedded model name, 'tiny', or PATH.gguf")
    parser.add_argument("--tasks", default="misleading_math,misleading_python")
    parser.add_argument("--n", type=int, default=40, help="items per task")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--budgets", default="0,128,256,512")
    parser.add_argument("--votes", type=int, default=5, help="k of vote@k")
    parser.add_argument("--best-of", type=int, default=4, help="n of best-of-n@n")
    parser.add_argument("--scheduler", default="64,3", help="M,S of scheduler@M,S")
    parser.add_argument("--temperature", type=float, default=0.6)
    parser.add_argument("--max-answer-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--store", type=Path, default=Path("strategies.db"))
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--analyze-only", action="store_true", help="skip the sweep; read the store")
    args = parser.parse_args()
    if args.model == "default":
        from overthink.models.llamacpp.gguf import DEFAULT_MODEL

        args.model = DEFAULT_MODEL
    scheduler = f"scheduler@{args.scheduler}"
    strategies = ["cot", f"vote@{args.votes}", f"best-of-n@{args.best_of}", scheduler]
    if not args.analyze_only:
        sweep(args, strategies)
    frame = load(args.store)
    frame = frame[frame["status"] == "ok"]
    rows = table(frame, args.boot, store_traits(args.store))
    verdicts = scheduler_verdicts(frame, rows, scheduler, args.boot)
    print("| task | strategy | budget | accuracy [95% CI] | thinking tokens | total compute | items |")
    print("|---|---|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['task']} | {r['strategy']} | {r['budget']} | {r['accuracy']:.3f} "
              f"[{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] | {r['thinking']:.0f} | {r['compute']:.0f} | {r['n_items']} |")
    for v in verdicts:
        print(f"scheduler@{args.scheduler} max {v['scheduler_budget']} vs best cot {v['best_cot_budget']} "
              f"({v['task']}): {v['thinking_saving']:.0%} fewer thinking tokens, accuracy "
              f"{v['accuracy_difference']:+.3f} [{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}] "
              f"-> target {'met' if v['meets_target'] else 'not met'}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "scheduler": verdicts, "args": vars(args)}, indent=2,
                                        default=str))


if __name__ == "__main__":
    main()
