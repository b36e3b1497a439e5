"""The end-of-run table as `overthink run` prints it (issue 16, finding 7): censored lengths are marked,
groups carry the task's own names, refusal is never pooled, and no cell prints NaN."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overthink.analysis.run_table import BudgetRow, summarize
from overthink.analysis.simulate import simulate_frame, write_store
from overthink.cli import app
from overthink.cli.run import _print_sweep
from overthink.runner.outcome import SweepReport
from overthink.store import Store
from overthink.types import TaskTraits


def _run(task: str, tmp_path: Path, *extra: str) -> str:
    store = tmp_path / f"{task}.db"
    args = ["run", "--backend", "scripted", "--task", task, "--n", "12", "--budgets", "0,16", "--store", str(store),
            "--quiet", *extra]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _header(out: str) -> str:
    return next(line for line in out.splitlines() if "budget" in line and "requested" in line)


def test_grades_groups_are_named_by_shots_not_treated_and_control(tmp_path: Path) -> None:
    """grades marks its k-shot items `control`: the table used to call them "control" and zero-shot "treated"."""
    header = _header(_run("grades", tmp_path))
    assert "shots=0" in header and "shots=8,16" in header
    assert "control" not in header and "treated" not in header


def test_refusal_table_has_no_pooled_column(tmp_path: Path) -> None:
    out = _run("refusal", tmp_path)
    header = _header(out)
    assert "harmful: refusal" in header and "benign: over-refusal" in header
    assert "│ refusal" not in header and "all" not in header  # no column over harmful and benign together
    (tmp_path / "again").mkdir()
    rows = json.loads(_run("refusal", tmp_path / "again", "--json"))["sweeps"][0]["budgets"]
    assert all(row["metric"] is None and not row["pooled"] for row in rows)
    assert all(set(row["by_group"]) == {"harmful: refusal", "benign: over-refusal"} for row in rows)


def test_grouping_follows_the_declared_traits() -> None:
    from overthink.analysis.run_table import Grouping, grouping_for

    def row(sample: str, meta: dict[str, object], score: float) -> dict[str, object]:
        return {"sample_id": sample, "budget": "0", "score": score, "status": "ok", "requested_tokens": 0,
                "reasoning_tokens": 0, "looping": 0, "metadata": meta}

    rows = [row("a", {"label": "harmful"}, 1.0), row("b", {"label": "benign"}, 0.0),
            row("c", {"label": "harmful"}, 1.0)]
    (refusal,) = summarize(rows, grouping=grouping_for(TaskTraits("refusal", "1", metric="refusal")))
    assert math.isnan(refusal.metric) and not refusal.pooled
    assert refusal.by_group["harmful: refusal"][0] == 1.0 and refusal.by_group["benign: over-refusal"][0] == 0.0
    (plain,) = summarize(rows, grouping=Grouping())
    assert plain.pooled and plain.metric == pytest.approx(2 / 3)


def test_censored_natural_lengths_are_marked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """5 of 6 natural traces hit the cap: the realized mean is the cap's, and the table says so."""
    from overthink.analysis.run_table import sweep_rows

    raw = simulate_frame({0: 0.9, 1024: 0.9}, 6, 1, 4, natural=True)
    natural = raw.index[raw["budget"] == "natural"]
    raw["extra"] = "{}"
    raw.loc[natural[:5], "extra"] = json.dumps({"censored": True})
    write_store(raw, tmp_path / "s.db")
    with Store(tmp_path / "s.db", create=False) as store:
        rows = sweep_rows(store, experiment="simulated", model="sim", task="sim_task", strategy="single")
    assert [(r.budget, r.censored, r.n_records) for r in rows] == [("0", 0, 6), ("1024", 0, 6), ("natural", 5, 6)]
    sweep = SweepReport("sim", "sim_task", "single", "accuracy", 18, 0, 18, 0, 18, 0, 0, 0, 1.0, rows=tuple(rows))
    _print_sweep(sweep, "forced", "s.db")
    out = capsys.readouterr().out
    natural_row = next(line for line in out.splitlines() if "natural" in line and "│" in line)
    assert f"{rows[-1].mean_realized:.0f}*" in natural_row
    assert "* natural: 5 of 6 traces never ended by themselves (censored at the cap)" in out


def test_an_empty_cell_prints_a_dash_not_nan(capsys: pytest.CaptureFixture[str]) -> None:
    """A budget whose every record errored has no metric, no length and no looping share."""
    nan = float("nan")
    empty = BudgetRow("4096", 4096, nan, nan, nan, nan, 0, 0, nan, 9, {"shots=0": (nan, nan, nan, 0)})
    sweep = SweepReport("m", "t", "cot", "accuracy", 9, 0, 9, 9, 0, 9, 0, 0, 1.0, rows=(empty,))
    _print_sweep(sweep, "forced", "s.db")
    out = capsys.readouterr().out
    assert "nan" not in out.lower() and "4096" in out
