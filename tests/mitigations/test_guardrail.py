"""`overthink recommend`: the smallest budget within tolerance of the best, on simulated stores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from overthink.analysis.bootstrap import build_curves
from overthink.analysis.frame import tidy
from overthink.analysis.simulate import simulate_frame
from overthink.errors import UserError
from overthink.mitigations.guardrail import recommend, recommend_curve, snippet

# accuracy climbs to 1024, is flat to 4096, then falls: 1024 is the budget a guard-rail should pick
PLATEAU = {0: 0.3, 256: 0.6, 1024: 0.9, 4096: 0.91, 16384: 0.8}


def _frame(curve: dict[int, float], seed: int = 2, n: int = 200):  # type: ignore[no-untyped-def]
    return tidy(simulate_frame(curve, n, 2, seed))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_picks_the_start_of_the_plateau(seed: int) -> None:
    (rec,) = recommend(_frame(PLATEAU, seed), tolerance=0.05, n_boot=300)
    assert rec.budget == "1024" and rec.max_reasoning_tokens == 1024
    assert rec.best_budget in {"1024", "4096"}
    assert 0.0 <= rec.loss <= 0.05
    assert rec.loss_ci[0] <= rec.loss <= rec.loss_ci[1]
    assert rec.budgets == ["0", "256", "1024"]


def test_zero_tolerance_or_ci_rule_falls_back_towards_the_best() -> None:
    frame = _frame(PLATEAU)
    (strict,) = recommend(frame, tolerance=0.0, n_boot=300)
    assert strict.budget == strict.best_budget and strict.loss == 0.0
    (point,) = recommend(frame, tolerance=0.05, n_boot=300)
    (ci,) = recommend(frame, tolerance=0.05, rule="ci", n_boot=300)
    # the CI rule never recommends a smaller budget than the point rule
    assert ci.max_reasoning_tokens >= point.max_reasoning_tokens
    assert ci.loss_ci[1] <= 0.05 or ci.budget == ci.best_budget


def test_lower_is_better_metrics_use_the_right_direction() -> None:
    frame = _frame(PLATEAU)
    curve = next(c for c in build_curves(frame[frame["budget"] != "natural"], n_boot=200) if c.stratum == "all")
    curve = replace(curve, metric=type(curve.metric)("rmse", False, 0.05, value="score"),
                    values=1.0 - curve.values,  # an error that is smallest where accuracy was largest
                    boot_values=1.0 - curve.boot_values)
    rec = recommend_curve(curve, 0.05)
    assert rec is not None and rec.budget == "1024"


def test_snippet_is_yaml_that_clamps_each_model(tmp_path: Path) -> None:
    text = snippet(recommend(_frame(PLATEAU), tolerance=0.05, n_boot=300))
    assert text.startswith("# Budget guard-rail")
    data = yaml.safe_load(text)
    (entry,) = data["budget_guardrails"]
    assert entry["model"] == "sim" and entry["task"] == "sim_task"
    assert entry["max_reasoning_tokens"] == 1024 and entry["budgets"] == ["0", "256", "1024"]
    assert isinstance(entry["confident"], bool) and len(entry["loss_ci"]) == 2


def test_cli_writes_the_snippet_and_rejects_bad_options(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from overthink.analysis.simulate import write_store
    from overthink.cli import app

    store = tmp_path / "s.db"
    write_store(simulate_frame(PLATEAU, 120, 2, 5), store)
    out = tmp_path / "guard.yaml"
    result = CliRunner().invoke(app, ["recommend", "--store", str(store), "--tolerance", "0.05", "--out", str(out),
                                      "--boot", "200"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "1024" in result.output
    assert yaml.safe_load(out.read_text())["budget_guardrails"][0]["max_reasoning_tokens"] in (1024, 4096)
    for bad in (["--rule", "vibes"], ["--tolerance", "-1"]):
        failed = CliRunner().invoke(app, ["recommend", "--store", str(store), "--out", str(out), *bad])
        assert isinstance(failed.exception, UserError)


def test_simulated_values_are_what_the_guardrail_compares() -> None:
    frame = _frame(PLATEAU)
    (rec,) = recommend(frame, tolerance=0.05, n_boot=200)
    data = frame[frame["budget"] == rec.budget]
    assert np.isclose(rec.value, data.groupby("sample_id")["score"].mean().mean(), atol=1e-6)
