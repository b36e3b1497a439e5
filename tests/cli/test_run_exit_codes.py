"""Exit codes of `overthink run` / `resume` through the real console script, against real loopback servers.

0 every item ok; 1 the sweep finished but items remain errors (the summary line says how many and that a
re-run retries them); 2 bad input, including what preflight finds (a rejected key, an unknown model, an
unreachable server, a missing SDK), with one line on stderr and no store file; `--json` prints the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from loopback_server import Reply, Request, answer, error, serve


def overthink(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "80", "OPENAI_COMPAT_API_KEY": "", **env}
    return subprocess.run([sys.executable, "-m", "overthink", *args], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=120)


def remote(url: str, store: Path, *more: str) -> list[str]:
    return ["run", "--backend", "openai-compat", "--model", "m", "--base-url", url, "--mode", "prompt",
            "--budgets", "0,64", "--n", "3", "--store", str(store), "--quiet", *more]


def _refuse_some(request: Request) -> Reply:
    """Refuse (400) every request of the items whose seed is a multiple of 3 (both budgets share a seed)."""
    if request.generates and "seed" in request.body and request.body["seed"] % 3 == 0:  # not preflight's
        return error(400, "refused by the test server")
    return answer(request)


def test_items_still_in_error_exit_1_with_a_summary_line_and_resume_agrees(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    with serve(_refuse_some) as server:
        result = overthink(remote(server.url, store, "--n", "12"), tmp_path)
        refused = {r.body["seed"] for r in server.generations() if r.body.get("seed", 1) % 3 == 0}
        assert refused, "the test needs at least one refused item"
        assert result.returncode == 1, result.stderr
        line = next(x for x in result.stdout.splitlines() if "items are errors" in x)
        assert line.startswith(f"{2 * len(refused)} of 24 items are errors") and "again" in line and "retry" in line
        resumed = overthink(["resume", "--store", str(store), "--quiet", "--json"], tmp_path)
    assert resumed.returncode == 1, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["exit_code"] == 1 and report["records"]["errors"] == 2 * len(refused)


def test_a_clean_run_exits_0_and_json_holds_the_summary(tmp_path: Path) -> None:
    store = tmp_path / "ok.db"
    with serve(answer) as server:
        result = overthink(remote(server.url, store, "--json"), tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # stdout is one JSON document, no table
    assert report["stop"] == "completed" and report["records"] == {
        "planned": 6, "ok": 6, "errors": 0, "exhausted": 0, "skipped": 0, "written": 6, "missing": 0}
    sweep = report["sweeps"][0]
    assert sweep["model"] == "m" and [b["budget"] for b in sweep["budgets"]] == ["0", "64"]
    assert all(0.0 <= b["metric"] <= 1.0 and b["n_items"] == 3 for b in sweep["budgets"])
