"""`overthink run --shard K/N` as parallel processes, merged with `overthink merge`: exactly one unsharded run."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

SWEEP = ["run", "--backend", "scripted", "--n", "10", "--budgets", "0,4,16", "--repeats", "2", "--seed", "3",
         "--experiment", "sharded", "--quiet"]
COLUMNS = "key, status, score, answer_text, reasoning, seed"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "overthink", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def _rows(store: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(store) as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM records ORDER BY key").fetchall()


def test_three_shard_processes_merged_equal_one_unsharded_run(tmp_path: Path) -> None:
    reference = tmp_path / "all.db"
    processes = [_start(*SWEEP, "--store", str(reference))]
    processes += [_start(*SWEEP, "--shard", f"{k}/3", "--store", str(tmp_path / f"shard{k}.db"), "--json")
                  for k in (1, 2, 3)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], [err for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs[1:]]
    assert [r["shard"] for r in reports] == ["1/3", "2/3", "3/3"]
    assert sum(r["records"]["planned"] for r in reports) == len(_rows(reference)) == 10 * 2 * 4
    parts = [{row[0] for row in _rows(tmp_path / f"shard{k}.db")} for k in (1, 2, 3)]
    assert all(parts) and sum(len(p) for p in parts) == len(set().union(*parts))  # disjoint, none empty
    merged = tmp_path / "merged.db"
    merge = subprocess.run([sys.executable, "-m", "overthink", "merge", *(str(tmp_path / f"shard{k}.db")
                            for k in (1, 2, 3)), "--out", str(merged)], capture_output=True, text=True, timeout=300)
    assert merge.returncode == 0, merge.stderr
    assert _rows(merged) == _rows(reference)
    again = subprocess.run([sys.executable, "-m", "overthink", *SWEEP, "--shard", "2/3", "--store",
                            str(tmp_path / "shard2.db")], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 new records" in again.stdout  # the same partition again
    resumed = subprocess.run([sys.executable, "-m", "overthink", "resume", "--store", str(merged), "--quiet"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr  # the merged store knows its whole, unsharded sweep
    assert _rows(merged) == _rows(reference)
    with sqlite3.connect(merged) as conn:
        (saved,) = conn.execute("SELECT value FROM meta WHERE name = 'last_config'").fetchone()
    assert json.loads(saved)["store"] == str(merged) and json.loads(saved)["shard"] is None


def test_a_bad_shard_is_a_user_error(tmp_path: Path) -> None:
    store = tmp_path / "x.db"
    result = subprocess.run([sys.executable, "-m", "overthink", *SWEEP, "--shard", "4/3", "--store", str(store)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "K must be between 1 and N" in result.stderr and not store.exists()
