"""Sweep throughput and memory of a real `overthink run` against a loopback server (issue 10).

What is measured, and why:
1. records/s of a real `overthink run --backend openai-compat --mode prompt` (a subprocess, one chat
   request per record) against our own loopback server (benchmarks/_loopback.py, in its own process:
   configurable reply size, latency and share of 500s);
2. requests/s of a bare client (asyncio + httpx.AsyncClient, the same transport the backend uses)
   sending the same number of chat requests to the same server at the same concurrency, parsing each
   reply, retrying a 500 at once. The ratio run / bare says what the orchestration (planning, prompts,
   retries, parsing, scoring, SQLite writes, progress, summary) costs on top of HTTP; issue 10's target is
   >= 0.8. It is given for the sweep itself (the run's own `elapsed_s`) and end to end (process wall
   time, with interpreter start, planning, preflight and the summary), as the median of `--rounds`
   alternations of the two (single measurements on this shared machine vary by +-30%);
3. peak RSS of the `run` process (ru_maxrss of a wrapper process's only child) at each record count,
   with replies carrying `--reply-kb` kB of reasoning: memory should be flat in the number of records
   and in the trace text, because the plan is streamed, records go to SQLite as they finish and the
   summary reads numeric columns only.
4. with `--then analyze,report`, the peak RSS and wall time of `overthink analyze --json` and
   `overthink report` (each its own process) on every store a run produced, before it is deleted: the
   same store the run wrote, so a 1M-record run also measures analysis of a 1M-record store.
Records are misleading_math items x 4 prompt budgets (0,256,1024,4096) x repeats.
Usage: python benchmarks/scale.py [--records 10000,100000] [--reply-kb 4] [--latency-ms 0]
       [--fault-rate 0] [--concurrency 64] [--rounds 3] [--then analyze,report] [--out PATH]
`--rounds 0` skips the bare client (memory-only runs: every size runs once). `--prefill 0.99` writes
ok records for 99% of each plan first (benchmarks/_prefill.py), so a 1M-record run measures a resumed
million-record sweep (full-size planning, look-ups and summary) without sending a million requests.
Prints one line per measurement and a last `json=` line; `--out` (default benchmarks/results/
scale-<time>.json, git-ignored like the other benchmarks' raw results) keeps the same document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _prefill import config_of, prefill

BUDGETS = (0, 256, 1024, 4096)
MAX_ITEMS = 2500  # misleading_math has 3000 items; 2500 x 4 budgets = 10,000 records per repeat
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WRAPPER = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
           "out = open(sys.argv[1], 'wb'); code = subprocess.run(sys.argv[2:], stdout=out).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t, code)")
FOLLOW_UPS = ("analyze", "report")  # commands `--then` may run on each store, as `overthink <name> ...`


@dataclass(frozen=True)
class Shape:
    """How a record count is made: items x budgets x repeats (the count is rounded up to fit)."""

    items: int
    repeats: int

    @classmethod
    def of(cls, records: int) -> Shape:
        items = min(MAX_ITEMS, max(1, math.ceil(records / len(BUDGETS))))
        return cls(items, math.ceil(records / (items * len(BUDGETS))))

    @property
    def records(self) -> int:
        return self.items * len(BUDGETS) * self.repeats


class Server:
    """benchmarks/_loopback.py in its own process; `url` ends in /v1."""

    def __init__(self, reply_kb: float, latency_ms: float, fault_rate: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "_loopback.py"), "--reply-kb", str(reply_kb), "--latency-ms",
             str(latency_ms), "--fault-rate", str(fault_rate)], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("port="):
            self.process.kill()
            raise RuntimeError(f"loopback server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{line.removeprefix('port=')}/v1"

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def measured(command: list[str], stdout: Path) -> tuple[int, float, int]:
    """(peak RSS in kB, wall seconds, exit code) of `command` run as the only child of a fresh wrapper."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, str(stdout), *command],
                         capture_output=True, text=True, check=True)
    kb, seconds, code = out.stdout.split()
    if int(code) not in (0, 1):
        raise RuntimeError(f"{command[2:4]} exited {code}: {out.stderr[-2000:]}")
    return int(kb), float(seconds), int(code)


