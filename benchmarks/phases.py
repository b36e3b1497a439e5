"""Known-truth check of the phase detector: simulated refusal-shaped curves with planted breakpoints.

Each store is `simulate_frame` (300 items x 3 repeats, item difficulty sd 1 on the logit scale,
realized tokens scattered around each budget) with a refusal rate that rises to 2K tokens, stays flat
to 8K and falls beyond (0.55 -> 0.75 -> 0.75 -> 0.60, linear in log2 budget with budget 0 one
doubling below the smallest budget), on budget grids with and without budget 0; and flat curves
(0.75 at every budget) on the same grids. Every store is analysed as `overthink analyze` does
(`summary.analyze`, 1,000 replicates, alpha 0.05; verdicts gate the segment labels) and per scenario
we report:

* found       share of stores whose phases read improve-plateau-degrade with both breakpoints within
              a factor of 2 of the truth (2048 and 8192 tokens). Breakpoints sit at budgets, so
              "within a factor of 2" is judged on the budget grid: the breakpoint's budget is at most
              one doubling from the true one (realized tokens scatter ~2% around a budget, which would
              make a breakpoint at the neighbouring budget a coin flip on a tokens-ratio rule);
* covered     share of the stores with two breakpoints whose 95% breakpoint intervals both contain
              the true breakpoint (the realized tokens at the true budget);
* any_break   share of stores with at least one breakpoint (on flat curves: the size of the
              breakpoint-count test, nominal 5%);
* labelled    share of stores whose phases label a segment improve or degrade or are printed beside
              the verdict (flat curves: the false-label rate, the promise is <= 5%).

Rates carry Wilson 95% intervals. Two worker processes with single-threaded BLAS.
Cost, measured on the shared 2-core machine: about 0.3-0.6 s per store.

Usage: python benchmarks/phases.py [--stores 200] [--boot 1000] [--seed 1] [--workers 2]
       [--scenarios phases8_with0,flat8_with0] [--json]
"""

# ruff: noqa: E402  (the thread settings must precede the numpy import)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import hashlib
import json
import math
import multiprocessing
import sys
import time
from typing import Any

import numpy as np

