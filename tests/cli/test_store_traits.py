"""Analysis reads a task by what the store declares (the `tasks` table), never by the registry.

A store of a task no registry knows (an imported log) must be read in the direction it declares;
a store written before traits were kept must still be read as the registry describes its tasks,
through the fallback the command line passes; and a declaration in the store beats the registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from overthink.analysis.families import simulate_family
from overthink.analysis.frame import load, load_traits
from overthink.analysis.metrics import metric_info
from overthink.analysis.simulate import parse_curve, simulate_frame, write_store
from overthink.analysis.summary import analyze
from overthink.cli import app
from overthink.registry import TASKS
from overthink.store import Store
from overthink.types import TaskTraits

runner = CliRunner()
RISING = "0:0.5,1024:0.65,4096:0.8"  # the score rises with budget: better only if higher is better


def _json(args: list[str]) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json", "--boot", "200"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    parsed: dict[str, Any] = json.loads(result.output)
    return parsed


def _main(analysis: dict[str, Any]) -> dict[str, Any]:
    (curve,) = [c for c in analysis["curves"] if c["main"]]
    return curve


def _foreign_store(path: Path, traits: TaskTraits | None) -> Path:
    raw = simulate_frame(parse_curve(RISING), 200, 2, 3, task="foreign_task")
    write_store(raw, path)
    if traits is not None:
        with Store(path) as store:
            store.put_task_traits(traits)
    return path


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("traits")
    lower = TaskTraits("foreign_task", "1", metric="mean", higher_is_better=False, source="inspect")
    higher = TaskTraits("foreign_task", "1", metric="mean", higher_is_better=True, source="inspect")
    return {"lower": _foreign_store(folder / "lower.db", lower),
            "higher": _foreign_store(folder / "higher.db", higher),
            "undeclared": _foreign_store(folder / "undeclared.db", None)}


def test_a_declared_lower_is_better_task_unknown_to_the_registry_is_read_that_way(
        foreign: dict[str, Path]) -> None:
    assert "foreign_task" not in TASKS
    lower = _main(_json(["analyze", "--store", str(foreign["lower"])]))
    higher = _main(_json(["analyze", "--store", str(foreign["higher"])]))
    assert lower["metric"] == "mean" and lower["higher_is_better"] is False and lower["unit"] == "score"
    assert lower["verdict"]["verdict"] == "inverse"  # a rising score of a lower-is-better task is worse
    assert higher["higher_is_better"] is True and higher["verdict"]["verdict"] == "positive"
    assert [p["value"] for p in lower["points"]] == [p["value"] for p in higher["points"]]  # same numbers
    gate = runner.invoke(app, ["gate", "--store", str(foreign["lower"]), "--boot", "200"])
    assert gate.exit_code == 1, gate.output
    assert runner.invoke(app, ["gate", "--store", str(foreign["higher"]), "--boot", "200"]).exit_code == 0


def test_a_task_neither_store_nor_registry_knows_is_accuracy_higher_is_better(foreign: dict[str, Path]) -> None:
    curve = _main(_json(["analyze", "--store", str(foreign["undeclared"])]))
    assert curve["metric"] == "accuracy" and curve["higher_is_better"] is True
    assert curve["verdict"]["verdict"] == "positive"


def test_an_unknown_metric_name_is_averaged_as_a_score_in_the_declared_direction() -> None:
    info = metric_info(TaskTraits("t", "1", metric="f1", higher_is_better=False), "f1")
    assert (info.name, info.unit, info.higher_is_better, info.rmse) == ("f1", "score", False, False)
    assert metric_info(None, "f1").higher_is_better is True


@pytest.fixture(scope="module")
def old_ai_risk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ai_risk store as written before traits were kept: records, no `tasks` rows."""
    path = tmp_path_factory.mktemp("old") / "old.db"
    write_store(simulate_family(TASKS["ai_risk"], "drop10", seed=5), path)
    return path


def test_an_old_store_is_read_by_the_registry_through_the_cli_fallback(old_ai_risk: Path) -> None:
    assert load_traits(old_ai_risk) == {}
    via_cli = _json(["analyze", "--store", str(old_ai_risk)])
    main = _main(via_cli)
    assert main["metric"] == "matching_behavior" and main["higher_is_better"] is False
    frame = load(old_ai_risk, text=False)
    registered = analyze(frame, n_boot=200, traits={"ai_risk": TASKS["ai_risk"].traits()}).to_json()
    assert via_cli["curves"] == registered["curves"]  # exactly what the registry's traits give
    strata = {c["stratum"].split("=")[0] for c in via_cli["curves"] if not c["main"]}
    assert strata == set(TASKS["ai_risk"].strata)
    bare = _main(analyze(frame, n_boot=200).to_json())  # without the fallback: the defaults
    assert bare["metric"] == "accuracy" and bare["higher_is_better"] is True


def test_the_store_declaration_beats_the_registry(old_ai_risk: Path, tmp_path: Path) -> None:
    path = tmp_path / "declared.db"
    path.write_bytes(old_ai_risk.read_bytes())
    declared = TaskTraits("ai_risk", TASKS["ai_risk"].version, metric="matching_behavior", higher_is_better=True,
                          strata=(), cluster=TASKS["ai_risk"].cluster)
    with Store(path) as store:
        store.put_task_traits(declared)
    analysis = _json(["analyze", "--store", str(path)])
    assert _main(analysis)["higher_is_better"] is True
    assert [c for c in analysis["curves"] if not c["main"]] == []  # no strata declared, none drawn