def follow_up(name: str, store: Path, workdir: Path) -> dict[str, Any]:
    """Peak RSS and wall time of `overthink analyze --json` or `overthink report` on a finished store."""
    extra = ["analyze", "--json"] if name == "analyze" else ["report", "--out", str(workdir / "report.html")]
    kb, seconds, code = measured([sys.executable, "-m", "overthink", *extra, "--store", str(store)],
                                 workdir / f"{name}.out")
    return {"peak_rss_mb": round(kb / 1024), "seconds": round(seconds, 1), "exit_code": code}


def run_sweep(url: str, shape: Shape, concurrency: int, workdir: Path, then: tuple[str, ...] = (),
              prefilled: float = 0.0) -> dict[str, Any]:
    """One real `overthink run` in a fresh wrapper process: its report, wall time and peak RSS, then
    the `then` commands on the store it wrote. With `prefilled` > 0 the store first gets ok records for
    that share of the plan (benchmarks/_prefill.py) and the run resumes it; rates count what it sent."""
    store = workdir / f"scale-{shape.records}.db"
    store.unlink(missing_ok=True)
    skipped = 0
    if prefilled > 0:
        start = time.perf_counter()
        skipped = prefill(config_of(url, store, shape.items, shape.repeats, BUDGETS, concurrency), prefilled)
        print(f"prefilled {skipped} records in {time.perf_counter() - start:.0f} s", flush=True)
    report_path = workdir / f"scale-{shape.records}.json"
    command = [sys.executable, "-m", "overthink", "run", "--backend", "openai-compat", "--base-url", url,
               "--model", "m", "--mode", "prompt", "--task", "misleading_math",
               "--budgets", ",".join(map(str, BUDGETS)), "--n", str(shape.items), "--repeats", str(shape.repeats),
               "--concurrency", str(concurrency), "--store", str(store), "--quiet", "--json"]
    kb, seconds, code = measured(command, report_path)
    report = json.loads(report_path.read_text())
    sweep = report["sweeps"][0]
    if report["records"]["skipped"] != skipped:
        raise RuntimeError(f"the run skipped {report['records']['skipped']} records, {skipped} were prefilled")
    sent = shape.records - skipped
    result = {
        "records": shape.records, "items": shape.items, "repeats": shape.repeats, "exit_code": int(code),
        "ok": report["records"]["ok"], "errors": report["records"]["errors"],
        "sweep_s": round(float(sweep["elapsed_s"]), 2), "wall_s": round(float(seconds), 2),
        "prefilled": skipped, "records_per_s": round(sent / float(sweep["elapsed_s"]), 1),
        "records_per_s_wall": round(sent / float(seconds), 1),
        "peak_rss_mb": round(int(kb) / 1024), "store_mb": round(store.stat().st_size / 1e6),
    }
    for name in then:
        result[name] = follow_up(name, store, workdir)
    store.unlink()
    Path(str(store) + "-wal").unlink(missing_ok=True)
    Path(str(store) + "-shm").unlink(missing_ok=True)
    return result


async def bare_client(url: str, requests: int, concurrency: int) -> dict[str, Any]:
    """`requests` chat completions at `concurrency` in flight with plain httpx, each reply parsed."""
    body = {"model": "m", "max_tokens": 9216, "seed": 1, "temperature": 0.0, "top_p": 1.0, "messages": [
        {"role": "system", "content": "Think through the problem step by step inside <think> and </think>. " * 3},
        {"role": "user", "content": "How many apples are in the basket? " * 20}]}
    left = [requests]
    retried = [0]

    async def worker(client: httpx.AsyncClient) -> None:
        while left[0] > 0:
            left[0] -= 1
            while True:
                response = await client.post(url + "/chat/completions", json=body, timeout=600)
                if response.status_code == 200:
                    json.loads(response.content)["choices"][0]["message"]["content"].partition("</think>")
                    break
                retried[0] += 1

    async with httpx.AsyncClient() as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return {"requests": requests, "seconds": round(seconds, 2), "requests_per_s": round(requests / seconds, 1),
            "retried_500s": retried[0]}


