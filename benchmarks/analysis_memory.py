"""Peak memory of `analyze`, `gate` and `report` on a store of long traces (issue 10's target: <= 500 MB).

Builds (once, then reuses) a real store through the Store API: `--records` records whose reasoning
text is `--trace-kb` kilobytes each (20,000 x 40 kB = an 0.8 GB store by default), then runs each
command as its own process and reports that process's peak resident set size (ru_maxrss of its only
child). Statistics read numeric columns only; the report fetches text for the records its sample
browser shows, so peak memory should not grow with the trace text.
Usage: python benchmarks/analysis_memory.py [--records 20000] [--trace-kb 40] [--store PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from overthink.analysis.simulate import simulate_frame
from overthink.store import Store
from overthink.types import Completion, Record, Score, Status, TokenSource, Usage, WorkKey

BUDGETS = {0: 0.8, 1024: 0.78, 4096: 0.76, 16384: 0.74}


def build(path: Path, records: int, trace_kb: int, repeats: int = 2) -> None:
    """A store of `records` simulated records with `trace_kb` kB of reasoning text each."""
    items = max(2, records // (len(BUDGETS) * repeats))
    raw = simulate_frame(BUDGETS, items, repeats, 1)
    filler = ("Let me think about this step by step. " * (trace_kb * 1024 // 38 + 1))[: trace_kb * 1024]
    rng = np.random.default_rng(0)
    with Store(path) as store:
        batch: list[Record] = []
        for row in raw.to_dict("records"):
            key = WorkKey("mem", str(row["model"]), str(row["task"]), "1", str(row["sample_id"]), str(row["budget"]),
                          "forced", "single", int(row["repeat"]))
            tokens = int(row["reasoning_tokens"])
            completion = Completion(text=f"The answer is {row['extracted']}.", reasoning=filler + str(rng.random()),
                                    usage=Usage(40, tokens + 5, tokens, TokenSource.TOKENIZER), finish_reason="stop",
                                    total_generated=tokens + 5)
            batch.append(Record(key=key, seed=int(row["seed"]), status=Status.OK, budget_kind=str(row["budget_kind"]),
                                requested_tokens=int(row["requested_tokens"]), prompt="A question " * 40,
                                target=str(row["target"]), metadata={"num_distractors": 3},
                                completion=completion, score=Score(float(row["score"]), bool(row["correct"]),
                                                                   str(row["extracted"]))))
            if len(batch) == 1000:
                store.write_many(batch)
                batch = []
        store.write_many(batch)


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one command run in a fresh wrapper process."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t, code)")
    out = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, check=True)
    kb, seconds, code = out.stdout.split()
    if int(code) not in (0, 1):
        raise RuntimeError(f"{args} exited {code}")
    return int(kb) / 1024, float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--trace-kb", type=int, default=40)
    parser.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "overthink-memory.db")
    args = parser.parse_args()
    if not args.store.exists():
        start = time.perf_counter()
        build(args.store, args.records, args.trace_kb)
        print(f"built {args.store} ({args.store.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - start:.0f} s")
    command = [sys.executable, "-m", "overthink"]
    out = Path(tempfile.gettempdir()) / "overthink-memory-report.html"
    results = {}
    for name, extra in (("analyze", ["analyze", "--json"]), ("gate", ["gate"]),
                        ("report", ["report", "--out", str(out)])):
        rss, seconds = peak_rss_mb([*command, *extra, "--store", str(args.store)])
        results[name] = {"peak_rss_mb": round(rss), "seconds": round(seconds, 1)}
        print(f"{name}: peak RSS {rss:.0f} MB, {seconds:.1f} s", flush=True)
    print("json=" + json.dumps({"records": args.records, "trace_kb": args.trace_kb, **results}))


if __name__ == "__main__":
    main()
