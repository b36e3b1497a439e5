"""Several strategies in one run: each is its own curve in one store, resumable as one sweep."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from overthink.config import ExperimentConfig, validate_config
from overthink.store import Store

ARGS = ["--backend", "scripted", "--model", "s", "--n", "4", "--budgets", "0,32", "--quiet", "--json"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "overthink", "run", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_two_strategies_write_their_own_records_and_resume_as_one(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    result = _run([*ARGS, "--strategy", "cot", "--strategy", "vote@3", "--store", str(store)], tmp_path)
    assert result.returncode == 0, result.stderr
    sweeps = json.loads(result.stdout)["sweeps"]
    # cot records its free natural end beside the budgets; a vote does not (each sample would need its own)
    assert [(s["strategy"], s["planned"], s["ok"]) for s in sweeps] == [("cot", 12, 12), ("vote@3", 8, 8)]
    conn = sqlite3.connect(store)
    counts = dict(((s, b), n) for s, b, n in conn.execute(
        "SELECT strategy, budget, COUNT(*) FROM records WHERE status = 'ok' GROUP BY strategy, budget"))
    conn.close()
    assert counts == {("cot", "0"): 4, ("cot", "32"): 4, ("cot", "natural"): 4, ("vote@3", "0"): 4,
                      ("vote@3", "32"): 4}
    with Store(store, create=False) as opened:
        saved = ExperimentConfig.model_validate_json(opened.get_meta("last_config") or "{}")
    assert saved.strategies == ["cot", "vote@3"]  # what `overthink resume` runs again
    again = _run([*ARGS, "--strategy", "cot", "--strategy", "vote@3", "--store", str(store)], tmp_path)
    assert [s["skipped"] for s in json.loads(again.stdout)["sweeps"]] == [12, 8]


def test_one_name_or_a_list_in_a_config_and_a_repeated_name_is_refused() -> None:
    assert validate_config({"strategy": "scheduler@64,3"}, source="t").strategies == ["scheduler@64,3"]
    assert validate_config({"strategies": ["cot", "vote@5"]}, source="t").strategies == ["cot", "vote@5"]
    assert ExperimentConfig().strategies == ["cot"]
    try:
        validate_config({"strategies": ["cot", "cot"]}, source="t")
    except Exception as exc:  # a UserError naming the field
        assert "twice" in str(exc)
    else:
        raise AssertionError("a strategy named twice was accepted")


def test_a_strategy_can_have_its_own_budgets_and_a_name_the_run_lacks_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("strategies: [cot, vote@3]\nbudgets: [0, 32]\nstrategy_budgets: {cot: [0, 32, 96, 192]}\n")
    store = tmp_path / "s.db"
    result = _run([str(config), *ARGS[:6], "--quiet", "--json", "--store", str(store)], tmp_path)
    assert result.returncode == 0, result.stderr
    conn = sqlite3.connect(store)
    budgets = {s: sorted(b for (t, b) in conn.execute("SELECT DISTINCT strategy, budget FROM records") if t == s)
               for s in ("cot", "vote@3")}
    conn.close()
    assert budgets == {"cot": ["0", "192", "32", "96", "natural"], "vote@3": ["0", "32"]}
    with Store(store, create=False) as opened:
        saved = ExperimentConfig.model_validate_json(opened.get_meta("last_config") or "{}")
    assert saved.budgets_of("cot") == ["0", "32", "96", "192"] and saved.budgets_of("vote@3") == ["0", "32"]
    wrong = tmp_path / "w.yaml"
    wrong.write_text("strategies: [cot]\nstrategy_budgets: {vote@5: [0, 64]}\n")
    refused = _run([str(wrong), "--backend", "scripted", "--store", str(tmp_path / "w.db")], tmp_path)
    assert refused.returncode == 2 and "strategy_budgets names vote@5" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "w.db").exists()