def compare(url: str, shape: Shape, args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """`args.rounds` alternations of the bare client and `overthink run` at one size, back to back so
    the machine's noise hits both; each round with its run / bare ratios."""
    rounds: list[dict[str, Any]] = []
    for number in range(1, args.rounds + 1):
        bare = asyncio.run(bare_client(url, shape.records, args.concurrency))
        result = run_sweep(url, shape, args.concurrency, workdir, args.then if number == args.rounds else ())
        rounds.append({"bare": bare, "run": result,
                       "ratio": round(result["records_per_s"] / bare["requests_per_s"], 3),
                       "ratio_wall": round(result["records_per_s_wall"] / bare["requests_per_s"], 3)})
        print(f"round {number}: bare httpx {bare['requests']} requests in {bare['seconds']} s = "
              f"{bare['requests_per_s']} req/s ({bare['retried_500s']} 500s retried); "
              f"ratio {rounds[-1]['ratio']:.2f} (sweep), {rounds[-1]['ratio_wall']:.2f} (wall)", flush=True)
        show(result)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", default="10000,100000",
                        help="comma list of sweep sizes; the bare client sends as many requests as the first")
    parser.add_argument("--reply-kb", type=float, default=4.0, help="kB of reasoning text per reply")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="server delay before each reply")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests answered 500")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (run and bare client)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="bare client and run alternated this many times at the first size (median ratio); "
                             "0: no bare client")
    parser.add_argument("--then", type=lambda text: tuple(t for t in text.split(",") if t), default=(),
                        help=f"comma list of {', '.join(FOLLOW_UPS)}: measured on each store a run wrote")
    parser.add_argument("--prefill", type=float, default=0.0,
                        help="share of the plan written as ok records before each run outside the rounds "
                             "(a resumed sweep: full-size planning and summary, a short sweep)")
    parser.add_argument("--out", type=Path, default=None, help="where the json document is saved")
    args = parser.parse_args()
    if unknown := set(args.then) - set(FOLLOW_UPS):
        parser.error(f"--then: unknown {', '.join(sorted(unknown))}; choose from {', '.join(FOLLOW_UPS)}")
    shapes = [Shape.of(int(r)) for r in args.records.split(",") if r.strip()]
    settings: dict[str, Any] = {"reply_kb": args.reply_kb, "latency_ms": args.latency_ms,
                                "fault_rate": args.fault_rate, "concurrency": args.concurrency,
                                "prefill": args.prefill}
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()), flush=True)
    sweeps: list[dict[str, Any]] = []
    rounds: list[dict[str, Any]] = []
    with Server(args.reply_kb, args.latency_ms, args.fault_rate) as server, \
            tempfile.TemporaryDirectory(prefix="overthink-scale-") as tmp:
        if args.rounds > 0:
            rounds = compare(server.url, shapes[0], args, Path(tmp))
            sweeps.append(rounds[-1]["run"])
        for shape in shapes[1:] if rounds else shapes:
            sweeps.append(run_sweep(server.url, shape, args.concurrency, Path(tmp), args.then, args.prefill))
            show(sweeps[-1])
    document: dict[str, Any] = {**settings, "rounds": rounds, "runs": sweeps}
    if rounds:
        document["ratio"] = round(statistics.median(r["ratio"] for r in rounds), 3)
        document["ratio_wall"] = round(statistics.median(r["ratio_wall"] for r in rounds), 3)
        verdict = "meets" if document["ratio"] >= 0.8 else "BELOW"
        print(f"median ratio run / bare at {shapes[0].records} records over {len(rounds)} rounds: "
              f"{document['ratio']:.2f} (sweep), {document['ratio_wall']:.2f} (wall); {verdict} the 0.8 target",
              flush=True)
    out = args.out or RESULTS / f"scale-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": sys.argv, **document}, indent=1) + "\n")
    print(f"saved {out}")
    print("json=" + json.dumps(document))


def show(result: dict[str, Any]) -> None:
    print(f"overthink run: {result['records']} records ({result['items']} items x {len(BUDGETS)} budgets x "
          f"{result['repeats']} repeats), {result['ok']} ok, {result['errors']} errors; sweep "
          f"{result['sweep_s']} s = {result['records_per_s']} records/s; wall {result['wall_s']} s = "
          f"{result['records_per_s_wall']} records/s; peak RSS {result['peak_rss_mb']} MB; "
          f"store {result['store_mb']} MB", flush=True)
    for name in FOLLOW_UPS:
        if name in result:
            print(f"  overthink {name} on that store: peak RSS {result[name]['peak_rss_mb']} MB, "
                  f"{result[name]['seconds']} s (exit {result[name]['exit_code']})", flush=True)


if __name__ == "__main__":
    main()
