"""Output for scripts: tables printed whole when stdout is a pipe, and `--json` on the listing commands.

Every case runs the real console script with stdout piped (as `overthink models list | cat` does) and a
narrow COLUMNS, which used to wrap cells over several lines and cut names with "…".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from overthink.models.llamacpp.gguf import EMBEDDED_MODELS, cache_dir
from overthink.registry import TASKS


def _piped(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "40"}  # a narrow terminal setting must not matter when piped
    result = subprocess.run([sys.executable, "-m", "overthink", *args], cwd=cwd, capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def _line_with(text: str, needle: str) -> str:
    lines = [line for line in text.splitlines() if needle in line]
    assert len(lines) == 1, (needle, text)
    return lines[0]


def test_models_list_keeps_each_gguf_path_on_one_line(tmp_path: Path) -> None:
    out = _piped(["models", "list"], tmp_path).stdout
    assert "…" not in out
    for name, entry in EMBEDDED_MODELS.items():
        assert name in _line_with(out, str(cache_dir() / entry.filename))  # name and path on one row
    rows = json.loads(_piped(["models", "list", "--json"], tmp_path).stdout)
    assert [row["name"] for row in rows] == list(EMBEDDED_MODELS)
    assert {row["path"] for row in rows} == {str(cache_dir() / e.filename) for e in EMBEDDED_MODELS.values()}
    assert sum(row["default"] for row in rows) == 1 and all(isinstance(row["installed"], bool) for row in rows)


def test_tasks_list_prints_every_description_whole(tmp_path: Path) -> None:
    out = _piped(["tasks", "list"], tmp_path).stdout
    assert "…" not in out
    for name, spec in TASKS.items():
        assert name in _line_with(out, spec.description)
    rows = json.loads(_piped(["tasks", "list", "--json"], tmp_path).stdout)
    assert [row["name"] for row in rows] == sorted(TASKS)
    assert all(row["version"] == TASKS[row["name"]].version and row["default_n"] > 0 for row in rows)


def test_tasks_import_keeps_a_long_path_whole_and_reports_json(tmp_path: Path) -> None:
    folder = tmp_path / ("a-rather-long-folder-name-" * 4)
    folder.mkdir()
    paper = folder / "famous_paradoxes.jsonl"
    lines = [json.dumps({"prompt": f"How many rooms? ({i})", "answer": 1, "num_distractors": 0}) for i in range(3)]
    paper.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = _piped(["tasks", "import", "paper-jsonl", str(paper), "--check"], tmp_path).stdout
    assert "…" not in out and "paradoxes" in _line_with(out, str(paper))
    target = tmp_path / "items.jsonl"
    report = json.loads(_piped(["tasks", "import", "paper-jsonl", str(paper), "--check", "--json",
                                "--out", str(target)], tmp_path).stdout)
    assert report["ok"] is True and report["items"] == 3 and report["out"] == str(target)
    assert report["files"] == [{"file": str(paper), "task": "paradoxes", "items": 3,
                                "check": "shape checked (no solver for the paper's wording)"}]
    assert len(target.read_text(encoding="utf-8").splitlines()) == 3


def test_the_run_summary_table_is_whole_when_piped(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    out = _piped(["run", "--backend", "scripted", "--n", "3", "--budgets", "0,8", "--store", str(store), "--quiet"],
                 tmp_path).stdout
    assert "…" not in out
    header = _line_with(out, "realized (mean)")
    assert "requested" in header and "accuracy" in header and "looping" in header
    for budget in ("natural",):
        row = _line_with(out, f" {budget} ")
        assert row.count("[") == 3  # the overall CI and the treated/control CIs all on the budget's row
    assert f"Store: {store}" in _line_with(out, "new records")


def test_emoji_codes_in_user_text_stay_text(tmp_path: Path) -> None:
    """A store path with ":x:" in it is quoted back as typed, not turned into an emoji."""
    missing = tmp_path / "run:x:1.db"
    result = subprocess.run([sys.executable, "-m", "overthink", "analyze", "--store", str(missing)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "run:x:1.db" in result.stderr and "\u274c" not in result.stderr
