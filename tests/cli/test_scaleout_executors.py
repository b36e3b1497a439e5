"""`overthink run --executor ray|slurm --shards 3` on real clusters of this machine: a local Ray
cluster, and submitit's local executor (the jobs are processes, as SLURM jobs would be). One shard's
process is killed mid-way (os._exit through the fault hook, runner/shard_task.py) and must be retried
or resubmitted; the merged store must equal an unsharded run's, field by field, timings aside.

The sweeps run on the scripted backend (instant, deterministic): what is under test is the executors,
the retries, the resume and the merge. Each test takes well under two minutes on two cores.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from overthink.runner.shard_task import KILL_ENV

pytestmark = pytest.mark.slow  # a cluster start costs seconds; CI runs slow tests by default

SWEEP = ["run", "--backend", "scripted", "--n", "10", "--budgets", "0,4,16", "--repeats", "2", "--seed", "3",
         "--experiment", "scaled", "--quiet"]
RECORDS = 10 * 2 * 4  # items x repeats x (3 budgets + the natural end)
TIMING = {"created_at", "wall_time_s"}


def _overthink(*args: str, kill: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    if kill is not None:
        env[KILL_ENV] = kill
    return subprocess.run([sys.executable, "-m", "overthink", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def _records(path: Path) -> dict[str, dict[str, object]]:
    conn = sqlite3.connect(path)
    try:
        cursor = conn.execute("SELECT * FROM records")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor]
    finally:
        conn.close()
    return {str(r["key"]): {k: v for k, v in r.items() if k not in TIMING} for r in rows}


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    store = tmp_path_factory.mktemp("reference") / "all.db"
    result = _overthink(*SWEEP, "--store", str(store))
    assert result.returncode == 0, result.stderr
    records = _records(store)
    assert len(records) == RECORDS
    return records


def _scaled(store: Path, executor: str, *options: str, kill: str | None = None) -> tuple[int, dict[str, Any], str]:
    args = [*SWEEP, "--store", str(store), "--executor", executor, "--shards", "3", "--json"]
    for option in options:
        args += ["--executor-option", option]
    result = _overthink(*args, kill=kill)
    return result.returncode, json.loads(result.stdout), result.stderr


def test_ray_retries_a_killed_shard_and_merges_one_store_equal_to_an_unsharded_run(
        tmp_path: Path, unsharded: dict[str, dict[str, object]]) -> None:
    pytest.importorskip("ray")
    store = tmp_path / "sweep.db"
    code, report, stderr = _scaled(store, "ray", "max_retries=2", kill="2:4")  # shard 2 dies after one group
    assert code == 0, stderr
    assert [s["attempts"] for s in report["shards"]] == [1, 2, 1]  # Ray ran shard 2 again, the others once
    assert report["records"]["planned"] == report["records"]["ok"] == RECORDS
    assert report["records"]["skipped"] == 4  # the retry resumed the killed shard's store, it did not start over
    assert report["merge"]["records"] == RECORDS
    assert _records(store) == unsharded
    again_code, again, again_err = _scaled(store, "ray")
    assert again_code == 0 and all(s["skipped"] for s in again["shards"])  # nothing left: no cluster started
    assert "Started a local Ray instance" not in again_err and again["records"]["written"] == 0
    assert _records(store) == unsharded


def test_submitit_resubmits_only_the_failed_shard_and_a_rerun_resumes_a_lost_one(
        tmp_path: Path, unsharded: dict[str, dict[str, object]]) -> None:
    pytest.importorskip("submitit")
    store = tmp_path / "sweep.db"
    local = ("cluster=local", "poll_s=0.5", "timeout_min=10")
    code, report, stderr = _scaled(store, "slurm", *local, "max_retries=0", kill="2:4")
    assert code == 1 and "Shards 2/3 never finished" in stderr  # no retries: the killed shard is lost
    assert report["shards"][1]["failure"] and report["shards"][1]["exit_code"] is None
    assert [s["exit_code"] for s in (report["shards"][0], report["shards"][2])] == [0, 0]
    partial = _records(store)
    assert len(partial) < RECORDS and all(unsharded[key] == row for key, row in partial.items())
    # the same command again, with retries: the finished shards are skipped, shard 2 alone is submitted,
    # killed again on its first attempt of this run, resubmitted alone, and it resumes its store
    code, report, stderr = _scaled(store, "slurm", *local, "max_retries=1", kill="2:4")
    assert code == 0, stderr
    assert [s["skipped"] for s in report["shards"]] == [True, False, True]
    assert report["shards"][1]["attempts"] == 2 and "1 shards submitted" in stderr and "round 2" in stderr
    assert "3 shards submitted" not in stderr
    assert report["records"]["planned"] == report["records"]["ok"] == RECORDS
    assert _records(store) == unsharded
