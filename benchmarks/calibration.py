"""Calibrate the verdicts and the release gate on simulated stores with every task family's real structure.

For each family of `overthink.analysis.families` and each scenario (flat, drop5, drop10, tail4), S
seeded stores are simulated and analysed as `overthink analyze` and `overthink gate` do, and per
family we report:

* gate_fpr      share of flat stores on which the gate's metric checks fail (any gated curve);
* missing_fail  share of flat stores on which a missing-data check fails (ai_risk's unparsed answers
                rise from 5% to 30% by design: there it is the check's power, not a false fail);
* headline_fpr  share of flat stores on which any curve the analysis would headline is `inverse`;
* power5/10     share of drop5 / drop10 stores on which the gate fails;
* power_tail4   share of tail4 stores (0.70, 0.80, 0.80, 0.76; 300 items) on which the gate fails;
* coverage      share of the main curve's per-budget 95% intervals (all scenarios) that contain the
                true population value (`families.true_curve`);
* size_<s>      mean cross-fitted size of the main curve's loss / mean reported (max-over-pairs) loss /
                true largest loss, per scenario.

`--margin N` adds N stores per scenario of `_margin.py`: one 300-item curve whose true loss is 0,
half the tolerance, the tolerance, the tolerance + 2 and + 10 points (blocked rate with MC SE, old
rule beside it, size), and random errors steady at 10% or rising to 30% (missing-data check).

Resumable: every finished store is one JSON line in --out, written as it finishes; a rerun skips the
(family, scenario, index) entries already there with the same settings, so a kill loses at most the
stores in flight. Two worker processes, each with single-threaded BLAS (set before numpy loads).
Results of other settings (--boot, --error-share, --seed) in the same file are kept but not mixed in.

Cost, measured on the shared 2-core machine: 0.06-0.20 CPU-seconds per store (ai_risk cheapest,
paradoxes dearest; the bootstrap is a small part, 500 or 1000 replicates cost the same within noise),
840 stores in 56 s wall on two workers, so the default 200 stores x 4 scenarios x 7 families = 5,600
stores take about 6-7 minutes (twice that if other jobs hold one of the cores).

Output: one line per family, `family=refusal gate_fpr=0.85 headline_fpr=0.25 power5=... stores=200`;
with --json, stdout is one JSON document with Monte-Carlo standard errors (the lines go to stderr).
Usage: python benchmarks/calibration.py [--families refusal,grades] [--stores 200] [--boot 1000]
       [--error-share 0.05] [--margin 400] [--out benchmarks/results/calibration.jsonl] [--json]
"""

# ruff: noqa: E402  (the thread settings must precede the numpy import)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported, here and in the (forked) workers

import argparse
import hashlib
import json
import math
import multiprocessing
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _margin import margin_jobs, margin_line, margin_summary, run_margin_store

from overthink.analysis.families import SCENARIOS, family_names, main_stratum, simulate_family, true_curve
from overthink.analysis.frame import tidy
from overthink.tasks.catalog import family as catalog_family
from overthink.types import TaskTraits

GATE_VERSION = "margin-1"  # results of an older gate rule in the same --out file are never mixed in

# ---- adapter: every call into the analysis API lives here ------------------------------------------
# summary.analyze(frame, n_boot, seed, traits) -> Analysis with .curves (Curve: .stratum, .main, .verdict (Verdict:
# .call, .ci, .p, .loss (Loss: .lower, .p), .alpha), .budgets, .lo, .hi); gate.gate_curves(curves) ->
# [GateResult(.failed)], exactly what run_gate decides on the same curves. Seeds are per store so stores
# are independent replications. `traits` are what a real store of the family declares (spec.traits()):
# analysis takes them from the caller, never from the registry.


def run_analysis(frame: pd.DataFrame, n_boot: int, seed: int, traits: dict[str, TaskTraits], *,
                 full: bool = False) -> Any:
    """The curves and verdicts `overthink analyze` computes (CLI defaults: alpha 0.05, phases on).

    `analyze` also runs the diagnostics and failure-mode tables, which no verdict reads and which
    cost half of a store's time (grades' spurious-correlation table most), so by default they are
    skipped (`with_diagnostics=False`); `full=True` runs them too (done on every index-0 store, and
    the run stops if the verdicts or intervals ever differ).
    """
    from overthink.analysis import summary

    return summary.analyze(frame, n_boot=n_boot, seed=seed, traits=traits, with_diagnostics=full)


