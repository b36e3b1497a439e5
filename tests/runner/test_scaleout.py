"""The parts of `--executor/--shards` that need no cluster: options, the fingerprint, one shard run in
this process (its own store, resumable, the fault hook), and the one-line errors of bad combinations
and missing packages (real `overthink` processes, so the exit code and stderr are the user's)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from overthink.config import ExperimentConfig, validate_config
from overthink.errors import UserError
from overthink.runner.scaleout import fingerprint, parse_options, run_scaled
from overthink.runner.shard_task import KILL_ENV, KILLED_EXIT, ShardLayout, run_shard

SWEEP = ["run", "--backend", "scripted", "--n", "6", "--budgets", "0,4", "--seed", "3", "--quiet"]


def _config(store: Path, **extra: object) -> ExperimentConfig:
    return validate_config({"experiment": "scaled", "tasks": [{"name": "misleading_math", "n": 6}],
                            "models": [{"backend": "scripted", "name": "scripted"}], "budgets": ["0", "4"],
                            "seed": 3, "store": str(store), **extra})


def _overthink(*args: str, env: dict[str, str] | None = None,
               code: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m overthink ARGS`, or with `code` run first in the same process (to hide a package)."""
    command = [sys.executable, "-m", "overthink", *args] if code is None else [
        sys.executable, "-c", f"{code}\nimport sys\nsys.argv = ['overthink', *{list(args)!r}]\n"
        "from overthink.cli import main\nmain()"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ, **(env or {})))


def test_executor_options_are_typed_key_value_pairs() -> None:
    assert parse_options(["max_retries=3", "address=auto", "num_gpus=0.5", "runtime_env={working_dir: .}"]) == {
        "max_retries": 3, "address": "auto", "num_gpus": 0.5, "runtime_env": {"working_dir": "."}}
    with pytest.raises(UserError, match="is not KEY=VALUE"):
        parse_options(["max_retries"])


def test_the_fingerprint_ignores_where_a_sweep_is_stored_but_not_what_it_runs(tmp_path: Path) -> None:
    base = fingerprint(_config(tmp_path / "a.db"))
    assert fingerprint(_config(tmp_path / "b.db", shard="1/2")) == base
    assert fingerprint(_config(tmp_path / "a.db", budgets=["0", "4", "16"])) != base
    assert fingerprint(_config(tmp_path / "a.db", seed=4)) != base


def test_a_shard_runs_into_its_own_store_and_resumes_it(tmp_path: Path) -> None:
    target = tmp_path / "sweep.db"
    config = _config(target).model_dump_json()
    layout = ShardLayout(target, 2)
    first = run_shard(config, 1, 2)
    assert first.report is not None and first.finished and first.attempt == 1 and first.report.shard == "1/2"
    assert layout.store(1).is_file() and not target.exists()  # the target is the driver's, after the merge
    with sqlite3.connect(layout.store(1)) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    assert stored == first.report.written == first.report.planned > 0
    again = run_shard(config, 1, 2)
    assert again.attempt == 2 and again.report is not None and again.report.written == 0
    assert again.report.skipped == first.report.planned


def test_a_shard_with_bad_input_returns_its_message_instead_of_raising(tmp_path: Path) -> None:
    config = _config(tmp_path / "sweep.db").model_dump()
    config["tasks"][0]["name"] = "no_such_task"
    result = run_shard(json.dumps(config), 1, 2)
    assert result.report is None and result.user_error is not None and "no_such_task" in result.user_error
    assert not result.finished


def test_the_fault_hook_kills_the_shard_process_mid_way_on_its_first_attempt_only(tmp_path: Path) -> None:
    target = tmp_path / "sweep.db"
    script = (f"from overthink.runner.shard_task import run_shard\n"
              f"r = run_shard({_config(target).model_dump_json()!r}, 2, 2)\n"
              "print(r.attempt, r.report.written, r.report.skipped, r.report.planned)")
    env = dict(os.environ, **{KILL_ENV: "2:2"})
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert killed.returncode == KILLED_EXIT and killed.stdout == ""
    with sqlite3.connect(ShardLayout(target, 2).store(2)) as conn:
        kept = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    assert 2 <= kept < 12  # killed after its first groups: what was committed stays
    retried = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    attempt, written, skipped, planned = map(int, retried.stdout.split())
    assert retried.returncode == 0 and attempt == 2 and skipped == kept and kept + written == planned


def test_bad_combinations_are_one_line_errors(tmp_path: Path) -> None:
    store = tmp_path / "x.db"
    for extra, message in ((["--shards", "3"], "need --executor"), (["--executor", "dask"], "unknown --executor"),
                           (["--executor", "ray", "--shard", "1/2"], "give one or the other"),
                           (["--executor", "ray", "--shards", "0"], "at least 1"),
                           (["--executor", "ray", "--executor-option", "retries"], "KEY=VALUE")):
        result = _overthink(*SWEEP, "--store", str(store), *extra)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, extra
    assert not store.exists()


@pytest.mark.parametrize(("executor", "package", "extra"), [("ray", "ray", "ray"), ("slurm", "submitit", "slurm")])
def test_a_missing_package_says_what_to_install(tmp_path: Path, executor: str, package: str, extra: str) -> None:
    result = _overthink(*SWEEP, "--store", str(tmp_path / "x.db"), "--executor", executor,
                        code=f"import sys\nsys.modules[{package!r}] = None  # as if not installed")
    assert result.returncode == 2 and "Traceback" not in result.stderr and not (tmp_path / "x.db.shards").exists()
    assert f"pip install 'overthink[{extra}]'" in result.stderr


def test_caps_are_split_across_shards(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown --executor"):
        run_scaled(_config(tmp_path / "x.db"), "dask", 2)
    from overthink.runner.scaleout import _shard_config

    data = json.loads(_shard_config(_config(tmp_path / "x.db", max_cost=3.0, max_tokens=10), tmp_path / "x.db", 4))
    assert data["max_cost"] == 0.75 and data["max_tokens"] == 2 and data["store"] == str(tmp_path / "x.db")
