"""Scale-out with real processes on real store files: parallel shards + merge, concurrent writers.

Every sweep here runs on the scripted backend (instant and deterministic), so the only thing under
test is the runner and the store: the partition, the merge rules and SQLite locking between processes.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from overthink.store.schema import STEPS

TIMING = {"created_at", "wall_time_s"}
SWEEP = ["--backend", "scripted", "--budgets", "0,4,16", "--repeats", "2", "--seed", "3", "--quiet"]


def _env() -> dict[str, str]:
    return dict(os.environ, COLUMNS="240")  # PYTHONPATH (this checkout) is inherited


def _overthink(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "overthink", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())


def _finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return out


def _records(path: Path, where: str = "") -> dict[str, dict[str, object]]:
    """Every record by key, without the columns that measure time rather than results."""
    conn = sqlite3.connect(path)
    try:
        cursor = conn.execute(f"SELECT * FROM records {where}")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    return {str(r["key"]): {k: v for k, v in r.items() if k not in TIMING} for r in rows}


def test_three_parallel_shards_merged_equal_one_unsharded_run(tmp_path: Path) -> None:
    n_items = 60
    reference = tmp_path / "all.db"
    single = _overthink("run", *SWEEP, "--n", str(n_items), "--experiment", "sharded", "--store", str(reference))
    shard = ["run", *SWEEP, "--n", str(n_items), "--experiment", "sharded"]
    shards = [_overthink(*shard, "--shard", f"{k}/3", "--store", str(tmp_path / f"shard{k}.db")) for k in (1, 2, 3)]
    for process in [single, *shards]:
        _finish(process)
    parts = [_records(tmp_path / f"shard{k}.db") for k in (1, 2, 3)]
    assert all(len(part) > 60 for part in parts)  # 120 groups x 4 records split three ways
    assert sum(len(part) for part in parts) == len({key for part in parts for key in part})  # disjoint
    merged = tmp_path / "merged.db"
    out = _finish(_overthink("merge", *(str(tmp_path / f"shard{k}.db") for k in (1, 2, 3)), "--out", str(merged)))
    assert "480 records (480 ok, 0 errors)" in " ".join(out.split())
    expected = _records(reference)
    assert len(expected) == n_items * 2 * 4
    assert _records(merged) == expected  # same keys, same values, field by field
    # a re-run of one shard on its own store finds nothing to do: the partition is the same again
    again = _finish(_overthink(*shard, "--shard", "2/3", "--store", str(tmp_path / "shard2.db")))
    assert "0 new records" in " ".join(again.split())


def _new_records(stdout: str) -> int:
    match = re.search(r"(\d+) new records", " ".join(stdout.split()))
    assert match is not None, stdout
    return int(match.group(1))


def test_run_processes_sharing_one_store_never_duplicate_or_corrupt(tmp_path: Path) -> None:
    store = tmp_path / "shared.db"
    same = ["run", *SWEEP, "--n", "600", "--experiment", "twice", "--store", str(store)]
    other = ["run", *SWEEP, "--n", "600", "--experiment", "other", "--store", str(store)]
    processes = [_overthink(*same), _overthink(*same), _overthink(*other)]  # all three create the file at once
    outputs = [_finish(p) for p in processes]
    reference = tmp_path / "reference.db"
    _finish(_overthink("run", *SWEEP, "--n", "600", "--experiment", "twice", "--store", str(reference)))
    twice = _records(store, "WHERE experiment = 'twice'")
    assert twice == _records(reference)
    # each key was written once, by whichever process finished it first; the other's copy was dropped
    assert _new_records(outputs[0]) + _new_records(outputs[1]) == len(twice) == 600 * 2 * 4
    assert _new_records(outputs[2]) == len(_records(store, "WHERE experiment = 'other'")) == 4800
    conn = sqlite3.connect(store)
    spans = dict(conn.execute("SELECT experiment, MIN(created_at) || ' ' || MAX(created_at) FROM records "
                              "GROUP BY experiment").fetchall())
    steps = conn.execute("SELECT name FROM migrations ORDER BY name").fetchall()
    conn.close()
    (a_start, a_end), (b_start, b_end) = (map(float, spans[e].split()) for e in ("twice", "other"))
    assert a_start < b_end and b_start < a_end, "the writers did not overlap; the test proved nothing"
    assert steps == sorted((step.name,) for step in STEPS)  # every schema step applied once despite the race


def test_merge_conflict_exits_2_names_the_key_and_writes_nothing(tmp_path: Path) -> None:
    for name, seed in (("a.db", "1"), ("b.db", "2")):  # other seeds: other answers for the same keys
        args = ["run", "--backend", "scripted", "--n", "3", "--budgets", "0,4", "--seed", seed, "--quiet"]
        _finish(_overthink(*args, "--store", str(tmp_path / name)))
    result = subprocess.run([sys.executable, "-m", "overthink", "merge", str(tmp_path / "a.db"),
                             str(tmp_path / "b.db"), "--out", str(tmp_path / "m.db")],
                            capture_output=True, text=True, env=_env(), timeout=120)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert re.search(r"key [0-9a-f]{32} \(experiment=default model=scripted", message), message
    assert "nothing was written" in message and "Traceback" not in message
    assert not (tmp_path / "m.db").exists()
    exists = subprocess.run([sys.executable, "-m", "overthink", "merge", str(tmp_path / "a.db"), "--out",
                             str(tmp_path / "b.db")], capture_output=True, text=True, env=_env(), timeout=120)
    assert exists.returncode == 2 and "is not one of the inputs" in " ".join(exists.stderr.split())
