"""Bad input to `overthink run`: one line naming the problem, exit code 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "overthink", *args], cwd=cwd, capture_output=True, text=True, env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--task", "no_such_task"], "unknown task 'no_such_task'"),
        (["--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["--model", "missing/file.gguf"], "not found"),
        (["--budgets", "0,-5"], "negative"),
        (["--budgets", "0,12.5"], "not a whole number"),
        (["--budgets", "0,abc"], "not a whole number"),
        (["--budgets", "0,10000000", "--model", "tiny"], "does not fit the model's context"),
        (["--mode", "sideways"], "unknown mode"),
        (["--n", "0"], "n"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, args: list[str], needle: str) -> None:
    store = tmp_path / "out.db"
    result = _run(["run", *args, "--store", str(store)], tmp_path)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert not store.exists()


def test_foreign_store_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "foreign.db"
    store.write_text("just some text file that is not a store\n")
    result = _run(["run", "--model", "tiny", "--budgets", "0", "--n", "1", "--store", str(store)], tmp_path)
    assert result.returncode == 2
    assert "not an overthink store" in result.stderr
    assert "Traceback" not in result.stderr
    assert store.read_text() == "just some text file that is not a store\n"


def test_bad_config_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text("budgets: [0, 64]\ntemprature: 0.5\n")
    result = _run(["run", str(config), "--store", str(tmp_path / "x.db")], tmp_path)
    assert result.returncode == 2
    assert "temprature" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_malformed_samples_file_names_file_and_line(tmp_path: Path) -> None:
    samples = tmp_path / "items.jsonl"
    good = ('{"id": "a", "task": "misleading_math", "prompt": "You have a cat. Calculate how many pets you have.",'
            ' "target": "1"}')
    samples.write_text(good + "\n" + '{"id": "b"}\n')
    result = _run(["run", "--samples", str(samples), "--store", str(tmp_path / "x.db")], tmp_path)
    assert result.returncode == 2
    assert "items.jsonl:2" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_a_validator_message_reads_as_ours_without_pydantics_prefix(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text("budgets: [0, 64]\nstrategies: [cot, cot]\n")
    result = _run(["run", str(config), "--store", str(tmp_path / "x.db")], tmp_path)
    assert result.returncode == 2
    assert "name one strategy twice" in result.stderr and "Value error" not in result.stderr
    assert "Traceback" not in result.stderr