GRID = (0, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
SHAPE = (0.55, 0.60, 0.65, 0.70, 0.75, 0.75, 0.75, 0.60)  # on 0..16384: rise to 2K, flat to 8K, fall
SHAPE9 = (*SHAPE[:-1], 0.675, 0.60)  # on 0..32768: the fall spread over two doublings
TRUTH = (2048, 8192)
FLAT = 0.75


def _scenario(budgets: tuple[int, ...], values: tuple[float, ...], truth: tuple[int, ...]) -> dict[str, Any]:
    return {"curve": dict(zip(budgets, values, strict=True)), "truth": truth}


SCENARIOS: dict[str, dict[str, Any]] = {
    "phases8_with0": _scenario(GRID[:8], SHAPE, TRUTH),
    "phases7_no0": _scenario(GRID[1:8], SHAPE[1:], TRUTH),
    "phases9_with0": _scenario(GRID, SHAPE9, TRUTH),
    "phases8_no0": _scenario(GRID[1:], SHAPE9[1:], TRUTH),
    "flat8_with0": _scenario(GRID[:8], (FLAT,) * 8, ()),
    "flat7_no0": _scenario(GRID[1:8], (FLAT,) * 7, ()),
}


def store_seed(base: int, scenario: str, index: int) -> int:
    """A seed per store from its identity, so results do not depend on run order or worker count."""
    text = "\x1f".join(map(str, ("phases", base, scenario, index)))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def grid_budget(curve: Any, tokens: float) -> int:
    """The budget whose realized tokens are nearest (log scale) to a breakpoint's tokens."""
    logs = np.log2(np.maximum(np.asarray(curve.tokens, dtype=float), 1.0))
    return int(curve.budgets[int(np.argmin(np.abs(logs - math.log2(max(tokens, 1.0)))))])


def judge(curve: Any, truth: tuple[int, ...]) -> dict[str, Any]:
    """What one curve's phases say against the planted truth (see the module docstring)."""
    from overthink.analysis.wording import phases_shown

    phases = curve.phases
    at = [grid_budget(curve, b.tokens) for b in phases.breakpoints]
    labelled = phases_shown(curve) or any(s.label != "plateau" for s in phases.segments)
    out: dict[str, Any] = {
        "pattern": phases.pattern, "verdict": curve.verdict.call, "breakpoints": at,
        "intervals": [[round(b.ci[0]), round(b.ci[1])] for b in phases.breakpoints],
        "step_p": list(getattr(phases, "step_p", ())),  # absent before issue 19 (old detector runs too)
        "any_break": phases.n_breakpoints > 0, "labelled": bool(labelled),
    }
    if truth:
        near = len(at) == len(truth) and all(t / 2 <= a <= 2 * t for a, t in zip(at, truth, strict=True))
        out["found"] = bool(near and phases.pattern == "improve-plateau-degrade")
        where = {str(b): float(t) for b, t in zip(curve.budgets, curve.tokens, strict=True)}
        out["two"] = len(at) == len(truth)
        out["covered"] = bool(out["two"] and all(
            b.ci[0] <= where[str(t)] <= b.ci[1] for b, t in zip(phases.breakpoints, truth, strict=True)))
    return out


def run_store(job: dict[str, Any]) -> dict[str, Any]:
    """Simulate and analyse one store (as `overthink analyze` does); judge its main curve's phases."""
    from overthink.analysis import summary
    from overthink.analysis.frame import tidy
    from overthink.analysis.simulate import simulate_frame

    start = time.perf_counter()
    spec = SCENARIOS[job["scenario"]]
    seed = store_seed(job["seed"], job["scenario"], job["index"])
    frame = tidy(simulate_frame(spec["curve"], job["items"], job["repeats"], seed))
    analysis = summary.analyze(frame, n_boot=job["boot"], seed=seed, with_diagnostics=False)
    curve = next(c for c in analysis.curves if c.stratum == "all")
    return {**job, "store_seed": seed, **judge(curve, spec["truth"]),
            "seconds": round(time.perf_counter() - start, 3)}


def wilson(hits: int, n: int, z: float = 1.96) -> list[float]:
    """Wilson 95% interval of a binomial share (sensible at 0 and 1, unlike rate +- 2 SE)."""
    if n == 0:
        return [math.nan, math.nan]
    p = hits / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (
        1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def summarize(rows: list[dict[str, Any]], scenario: str) -> dict[str, Any]:
    """Rates with Wilson intervals for one scenario."""
    mine = [r for r in rows if r["scenario"] == scenario]
    keys = ("found", "covered", "any_break", "labelled") if SCENARIOS[scenario]["truth"] else ("any_break", "labelled")
    out: dict[str, Any] = {"scenario": scenario, "budgets": sorted(SCENARIOS[scenario]["curve"]),
                           "curve": list(SCENARIOS[scenario]["curve"].values()), "stores": len(mine)}
    for key in keys:
        hits = sum(bool(r[key]) for r in mine)
        base = sum(bool(r["two"]) for r in mine) if key == "covered" else len(mine)
        out[key] = {"rate": round(hits / base, 4) if base else None, "ci": wilson(hits, base), "n": base}
    patterns: dict[str, int] = {}
    for r in mine:
        patterns[r["pattern"] or "-"] = patterns.get(r["pattern"] or "-", 0) + 1
    out["patterns"] = dict(sorted(patterns.items(), key=lambda item: -item[1]))
    out["seconds_per_store"] = round(float(np.mean([r["seconds"] for r in mine])), 3) if mine else None
    return out


def line(summary: dict[str, Any]) -> str:
    """One human-readable line per scenario."""
    parts = [f"scenario={summary['scenario']}", f"budgets={summary['budgets'][0]}..{summary['budgets'][-1]}"]
    for key in ("found", "covered", "any_break", "labelled"):
        if key in summary:
            item = summary[key]
            parts.append(f"{key}={item['rate']:.3f} [{item['ci'][0]:.3f}, {item['ci'][1]:.3f}]"
                         if item["rate"] is not None else f"{key}=n/a")
    return " ".join([*parts, f"stores={summary['stores']}"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--json", action="store_true", help="stdout is one JSON document (lines go to stderr)")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown or args.stores < 1:
        parser.error(f"unknown scenarios {unknown} (choose from {', '.join(SCENARIOS)}) or --stores < 1")
    settings = {"boot": args.boot, "items": args.items, "repeats": args.repeats, "seed": args.seed}
    jobs = [{"scenario": s, "index": i, **settings} for i in range(args.stores) for s in chosen]
    start = time.perf_counter()
    if args.workers > 1:
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            rows = pool.map(run_store, jobs, chunksize=4)
    else:
        rows = [run_store(job) for job in jobs]
    summaries = [summarize(rows, s) for s in chosen]
    out = sys.stderr if args.json else sys.stdout
    for item in summaries:
        print(line(item), file=out)
    elapsed = round(time.perf_counter() - start, 1)
    print(f"{len(jobs)} stores in {elapsed} s on {args.workers} worker(s)", file=out)
    if args.json:
        json.dump({"settings": {**settings, "stores": args.stores, "alpha": 0.05, "truth": list(TRUTH)},
                   "scenarios": summaries, "seconds": elapsed}, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