def same_calls(fast: Any, full: Any) -> bool:
    """Do two analyses agree on every curve's stratum, verdict and interval (the adapter's self-check)?"""
    def calls(analysis: Any) -> list[tuple[str, str, list[float | None]]]:
        return [(str(c.stratum), str(c.verdict.call),
                 [None if np.isnan(x) else round(float(x), 9) for x in np.r_[c.lo, c.hi]]) for c in analysis.curves]

    return calls(fast) == calls(full)


def gate_outcome(frame: pd.DataFrame, analysis: Any, n_boot: int, seed: int, traits: dict[str, TaskTraits],
                 stratum: str, *, exact: bool = False) -> dict[str, Any]:
    """What `overthink gate` decides (CLI defaults: all budgets, per-metric tolerance, alpha 0.05,
    missing tolerance 0.05): whether it exits 1, which kind of check failed, and the main curve's
    reported loss (the max over pairs) and cross-fitted size.

    `run_gate` rebuilds the very curves `analyze` built (same records, same seed, so the same bootstrap
    replicates), so by default the gate's rule runs on the analysis's curves; `exact=True` calls
    `run_gate` itself (done on every store with index 0; the run stops if the two ever disagree).
    """
    from overthink.mitigations.gate import gate_curves, run_gate

    if exact:
        results = run_gate(frame, alpha=0.05, n_boot=n_boot, seed=seed, traits=traits)
    else:
        results = gate_curves(analysis.curves, alpha=0.05, seed=seed)
    main = next(r for r in results if r.stratum == stratum and r.check == "metric")
    return {"gate_failed": any(r.failed for r in results),
            "metric_failed": any(r.failed for r in results if r.check == "metric"),
            "missing_failed": any(r.failed for r in results if r.check != "metric"),
            "size": main.size, "worst_drop": main.worst_drop, "higher_is_better": main.higher_is_better}


def true_loss(truth: dict[str, float], higher_is_better: bool) -> float:
    """The largest true loss over budget pairs i < j (goodness units): what a size should estimate."""
    sign = 1.0 if higher_is_better else -1.0
    values = [sign * v for v in truth.values()]
    return max(values[i] - values[j] for i in range(len(values)) for j in range(i + 1, len(values)))


def headline_inverse(analysis: Any) -> bool:
    """Would the findings headline an inverse curve (any tested curve, strata included)?"""
    from overthink.analysis.findings import headline_inverse as rule

    return bool(rule(analysis))


def disagreements(analysis: Any) -> int:
    """Printed intervals whose 'excludes zero' differs from 'p < alpha' (must stay 0)."""
    count = 0
    for curve in analysis.curves:
        v = curve.verdict
        if v is None or not v.tested or v.ci is None or v.loss is None:
            continue
        count += int((v.ci[0] > 0 or v.ci[1] < 0) != (v.p < v.alpha))
        count += int((v.loss.lower > 0) != (v.loss.p < v.alpha))
    return count


def slope_inverse(analysis: Any, stratum: str) -> bool:
    """The main curve's slope test alone calls it worse (its one-sided rate, for calibration)."""
    curve = next(c for c in analysis.curves if c.stratum == stratum)
    v = curve.verdict
    if v is None or not v.tested or v.effect is None:
        return False
    sign = 1.0 if curve.metric.higher_is_better else -1.0
    return bool(v.p < v.alpha and sign * v.effect < 0)


def main_curve_intervals(analysis: Any, stratum: str) -> list[tuple[str, float, float]]:
    """(budget label, lo, hi) of the 95% interval per budget of the curve a scenario moves."""
    curve = next(c for c in analysis.curves if c.stratum == stratum)
    return [(str(b), float(lo), float(hi)) for b, lo, hi in zip(curve.budgets, curve.lo, curve.hi, strict=True)]


# ---- one store -----------------------------------------------------------------------------------

