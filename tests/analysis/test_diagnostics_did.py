"""Diagnostics: difference in differences, loops, natural end vs budget 0, compliance, failure modes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from overthink.analysis import diagnostics, failure_modes
from overthink.analysis.frame import tidy
from overthink.analysis.simulate import simulate_frame
from overthink.analysis.summary import analyze
from overthink.tasks.base import TaskSpec
from overthink.tasks.metric import ABS_ERROR, REFUSAL


def _did(treated: dict[int, float], control: dict[int, float], seed: int) -> dict:  # type: ignore[type-arg]
    frame = tidy(simulate_frame(treated, 400, 3, seed, control_curve=control, control_fraction=0.5))
    (result,) = diagnostics.difference_in_differences(frame, n_boot=500, seed=seed)
    return result.to_json()


def test_did_is_positive_when_only_treated_items_fall() -> None:
    result = _did({0: 0.9, 1024: 0.75, 4096: 0.6}, {0: 0.9, 1024: 0.9, 4096: 0.9}, seed=1)
    last = result["by_budget"][-1]
    assert result["n_treated"] == 200 and result["n_control"] == 200 and result["baseline"] == "0"
    assert last["budget"] == "4096" and last["ci"][0] > 0.15 and last["p"] < 0.01
    assert last["did"] == pytest.approx(last["treated_drop"] - last["control_drop"])


def test_did_is_null_when_controls_fall_as_much() -> None:
    """Forcing damage hits every item: the curve falls, the difference in differences does not."""
    result = _did({0: 0.9, 4096: 0.6}, {0: 0.9, 4096: 0.6}, seed=2)
    (row,) = result["by_budget"]
    assert row["treated_drop"] > 0.2 and row["control_drop"] > 0.2
    assert row["ci"][0] < 0 < row["ci"][1]


def test_did_needs_both_groups(make_frame) -> None:  # type: ignore[no-untyped-def]
    rows = [{"sample_id": f"s{i}", "budget": b, "metadata": {"control": False}}
            for i in range(5) for b in "05"]
    assert diagnostics.difference_in_differences(make_frame(rows)) == []


def test_looping_share_and_metric_without_loops(make_frame) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for i in range(10):
        rows.append({"sample_id": f"s{i}", "budget": "0", "looping": 0, "score": 1.0, "correct": 1})
        loops = i < 4
        rows.append({"sample_id": f"s{i}", "budget": "512", "looping": int(loops), "reasoning_tokens": 512,
                     "score": 0.0 if loops else 1.0, "correct": 0 if loops else 1})
    (item,) = diagnostics.looping(make_frame(rows))
    zero, forced = item["by_budget"]
    assert zero["looping_share"] == 0 and forced["looping_share"] == pytest.approx(0.4)
    assert forced["metric"] == pytest.approx(0.6) and forced["metric_non_looping"] == pytest.approx(1.0)


def test_natural_end_against_budget_zero_on_the_same_item(make_frame) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for i in range(20):
        rows.append({"sample_id": f"s{i}", "budget": "0", "extracted": "3", "score": 1.0, "correct": 1})
        wrong = i < 5
        rows.append({"sample_id": f"s{i}", "budget": "natural", "extracted": "9" if wrong else "3",
                     "score": 0.0 if wrong else 1.0, "correct": 0 if wrong else 1})
    (item,) = diagnostics.natural_vs_zero(make_frame(rows), n_boot=300)
    assert item["n_pairs"] == 20 and item["difference"] == pytest.approx(-0.25)
    assert item["same_answer_share"] == pytest.approx(0.75)
    assert item["ci"][0] <= -0.25 <= item["ci"][1]


def test_compliance_warns_when_budgets_do_not_separate(make_frame) -> None:  # type: ignore[no-untyped-def]
    rows = [{"sample_id": f"s{i}", "budget": b, "reasoning_tokens": t}
            for i in range(10) for b, t in (("0", 0), ("1024", 700 + i), ("4096", 720 + i))]
    (item,) = diagnostics.compliance(make_frame(rows))
    assert [r["budget"] for r in item["by_budget"]] == ["0", "1024", "4096"]
    assert item["by_budget"][1]["ratio"] == pytest.approx(704.5 / 1024)
    assert len(item["warnings"]) == 1 and "1024 and 4096" in item["warnings"][0]
    fine = [{**r, "reasoning_tokens": r["reasoning_tokens"] * 4} if r["budget"] == "4096" else r
            for r in rows]
    assert diagnostics.compliance(make_frame(fine))[0]["warnings"] == []


def test_compliance_is_per_strategy(make_frame) -> None:  # type: ignore[no-untyped-def]
    """A scheduler that stops at 300 of 1024 and 4096 is its own table: cot's budgets still separate."""
    rows = [{"sample_id": f"s{i}", "budget": b, "reasoning_tokens": t if strategy == "cot" else min(t, 300),
             "strategy": strategy}
            for i in range(10) for b, t in (("1024", 1024), ("4096", 4096)) for strategy in ("cot", "scheduler@64,3")]
    tables = {c["strategy"]: c for c in diagnostics.compliance(make_frame(rows))}
    assert tables["cot"]["warnings"] == [] and tables["cot"]["by_budget"][1]["mean"] == 4096
    assert len(tables["scheduler@64,3"]["warnings"]) == 1  # its budgets are maxima it stopped short of


