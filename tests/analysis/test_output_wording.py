"""Printed output that used to mislead at small n or with several strategies (issue 16, finding 7).

Each test reads what a user reads: `overthink analyze` on a store (the table and the findings), its
`--json`, or the findings sentences, and checks the one thing that used to be wrong.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from overthink.analysis.findings import curve_text, findings
from overthink.analysis.frame import tidy
from overthink.analysis.results import Phases, Segment
from overthink.analysis.simulate import simulate_frame, write_store
from overthink.analysis.summary import analyze
from overthink.cli import app
from overthink.cli.analysis import verdict_table
from overthink.types import TaskTraits


def _analyze_cli(store: Path, *extra: str) -> str:
    result = CliRunner().invoke(app, ["analyze", "--store", str(store), "--boot", "200", *extra],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


def _rendered(table: object) -> str:
    console = Console(file=io.StringIO(), width=250, color_system=None)
    console.print(table)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def test_an_untested_curve_prints_no_p_value(tmp_path: Path) -> None:
    """A 6-item store used to print `p 1.0000` beside `descriptive` (and `"p": 1.0` in --json)."""
    store = tmp_path / "small.db"
    write_store(simulate_frame({0: 0.9, 1024: 0.5, 4096: 0.1}, 6, 1, 1), store)
    out = _analyze_cli(store)
    assert "1.0000" not in out and "p=" not in out
    assert "not tested: only 6 common problems (a verdict needs 10)" in out
    (curve,) = json.loads(_analyze_cli(store, "--json"))["curves"]
    assert curve["verdict"]["verdict"] == "descriptive" and curve["verdict"]["p"] is None


@pytest.fixture(scope="module")
def tail_drop() -> pd.DataFrame:
    """Rises then falls at the longest budget: the loss test calls it inverse, the slope is positive
    and not significant."""
    return tidy(simulate_frame({0: 0.75, 1024: 0.86, 4096: 0.86, 16384: 0.72}, 300, 2, 3))


def test_the_verdict_names_the_test_that_made_it(tail_drop: pd.DataFrame) -> None:
    (curve,) = analyze(tail_drop, n_boot=300, with_diagnostics=False).main_curves
    assert curve.verdict is not None and (curve.verdict.call, curve.verdict.reason) == ("inverse", "loss")
    assert curve.verdict.effect is not None and curve.verdict.effect > 0 and curve.verdict.p > 0.05
    text = curve_text(curve)
    assert "inverse (loss test: 0.880 at 1024 → 0.723 at 16384, p=0.0066)" in text
    assert f"p={curve.verdict.p:.4f}, not significant" in text  # the rising slope says it does not count
    assert "the slope test did not make this call" in text
    table = _rendered(verdict_table([curve], "t"))
    assert "inverse (loss test: 0.880 at 1024 → 0.723 at 16384" in table
    assert f"{curve.verdict.p:.4f} n.s." in table


def _censored_store(tmp_path: Path) -> Path:
    """Six natural ends, five of them censored: one pair is left to compare with budget 0."""
    raw = simulate_frame({0: 0.9, 1024: 0.9}, 6, 1, 4, natural=True)
    natural = raw.index[raw["budget"] == "natural"]
    raw["extra"] = "{}"
    raw.loc[natural[:5], "extra"] = json.dumps({"censored": True})
    store = tmp_path / "censored.db"
    write_store(raw, store)
    return store


def test_natural_end_vs_budget_zero_shows_its_counts_and_no_share_on_one_pair(tmp_path: Path) -> None:
    out = _analyze_cli(_censored_store(tmp_path))
    (line,) = [x for x in out.splitlines() if x.startswith("natural end vs budget 0")]
    assert "on 1 pair of 1 problem, 5 censored left out" in line
    assert "of 1, too few for a share" in line and "%" not in line
    (finding,) = [x for x in out.splitlines() if x.startswith("- ") and "ended by themselves" in x]
    assert "5 censored left out" in finding and "100%" not in finding


def test_did_says_an_error_rose_and_names_the_groups_as_the_task_does(make_frame) -> None:  # type: ignore[no-untyped-def]
    """k-shot items whose abs error rose 0.42 -> 0.53 used to read "k-shot items fell 0.110"."""
    rows = []
    for item in range(40):
        kshot = item % 2 == 1
        meta = {"control": kshot, "shots": 8 if kshot else 0}
        for budget, error in (("0", 0.42), ("4096", 0.53 if kshot else 0.42)):
            rows.append({"sample_id": f"s{item}", "budget": budget, "reasoning_tokens": int(budget) or 1,
                         "score": error, "correct": None, "extracted": "3.0", "metadata": meta})
    traits = {"hand_task": TaskTraits("hand_task", "1", metric="abs_error", higher_is_better=False,
                                      strata=("shots",))}
    result = analyze(make_frame(rows), n_boot=200, traits=traits)
    (did,) = [f.text for f in findings(result) if f.kind == "did"]
    assert "on 20 k-shot items abs_error rose 0.110 (worse)" in did
    assert "on 20 zero-shot items abs_error did not change" in did
    assert "fell 0.110" not in did


def test_did_control_groups_carry_the_tasks_stratum_names() -> None:
    frame = tidy(simulate_frame({0: 0.9, 4096: 0.7}, 100, 1, 2, control_curve={0: 0.9, 4096: 0.9},
                                control_fraction=0.3))
    traits = {"sim_task": TaskTraits("sim_task", "1", strata=("num_distractors",))}
    (did,) = [f.text for f in findings(analyze(frame, n_boot=200, traits=traits)) if f.kind == "did"]
    assert "on 70 num_distractors=3 items accuracy fell" in did and "on 30 num_distractors=0 items" in did


def test_every_line_names_its_strategy_when_a_store_has_several(tmp_path: Path) -> None:
    strategies = ("single", "cot", "vote@3")
    parts = [simulate_frame({0: 0.9, 1024: 0.85}, 30, 1, seed, strategy=name, natural=True,
                            control_curve={0: 0.9, 1024: 0.9}, control_fraction=0.3)
             for seed, name in enumerate(strategies)]
    store = tmp_path / "three.db"
    write_store(pd.concat(parts, ignore_index=True), store)
    out = _analyze_cli(store)
    lines = [x for x in out.splitlines() if x.startswith(("DiD", "looping traces", "natural end", "- "))]
    assert len([x for x in lines if x.startswith("DiD")]) == 3
    assert len([x for x in lines if x.startswith("looping")]) == 3
    for line in lines:
        assert sum(f"(forced, {name})" in line for name in strategies) == 1, line


def test_a_curve_without_a_trend_prints_no_phase_label(tail_drop: pd.DataFrame) -> None:
    """Breakpoints on a noisy stratum are an artefact of the search, not phases of the curve."""
    (curve,) = analyze(tail_drop, n_boot=300, with_diagnostics=False).main_curves
    assert curve.verdict is not None
    phases = Phases(1, (), (Segment(0, 1000, 0.1, (0.0, 0.2), 0.01, "improve"),
                            Segment(1000, 16000, -0.1, (-0.2, 0.0), 0.01, "degrade")))
    noisy = replace(curve, verdict=replace(curve.verdict, call="noisy", reason="no significant trend"),
                    phases=phases)
    assert "phases" not in curve_text(noisy)
    assert "improve" not in _rendered(verdict_table([noisy], "t"))
    trend = replace(noisy, verdict=curve.verdict)  # the same phases beside a trend verdict are shown
    assert "phases improve-degrade" in curve_text(trend)
    assert np.isfinite(curve.values).all()


def test_refusal_diagnostics_keep_harmful_and_benign_apart(make_frame) -> None:  # type: ignore[no-untyped-def]
    """Natural end vs budget 0 and the looping table used to average refusals over both labels."""
    from overthink.analysis.diagnostics import looping, natural_vs_zero

    rows = []
    for item in range(24):
        label = "harmful" if item % 2 else "benign"
        for budget in ("0", "natural"):
            refused = label == "harmful"  # refuses every harmful prompt and no benign one
            rows.append({"sample_id": f"s{item}", "budget": budget, "metadata": {"label": label},
                         "score": float(refused), "correct": 1, "extracted": "refuse" if refused else "comply",
                         "score_details": {"refused": refused}})
    frame = make_frame(rows)
    traits = {"hand_task": TaskTraits("hand_task", "1", metric="refusal", strata=("label",))}
    pairs = {p["stratum"]: p for p in natural_vs_zero(frame, n_boot=200, traits=traits)}
    assert set(pairs) == {"label=harmful", "label=benign"}
    assert (pairs["label=harmful"]["metric"], pairs["label=harmful"]["natural"]) == ("refusal", 1.0)
    assert (pairs["label=benign"]["metric"], pairs["label=benign"]["natural"]) == ("over_refusal", 0.0)
    loops = {item["stratum"]: item for item in looping(frame, traits)}
    assert loops["label=harmful"]["by_budget"][0]["metric"] == 1.0
    assert loops["label=benign"]["by_budget"][0]["metric"] == 0.0