def store_seed(base: int, family: str, scenario: str, index: int) -> int:
    """A seed per store from its identity, so results do not depend on run order or resumption."""
    text = "\x1f".join(map(str, ("calibration", base, family, scenario, index)))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def run_store(job: dict[str, Any]) -> dict[str, Any]:
    """Simulate, analyse and gate one store; the JSON line the results file gets."""
    if job["family"] == "margin":
        return run_margin_store(job)
    start, cpu = time.perf_counter(), time.process_time()
    family, scenario = job["family"], job["scenario"]
    seed = store_seed(job["seed"], family, scenario, job["index"])
    task = catalog_family(family)  # built-in or plugin: whatever the family catalog holds
    traits = {family: task.traits()}
    frame = tidy(simulate_family(task, scenario, seed=seed, error_share=job["error_share"]))
    analysis = run_analysis(frame, job["boot"], seed, traits)
    if job["index"] == 0 and not same_calls(analysis, run_analysis(frame, job["boot"], seed, traits, full=True)):
        raise RuntimeError(f"{family}/{scenario}: the curve-only analysis disagrees with analyze(); "
                           "fix run_analysis in benchmarks/calibration.py")
    truth = true_curve(task, scenario)
    intervals = main_curve_intervals(analysis, main_stratum(family))
    covered = [bool(lo <= truth[b] <= hi) for b, lo, hi in intervals]
    gate = gate_outcome(frame, analysis, job["boot"], seed, traits, main_stratum(family))
    if job["index"] == 0 and gate != gate_outcome(frame, analysis, job["boot"], seed, traits, main_stratum(family),
                                                  exact=True):
        raise RuntimeError(f"{family}/{scenario}: the gate on the analysis curves disagrees with run_gate; "
                           "fix the adapter in benchmarks/calibration.py")
    return {**job, "store_seed": seed, **gate, "true_loss": true_loss(truth, gate["higher_is_better"]),
            "headline_inverse": headline_inverse(analysis), "covered": covered,
            "disagreements": disagreements(analysis),
            "slope_inverse": slope_inverse(analysis, main_stratum(family)),
            "seconds": round(time.perf_counter() - start, 4), "cpu_seconds": round(time.process_time() - cpu, 4)}


# ---- bookkeeping: resumable results, aggregation ---------------------------------------------------