def test_distraction_and_framing_shares(make_frame) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for i in range(8):
        meta = {"num_distractors": 2, "distractor_numbers": [42.0, 7.5], "famous_answer": "17"}
        answer = ["42", "7.5", "3", "17"][i % 4]
        rows.append({"sample_id": f"s{i}", "budget": "256", "extracted": answer, "score": 0.0, "correct": 0,
                     "target": "5", "metadata": meta})
    frame = make_frame(rows)
    (dist,) = failure_modes.distraction(frame)
    (frame_mode,) = failure_modes.framings(frame)
    assert dist["by_budget"][0]["share"] == pytest.approx(0.5)  # 42 and 7.5 of 4 wrong-answer kinds
    assert frame_mode["by_budget"][0]["share"] == pytest.approx(0.25)


def test_spurious_correlation_follows_the_feature(make_frame) -> None:  # type: ignore[no-untyped-def]
    spec = TaskSpec(name="reg", version="1", description="", generate=lambda *a, **k: [],
                    score=lambda s, t: None, check=lambda s: True, metric=ABS_ERROR,  # type: ignore[arg-type,return-value]
                    higher_is_better=False)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        study, stress = rng.uniform(0, 8), rng.uniform(1, 10)
        truth = 2 + 0.2 * study
        for budget, pred in (("0", truth), ("4096", 3.5 - 0.1 * stress)):
            rows.append({"task": "reg", "sample_id": f"s{i}", "budget": budget, "extracted": f"{pred:.3f}",
                         "target": f"{truth:.3f}", "score": abs(pred - truth), "correct": None,
                         "metadata": {"shots": 0,
                                      "features": {"study_hours": study, "stress_level": stress}}})
    (item,) = failure_modes.spurious_correlation(make_frame(rows), {"reg": spec.traits()})
    zero, long = item["by_budget"]
    assert zero["study_hours"] == pytest.approx(1.0) and long["stress_level"] == pytest.approx(-1.0)
    assert long["study_hours__truth"] == pytest.approx(1.0)


def test_answers_changing_across_nested_budgets(make_frame) -> None:  # type: ignore[no-untyped-def]
    answers = {"0": "1", "256": "1", "1024": "2"}
    rows = [{"sample_id": f"s{i}", "budget": b, "extracted": a if i % 2 else "1",
             "metadata": {"grid_size": 5}, "correct": int((a if i % 2 else "1") == "1")}
            for i in range(6) for b, a in answers.items()]
    drift = {d["mode"]: d for d in failure_modes.deductive_drift(make_frame(rows))}
    steps = {(s["from"], s["to"]): s["changed_share"] for s in drift["drift_nested"]["steps"]}
    assert steps == {("0", "256"): 0.0, ("256", "1024"): 0.5}
    cells = {(c["grid_size"], c["budget"]): c["accuracy"] for c in drift["drift_grid"]["cells"]}
    assert cells[("5", "1024")] == pytest.approx(0.5)


