"""The gate's margin promise, measured: "a release whose true loss is at most the tolerance is blocked at
most 5% of the time, per store", and its power beyond the tolerance.

One generic curve per store (`simulate_frame`: 300 items x 3 repeats, item difficulty sd 1 on the
logit scale) at budgets 0, 1024, 4096 with accuracy 0.80, 0.80, 0.80 - d: the true largest loss is d
(two pairs at it, 0 -> 4096 and 1024 -> 4096, the least favourable shape for a max over pairs). The
default tolerance is 0.02. Per store the gate decides as `overthink gate` does (alpha 0.05, 1,000
replicates) and, for comparison, the rule before issue 16 is applied to the same curve (the loss
significant against 0 and its point estimate beyond the tolerance). The MISSING scenarios measure
the missing-data checks (random errors, steady or rising). Used by calibration.py --margin.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

import numpy as np

TOLERANCE = 0.02
MARGINS = {"loss0": 0.0, "loss_half_tol": 0.01, "loss_tol": 0.02, "loss_tol+2": 0.04, "loss_tol+10": 0.12}
N_ITEMS, REPEATS, BASE = 300, 3, 0.80
# Missing-data checks: a flat 0.80 curve over 100 items x 1 repeat at 0/1024/4096/16384 whose records
# error at random, at the given share per budget (steady 10%: must not fail; 0 -> 30% at the end: must).
MISSING = {"errors_steady10": (0.10, 0.10, 0.10, 0.10), "errors_rise30": (0.0, 0.0, 0.0, 0.30)}
MISSING_ITEMS = 100
SCENARIOS = (*MARGINS, *MISSING)


def margin_seed(base: int, scenario: str, index: int) -> int:
    text = "\x1f".join(map(str, ("margin", base, scenario, index)))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def run_margin_store(job: dict[str, Any]) -> dict[str, Any]:
    """Simulate and gate one store of a margin scenario; the JSON line the results file gets."""
    from overthink.analysis.bootstrap import build_curves
    from overthink.analysis.frame import tidy
    from overthink.analysis.simulate import simulate_frame
    from overthink.analysis.trends import loss_results
    from overthink.mitigations.gate import gate_curves

    start = time.perf_counter()
    if job["scenario"] in MISSING:
        return _missing_store(job, start)
    drop = MARGINS[job["scenario"]]
    seed = margin_seed(job["seed"], job["scenario"], job["index"])
    frame = tidy(simulate_frame({0: BASE, 1024: BASE, 4096: BASE - drop}, N_ITEMS, REPEATS, seed))
    curves = build_curves(frame, n_boot=job["boot"], seed=seed)
    (result,) = gate_curves(curves, alpha=0.05, seed=seed)
    (old,) = loss_results(curves, 0.05, 1.0, [TOLERANCE])  # the old rule: null "loss <= 0" ...
    old_blocked = old.p < 0.05 and old.loss > TOLERANCE  # ... and the point estimate beyond the tolerance
    return {**job, "store_seed": seed, "true_loss": drop, "blocked": result.failed, "old_blocked": old_blocked,
            "size": result.size, "worst_drop": result.worst_drop, "lower": result.lower, "p": result.p,
            "seconds": round(time.perf_counter() - start, 4)}


def _missing_store(job: dict[str, Any], start: float) -> dict[str, Any]:
    from overthink.analysis.frame import tidy
    from overthink.analysis.simulate import simulate_frame
    from overthink.mitigations.gate import run_gate

    seed = margin_seed(job["seed"], job["scenario"], job["index"])
    budgets = (0, 1024, 4096, 16384)
    raw = simulate_frame(dict.fromkeys(budgets, BASE), MISSING_ITEMS, 1, seed)
    share = dict(zip(map(str, budgets), MISSING[job["scenario"]], strict=True))
    broken = np.random.default_rng(seed).random(len(raw)) < raw["budget"].map(share).to_numpy(float)
    raw = raw.assign(status=np.where(broken, "error", "ok"), score=raw["score"].where(~broken))
    results = run_gate(tidy(raw), n_boot=job["boot"], seed=seed)
    return {**job, "store_seed": seed, "blocked": any(r.failed for r in results),
            "missing_failed": any(r.failed for r in results if r.check != "metric"),
            "seconds": round(time.perf_counter() - start, 4)}


def margin_jobs(done: list[dict[str, Any]], settings: dict[str, Any], stores: int) -> list[dict[str, Any]]:
    finished = {(r["scenario"], r["index"]) for r in done
                if r.get("family") == "margin" and all(r.get(k) == v for k, v in settings.items())}
    return [{"family": "margin", "scenario": s, "index": i, **settings} for i in range(stores) for s in SCENARIOS
            if (s, i) not in finished]


def _rate(flags: list[bool]) -> tuple[float, float]:
    rate = sum(flags) / len(flags) if flags else math.nan
    return rate, math.sqrt(rate * (1 - rate) / len(flags)) if flags else math.nan


def margin_summary(rows: list[dict[str, Any]], stores: int) -> list[dict[str, Any]]:
    """Per scenario: blocked rate (new and old rule) with Monte-Carlo SE, and the size vs the max."""
    out = []
    for scenario in MISSING:
        unique = {r["index"]: r for r in reversed(rows) if r.get("family") == "margin" and r["scenario"] == scenario}
        mine = [r for i, r in unique.items() if i < stores]
        if mine:
            rate, se = _rate([r["missing_failed"] for r in mine])
            out.append({"scenario": scenario, "stores": len(mine), "missing_failed": rate, "missing_failed_se": se,
                        "blocked": _rate([r["blocked"] for r in mine])[0]})
    for scenario, drop in MARGINS.items():
        unique = {r["index"]: r for r in reversed(rows) if r.get("family") == "margin" and r["scenario"] == scenario}
        mine = [r for i, r in unique.items() if i < stores]
        if not mine:
            continue
        rate, se = _rate([r["blocked"] for r in mine])
        old, old_se = _rate([r["old_blocked"] for r in mine])
        sizes = [r["size"] for r in mine if r["size"] is not None]
        out.append({"scenario": scenario, "true_loss": drop, "stores": len(mine), "blocked": rate, "blocked_se": se,
                    "old_blocked": old, "old_blocked_se": old_se, "size": float(np.mean(sizes)),
                    "size_se": float(np.std(sizes, ddof=1) / math.sqrt(len(sizes))) if len(sizes) > 1 else math.nan,
                    "max_loss": float(np.mean([r["worst_drop"] for r in mine]))})
    return out


def margin_line(row: dict[str, Any]) -> str:
    if "missing_failed" in row:
        return (f"missing {row['scenario']:15s} missing_check_failed={row['missing_failed']:.3f}"
                f"±{row['missing_failed_se']:.3f} blocked={row['blocked']:.3f} stores={row['stores']}")
    return (f"margin {row['scenario']:12s} true_loss={row['true_loss']:.2f} blocked={row['blocked']:.3f}"
            f"±{row['blocked_se']:.3f} old_rule={row['old_blocked']:.3f}±{row['old_blocked_se']:.3f} "
            f"size={row['size']:.4f}±{row['size_se']:.4f} max_loss={row['max_loss']:.4f} stores={row['stores']}")
