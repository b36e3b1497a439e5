"""Messy sweeps, measured: what a failure costs, and when the circuit breaker stops a sweep (issue 16).

The scenarios of tests/runner/test_messy_sweeps.py at a larger n, on the same real loopback HTTP server
(tests/loopback_server.py, tests/messy_server.py) with the openai-compat backend, through
`run_experiment`:

  long    forced budgets 0/1024/4096/16384 off one trace (tokenizer endpoint); 30% of the items fail
          every request only budget 16384 needs. Records per budget after the run, then after a re-run
          with the outage over (what the re-run sent, what it filled in).
  steady  a steady share (10%, 30%) of (item, budget) chat requests failing for good and slowly (0.2 s,
          a gateway timing out), retries on (6 attempts, millisecond backoff), at concurrency 16 and 48:
          breaker trips out of R runs, records missing, error records per budget.
  dead    every request failing, or 97% of them: records written before the breaker stopped the sweep,
          next to its window.

Run it with PYTHONPATH pointing at another checkout's src to measure that code instead (it uses only
run_experiment and the report). Usage:

    PYTHONPATH=src python benchmarks/messy_sweeps.py [--n 400] [--runs 5]
"""

from __future__ import annotations

import argparse
import functools
import logging
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from loopback_server import serve
from messy_server import FlakyChat, ForcingModel
from overthink.cli.resolve import run_experiment
from overthink.config import ExperimentConfig, ModelConfig, TaskConfig
from overthink.models.remote import openai_compat
from overthink.models.retry import RetryPolicy

FORCED = ["0", "1024", "4096", "16384"]


def _config(url: str, store: Path, *, mode: Literal["forced", "prompt"], budgets: list[str], n: int,
            concurrency: int, **options: object) -> ExperimentConfig:
    return ExperimentConfig(
        experiment="messy", mode=mode, budgets=budgets, store=str(store),
        tasks=[TaskConfig(name="misleading_math", n=n)],
        models=[ModelConfig(backend="openai-compat", name="m", base_urls=[url], concurrency=concurrency,
                            options=options)],
    )


def _per_budget(store: Path) -> str:
    rows = sqlite3.connect(store).execute("SELECT budget, status, COUNT(*) FROM records GROUP BY 1, 2")
    counts: dict[str, Counter[str]] = {}
    for budget, status, count in rows:
        counts.setdefault(budget, Counter())[status] = count
    order = sorted(counts, key=lambda b: (not b.isdigit(), int(b) if b.isdigit() else 0))
    return ", ".join(f"{b}: {counts[b]['ok']} ok / {counts[b]['error']} err" for b in order)


def long_budget(folder: Path, n: int) -> None:
    model, store = ForcingModel(period=3000, fail_share=0.3), folder / "long.db"
    with serve(model) as server:
        config = _config(server.url, store, mode="forced", budgets=FORCED, n=n, concurrency=8, max_attempts=1)
        started = time.perf_counter()
        run_experiment(config)
        print(f"long  n={n}: {len(model.failed)} items failed at 16384 ({time.perf_counter() - started:.1f} s)")
        print(f"      first run:  {_per_budget(store)}")
        model.broken = False
        before, answers = Counter(model.items), model.counts["answer"]
        again = run_experiment(config)
        sent = sum(1 for item, count in model.items.items() if count > before[item])
        print(f"      re-run sent {sent} items, {model.counts['answer'] - answers} answers; wrote {again.written}")
        print(f"      after:      {_per_budget(store)}")


def steady(folder: Path, n: int, runs: int, share: float, concurrency: int) -> None:
    trips, missing, errors, failing, budgets = 0, 0, 0, 0, Counter[str]()
    started = time.perf_counter()
    for seed in range(runs):
        flaky = FlakyChat(fail_share=share, seed=seed, fail_delay=0.2)
        store = folder / f"s{share}-{concurrency}-{seed}.db"
        with serve(flaky) as server:
            report = run_experiment(_config(server.url, store, mode="prompt", budgets=["0", "1024"], n=n,
                                            concurrency=concurrency, tokenizer=False))
        sweep = report.sweeps[0]
        trips += report.stop.value == "circuit_breaker"
        missing += sweep.missing
        errors += sweep.errors
        failing += len(flaky.failing)
        for (budget,) in sqlite3.connect(store).execute("SELECT budget FROM records WHERE status = 'error'"):
            budgets[budget] += 1
    print(f"steady {share:.0%} c={concurrency:<3} n={n}: breaker trips {trips}/{runs}, records missing {missing}, "
          f"error records {errors} for {failing} failing requests (by budget: {dict(sorted(budgets.items()))}) "
          f"({time.perf_counter() - started:.1f} s)")


def dead(folder: Path, n: int, share: float, concurrency: int) -> None:
    store = folder / f"dead{share}.db"
    with serve(FlakyChat(fail_share=share, seed=3)) as server:
        report = run_experiment(_config(server.url, store, mode="prompt", budgets=["0", "1024"], n=n,
                                        concurrency=concurrency, tokenizer=False, max_attempts=2))
    sweep = report.sweeps[0]
    detail = (report.stop_detail or "").split("after ", 1)[-1].split(" (", 1)[0]
    print(f"dead  {share:.0%} c={concurrency}: stopped={report.stop.value}, "
          f"{sweep.ok + sweep.errors} records written of {sweep.planned} ({detail})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400, help="items per steady run (records: 2 x n)")
    parser.add_argument("--runs", type=int, default=5, help="runs (seeds) per steady setting")
    args = parser.parse_args()
    logging.getLogger("overthink.http").setLevel(logging.ERROR)  # one warning per retry otherwise
    openai_compat.RetryPolicy = functools.partial(RetryPolicy, base_delay=0.005, max_delay=0.02)  # type: ignore[attr-defined,assignment]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        long_budget(folder, 60)
        for share in (0.1, 0.3):
            for concurrency in (16, 48):
                steady(folder, args.n, args.runs, share, concurrency)
        for share in (1.0, 0.97):
            dead(folder, 2000, share, 48)


if __name__ == "__main__":
    main()