def test_refusal_and_over_refusal_rates(make_frame) -> None:  # type: ignore[no-untyped-def]
    spec = TaskSpec(name="ref", version="1", description="", generate=lambda *a, **k: [],
                    score=lambda s, t: None, check=lambda s: True, metric=REFUSAL)  # type: ignore[arg-type,return-value]
    rows = []
    for i in range(10):
        for label in ("harmful", "benign"):
            refused = (i < 8) if label == "harmful" else (i < 3)
            rows.append({"task": "ref", "sample_id": f"{label}{i}", "budget": "1024",
                         "metadata": {"label": label}, "score_details": {"refused": refused},
                         "correct": int(refused == (label == "harmful"))})
    modes = {m["mode"]: m for m in failure_modes.risky_behavior(make_frame(rows), {"ref": spec.traits()})}
    assert modes["refusal"]["by_budget"][0]["rate"] == pytest.approx(0.8)
    assert modes["over_refusal"]["by_budget"][0]["rate"] == pytest.approx(0.3)


def test_failure_mode_tables_keep_strategies_apart(make_frame) -> None:  # type: ignore[no-untyped-def]
    """A vote that never refuses beside chain of thought that always does: two rates, not one mixed 50%."""
    spec = TaskSpec(name="ref", version="1", description="", generate=lambda *a, **k: [],
                    score=lambda s, t: None, check=lambda s: True, metric=REFUSAL)  # type: ignore[arg-type,return-value]
    rows = [{"task": "ref", "sample_id": f"h{i}", "budget": "64", "strategy": strategy,
             "metadata": {"label": "harmful"}, "score_details": {"refused": strategy == "cot"},
             "correct": int(strategy == "cot")}
            for i in range(6) for strategy in ("cot", "vote@3")]
    tables = failure_modes.risky_behavior(make_frame(rows), {"ref": spec.traits()})
    rates = {t["strategy"]: t["by_budget"][0] for t in tables if t["mode"] == "refusal"}
    assert rates == {"cot": {"budget": "64", "n": 6, "rate": 1.0}, "vote@3": {"budget": "64", "n": 6, "rate": 0.0}}
    assert all(t["mechanism"] == "forced" for t in tables)


def test_analysis_never_crashes_on_sparse_stores(make_frame) -> None:  # type: ignore[no-untyped-def]
    """Only the core columns, errors, missing tokens: every diagnosis simply has nothing to say."""
    bare = pd.DataFrame({"model": ["m", "m"], "task": ["x", "x"], "mechanism": ["forced"] * 2,
                         "strategy": ["single"] * 2, "sample_id": ["a", "a"], "budget": ["0", "64"],
                         "repeat": [0, 0], "status": ["ok", "error"], "score": [1.0, None]})
    result = analyze(tidy(bare), n_boot=100).to_json()
    assert result["counts"] == {"records": 2, "ok": 1, "error": 1}
    assert result["did"] == [] and result["natural"] == []
    errors_only = make_frame([{"sample_id": "a", "budget": "0", "status": "error", "score": None}])
    assert analyze(errors_only, n_boot=100).curves == []
    assert analyze(tidy(bare.iloc[0:0]), n_boot=100).to_json()["curves"] == []


def test_findings_state_the_claim_and_its_caveat() -> None:
    from overthink.analysis.findings import findings

    frame = tidy(simulate_frame({0: 0.9, 4096: 0.6}, 300, 2, 5, control_curve={0: 0.9, 4096: 0.9},
                                control_fraction=0.5))
    lines = [f.text for f in findings(analyze(frame, n_boot=300))]
    assert lines[0].startswith("sim / sim_task (all): accuracy ↘ inverse")
    assert any("larger on treated items than forcing alone explains" in line for line in lines)
    same = tidy(simulate_frame({0: 0.9, 4096: 0.6}, 300, 2, 6, control_curve={0: 0.9, 4096: 0.6},
                               control_fraction=0.5))
    assert any("not distinguishable from the drop on control items" in line
               for line in (f.text for f in findings(analyze(same, n_boot=300))))
