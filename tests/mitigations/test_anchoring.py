"""Example anchoring: shots from the same generator, recorded as "+Kshot", compared with zero-shot."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from overthink.analysis.frame import tidy
from overthink.analysis.simulate import simulate_frame
from overthink.cli import app
from overthink.mitigations.anchoring import compare_to_zero_shot
from overthink.prompts.shots import make_shots_of
from overthink.runner.plan import plan_groups
from overthink.tasks.misleading_math import TASK
from overthink.types import parse_label, strategy_label


def test_labels_round_trip() -> None:
    assert strategy_label("cot", 0) == "cot"
    assert strategy_label("vote@5", 3) == "vote@5+3shot"
    assert parse_label("vote@5+3shot") == ("vote@5", 3)
    assert parse_label("scheduler@64,3") == ("scheduler@64,3", 0)


def test_shots_are_other_items_with_answers_and_stable_per_item() -> None:
    samples = TASK.generate(6, 0)
    groups = plan_groups(experiment="e", model="m", task=TASK.name, task_version=TASK.version, samples=samples,
                         budgets=[], strategy="cot", repeats=1, base_seed=0)
    shots_of = make_shots_of(TASK, 0, 3)
    shots_for = lambda group: shots_of(group.sample)  # noqa: E731  (the executor's hook, SweepPlan.shots)
    for group in groups:
        shots = shots_for(group)
        assert len(shots) == 3
        for question, answer in shots:
            assert question != group.sample.prompt
            assert answer.startswith("<answer>") and answer.endswith("</answer>")
            assert TASK.score(group.sample, answer).extracted is not None
        assert shots_for(group) == shots  # same examples every time (resume, repeats)
    assert len({shots_for(g) for g in groups}) > 1  # but not the same examples for every item
    assert make_shots_of(TASK, 0, 0)(groups[0].sample) == ()


def test_run_with_shots_records_a_separate_curve(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    base = ["run", "--backend", "scripted", "--n", "3", "--budgets", "0,4", "--store", str(store), "--quiet"]
    for extra in ([], ["--shots", "2"]):
        result = CliRunner().invoke(app, [*base, *extra], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
    conn = sqlite3.connect(store)
    query = "SELECT strategy, json_extract(extra, '$.shots'), count(*) FROM records GROUP BY 1, 2"
    rows = conn.execute(query).fetchall()
    conn.close()
    assert sorted(rows) == [("cot", 0, 9), ("cot+2shot", 2, 9)]  # the backend saw 2 shots per request


def test_comparison_finds_that_anchoring_flattens_an_inverse_curve() -> None:
    zero = simulate_frame({0: 0.9, 1024: 0.8, 4096: 0.6}, 200, 2, 1, strategy="cot")
    anchored = simulate_frame({0: 0.9, 1024: 0.9, 4096: 0.88}, 200, 2, 2, strategy="cot+4shot")
    (result,) = compare_to_zero_shot(tidy(pd.concat([zero, anchored], ignore_index=True)), n_boot=300)
    assert result["shots"] == 4 and result["strategy"] == "cot" and result["n_items"] == 200
    by_budget = {p["budget"]: p for p in result["by_budget"]}
    assert abs(by_budget["0"]["improvement"]) < 0.08
    assert by_budget["4096"]["improvement"] > 0.15 and by_budget["4096"]["ci"][0] > 0
    assert result["trend_zero_shot"] < 0 and result["trend_improvement"] > 0
    assert result["trend_improvement_ci"][0] > 0


def test_no_twin_means_no_comparison() -> None:
    only = tidy(simulate_frame({0: 0.9, 1024: 0.8}, 50, 1, 1, strategy="cot+2shot"))
    assert compare_to_zero_shot(only, n_boot=200) == []


def test_a_trend_that_cannot_be_computed_prints_na_with_its_reason(tmp_path: Path) -> None:
    """One budget has no trend: `overthink anchoring` used to print "+nan → +nan" (and NaN in --json)."""
    store = tmp_path / "one-budget.db"
    base = ["run", "--backend", "scripted", "--n", "6", "--budgets", "0", "--store", str(store), "--quiet"]
    for extra in ([], ["--shots", "2"]):
        assert CliRunner().invoke(app, [*base, *extra], env={"COLUMNS": "200"}).exit_code == 0
    shown = CliRunner().invoke(app, ["anchoring", "--store", str(store), "--boot", "200"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    assert "nan" not in shown.output.lower()
    assert "Trend effect n/a (a trend needs two budgets with distinct realized lengths in both arms)" in shown.output
    as_json = CliRunner().invoke(app, ["anchoring", "--store", str(store), "--boot", "200", "--json"])
    assert "NaN" not in as_json.output
    (item,) = json.loads(as_json.output)
    assert item["trend_improvement"] is None and item["trend_note"]