def read_results(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line (a line cut short by a kill is skipped and redone)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def pending_jobs(done: list[dict[str, Any]], settings: dict[str, Any], families: list[str],
                 stores: int) -> Iterator[dict[str, Any]]:
    """Jobs not in the results yet, index-major so a partial run covers every family evenly."""
    finished = {(r["family"], r["scenario"], r["index"]) for r in done
                if all(r.get(k) == v for k, v in settings.items())}
    for index in range(stores):
        for family in families:
            for scenario in SCENARIOS:
                if (family, scenario, index) not in finished:
                    yield {"family": family, "scenario": scenario, "index": index, **settings}


def _rate(flags: list[bool]) -> dict[str, float | int | None]:
    if not flags:
        return {"rate": None, "se": None, "n": 0}
    rate = sum(flags) / len(flags)
    return {"rate": rate, "se": math.sqrt(rate * (1 - rate) / len(flags)), "n": len(flags)}


def _sizes(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Mean cross-fitted size and mean reported (max) loss of the main curve vs its true largest loss."""
    sizes = [r["size"] for r in rows if r.get("size") is not None]
    if not sizes:
        return {"size": None, "size_se": None, "max_loss": None, "true_loss": None}
    return {"size": float(np.mean(sizes)), "size_se": float(np.std(sizes, ddof=1) / math.sqrt(len(sizes)))
            if len(sizes) > 1 else None, "max_loss": float(np.mean([r["worst_drop"] for r in rows])),
            "true_loss": float(np.mean([r["true_loss"] for r in rows]))}


def summarize(rows: list[dict[str, Any]], family: str, stores: int) -> dict[str, Any]:
    """Per-family rates with Monte-Carlo standard errors (coverage: clustered by store)."""
    unique = {(r["scenario"], r["index"]): r for r in reversed(rows) if r["family"] == family}
    mine = [r for r in unique.values() if r["index"] < stores]  # first result per store wins
    by = {s: [r for r in mine if r["scenario"] == s] for s in SCENARIOS}
    shares = [float(np.mean(r["covered"])) for r in mine if r["covered"]]
    coverage = {"rate": float(np.mean(shares)) if shares else None,
                "se": float(np.std(shares, ddof=1) / math.sqrt(len(shares))) if len(shares) > 1 else None,
                "n": sum(len(r["covered"]) for r in mine)}
    return {
        "family": family, "gate_fpr": _rate([r["metric_failed"] for r in by["flat"]]),
        "missing_fail": _rate([r["missing_failed"] for r in by["flat"]]),
        "any_fail": _rate([r["gate_failed"] for r in by["flat"]]),
        "sizes": {s: _sizes(by[s]) for s in SCENARIOS},
        "headline_fpr": _rate([r["headline_inverse"] for r in by["flat"]]),
        "power5": _rate([r["metric_failed"] for r in by["drop5"]]),
        "power10": _rate([r["metric_failed"] for r in by["drop10"]]),
        "power_tail4": _rate([r["metric_failed"] for r in by["tail4"]]),
        "headline_power": {s: _rate([r["headline_inverse"] for r in by[s]]) for s in SCENARIOS if s != "flat"},
        "slope_inverse_fpr": _rate([bool(r.get("slope_inverse")) for r in by["flat"]]),
        "disagreements": int(sum(r.get("disagreements", 0) for r in mine)),
        "coverage": coverage, "coverage_by_scenario": {
            s: float(np.mean([c for r in by[s] for c in r["covered"]])) if by[s] else None for s in SCENARIOS},
        "stores": min(len(v) for v in by.values()),
        "seconds_per_store": {s: float(np.mean([r["seconds"] for r in by[s]])) if by[s] else None
                              for s in SCENARIOS},
        "cpu_seconds_per_store": {s: float(np.mean([r.get("cpu_seconds", np.nan) for r in by[s]])) if by[s]
                                  else None for s in SCENARIOS},
    }


def line(summary: dict[str, Any]) -> str:
    """The one-line form: `family=refusal gate_fpr=0.03 ... stores=200`."""
    def fmt(value: dict[str, Any]) -> str:
        return "n/a" if value["rate"] is None else f"{value['rate']:.2f}"
    keys = ("gate_fpr", "missing_fail", "headline_fpr", "power5", "power10", "power_tail4", "coverage")
    sizes = [f"size_{s}={v['size']:.4f}/max={v['max_loss']:.4f}/true={v['true_loss']:.4f}"
             for s, v in summary["sizes"].items() if s != "flat" and v["size"] is not None]
    return " ".join([f"family={summary['family']}", *(f"{k}={fmt(summary[k])}" for k in keys), *sizes,
                     f"stores={summary['stores']}", f"disagree={summary['disagreements']}"])


def run(jobs: list[dict[str, Any]], out: Path, workers: int) -> None:
    """Run the jobs on `workers` processes; append each result as one flushed, fsynced line."""
    if not jobs:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    context = multiprocessing.get_context("fork")
    with out.open("a", encoding="utf-8") as handle, context.Pool(workers) as pool:
        for done, result in enumerate(pool.imap_unordered(run_store, jobs), 1):
            handle.write(json.dumps(result) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            elapsed = time.perf_counter() - start
            eta = elapsed / done * (len(jobs) - done)
            print(f"[{done}/{len(jobs)}] {result['family']} {result['scenario']} #{result['index']} "
                  f"{result['seconds']:.2f} s; elapsed {elapsed:.0f} s, eta {eta:.0f} s", file=sys.stderr, flush=True)


def main() -> None:
    """Run the missing stores, then print the per-family summary from everything in --out."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(family_names()), help="comma-separated family names")
    parser.add_argument("--stores", type=int, default=200, help="stores per family and scenario")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap replicates (analysis and gate)")
    parser.add_argument("--error-share", type=float, default=0.0, help="hardest items erroring at the top budget")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "calibration.jsonl")
    parser.add_argument("--margin", type=int, default=0,
                        help="also run this many stores per margin scenario (true loss 0, tol/2, tol, tol+2, tol+10 "
                             "points on one 300-item curve; see _margin.py)")
    parser.add_argument("--json", action="store_true",
                        help="print the summaries with Monte-Carlo standard errors as JSON (one-liners to stderr)")
    args = parser.parse_args()
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = sorted(set(families) - set(family_names()))
    if unknown or args.stores < 1 or args.boot < 100:
        parser.error(f"families must be among {', '.join(family_names())} (unknown: {unknown}); "
                     "--stores >= 1; --boot >= 100")
    settings = {"boot": args.boot, "error_share": args.error_share, "seed": args.seed, "gate": GATE_VERSION}
    done = read_results(args.out)
    jobs = margin_jobs(done, settings, args.margin) + list(pending_jobs(done, settings, families, args.stores))
    print(f"{len(jobs)} stores to run ({args.stores} per family and scenario; results in {args.out})",
          file=sys.stderr, flush=True)
    run(jobs, args.out, args.workers)
    rows = [r for r in read_results(args.out) if all(r.get(k) == v for k, v in settings.items())]
    summaries = [summarize(rows, family, args.stores) for family in families]
    margins = margin_summary(rows, args.margin) if args.margin else []
    if args.json:  # stdout is then one JSON document; the one-liners go to stderr
        print(json.dumps({"settings": {**settings, "stores": args.stores}, "families": summaries,
                          "margin": margins}, indent=2))
    for row in margins:
        print(margin_line(row), file=sys.stderr if args.json else sys.stdout)
    for summary in summaries:
        print(line(summary), file=sys.stderr if args.json else sys.stdout)


if __name__ == "__main__":
    main()
