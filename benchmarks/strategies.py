"""Test-time compute strategies on the embedded model: accuracy against compute for cot, vote, best-of-n
and the scheduler's two stopping rules, with 95% CIs by problem.

Every strategy runs as an ordinary resumable sweep (`overthink run` machinery) into one store, so a
killed measurement continues where it stopped and the store can be re-analyzed with `overthink
analyze` / `overthink compute`. The same items and seeds are used by every strategy (sample 0 of
vote/best-of-n and the scheduler's trace are the cot trace of the same seed), so comparisons are
paired by problem.

Cost axis: each record's `compute_tokens`, the one compute definition of docs/strategies.md (every
sample's realized thinking and answer, every probe's answer, the verifier's tokens). The verdict lines
check the issue's target for both early-stopping rules, `scheduler@M,S` (the last S probes agree) and
`settle@M,S,EPS` (the probes' answer distribution settles): >= 40% less compute than the best fixed cot
budget at <= 1 accuracy point lower, with the paired 95% CI of the accuracy difference (problems
resampled; repeats of one problem stay together).

`--only` runs a subset of the strategies (cot is always run: the fixed budgets are the reference), e.g.
`--only scheduler,settle` for the scheduler question alone.

Tiny smoke run (seconds):  python benchmarks/strategies.py --model tiny --n 1 --budgets 0,24 --votes 2 \
    --best-of 2 --scheduler 8,2 --settle 8,2,0.5 --store /tmp/strategies-smoke.db
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


def table(frame: pd.DataFrame, n_boot: int, traits: Traits) -> list[dict[str, Any]]:
    """Per (task, strategy, budget): accuracy [95% CI], mean realized thinking and mean compute_tokens."""
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
                "thinking": float(at["realized"].mean()), "compute": float(at["compute_tokens"].mean()),
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


def stopping_verdicts(frame: pd.DataFrame, rows: list[dict[str, Any]], rules: list[str],
                      n_boot: int) -> list[dict[str, Any]]:
    """Each early-stopping rule's budgets against the best fixed cot budget (highest accuracy, then the
    least compute): the compute it saves and the paired accuracy difference with its 95% CI."""
    out = []
    for task in sorted({r["task"] for r in rows}):
        cot = [r for r in rows if r["task"] == task and r["strategy"] == "cot"]
        if not cot:
            continue
        best = max(cot, key=lambda r: (r["accuracy"], -r["compute"]))
        for rule in rules:
            for row in (r for r in rows if r["task"] == task and r["strategy"] == rule):
                diff, lo, hi = paired_difference(frame, ("cot", best["budget"]), (rule, row["budget"]), task,
                                                 n_boot)
                saving = 1 - row["compute"] / best["compute"] if best["compute"] else float("nan")
                out.append({"task": task, "rule": rule, "budget": row["budget"], "best_cot_budget": best["budget"],
                            "compute": row["compute"], "best_cot_compute": best["compute"],
                            "compute_saving": saving, "accuracy_difference": diff, "ci": [lo, hi],
                            "half_width": (hi - lo) / 2, "n_items": row["n_items"],
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
    parser.add_argument("--settle", default="64,3,0.2", help="M,S,EPS of settle@M,S,EPS")
    parser.add_argument("--only", default="vote,best-of-n,scheduler,settle",
                        help="strategies to run besides cot (comma list of vote, best-of-n, scheduler, settle)")
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
    named = {"vote": f"vote@{args.votes}", "best-of-n": f"best-of-n@{args.best_of}",
             "scheduler": f"scheduler@{args.scheduler}", "settle": f"settle@{args.settle}"}
    chosen = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = [c for c in chosen if c not in named]
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)} (choose from {', '.join(named)})")
    strategies = ["cot", *(named[c] for c in chosen)]
    rules = [named[c] for c in ("scheduler", "settle") if c in chosen]
    if not args.analyze_only:
        sweep(args, strategies)
    frame = load(args.store)
    frame = frame[frame["status"] == "ok"]
    rows = table(frame, args.boot, store_traits(args.store))
    verdicts = stopping_verdicts(frame, rows, rules, args.boot)
    print("| task | strategy | budget | accuracy [95% CI] | thinking tokens | compute_tokens | items |")
    print("|---|---|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['task']} | {r['strategy']} | {r['budget']} | {r['accuracy']:.3f} "
              f"[{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] | {r['thinking']:.0f} | {r['compute']:.0f} | {r['n_items']} |")
    for v in verdicts:
        print(f"{v['rule']} max {v['budget']} vs best cot {v['best_cot_budget']} ({v['task']}, {v['n_items']} "
              f"items): {v['compute_saving']:.0%} less compute ({v['compute']:.0f} vs {v['best_cot_compute']:.0f}), "
              f"accuracy {v['accuracy_difference']:+.3f} [{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}] "
              f"(±{v['half_width']:.3f}) -> target {'met' if v['meets_target'] else 'not met'}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "verdicts": verdicts, "args": vars(args)}, indent=2,
                                        default=str))


if __name__ == "__main__":
    main()
