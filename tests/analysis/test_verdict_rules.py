"""The rules a verdict rests on (issue 12): minimum items, common items, reasoning order, unparsed answers,
censored natural ends, units, and intervals that never disagree with their p-values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from overthink.analysis.bootstrap import build_curves
from overthink.analysis.diagnostics import difference_in_differences, natural_vs_zero
from overthink.analysis.findings import findings
from overthink.analysis.frame import tidy
from overthink.analysis.simulate import simulate_frame
from overthink.analysis.summary import analyze
from overthink.analysis.trends import annotate
from overthink.mitigations.gate import run_gate
from overthink.mitigations.guardrail import recommend
from overthink.registry import TASKS

Rows = list[dict[str, Any]]
MakeFrame = Callable[[Rows], pd.DataFrame]
# The traits a store of these registered tasks declares (tests build frames of their names by hand).
REGISTERED = {name: spec.traits() for name, spec in TASKS.items()}


def _binary_rows(n: int, budgets: dict[str, int], p: dict[str, float], seed: int, **extra: Any) -> Rows:
    rng = np.random.default_rng(seed)
    rows: Rows = []
    for item in range(n):
        for budget, tokens in budgets.items():
            ok = int(rng.random() < p[budget])
            rows.append({"sample_id": f"s{item}", "budget": budget, "reasoning_tokens": tokens, "score": float(ok),
                         "correct": ok, "extracted": "1" if ok else "2", **extra})
    return rows


def test_a_one_item_stratum_is_descriptive_and_never_fails_the_gate(make_frame: MakeFrame) -> None:
    """One item right at budget 0 and wrong at 4096 used to read p = 1/(B+1): now it is not evidence."""
    rows = _binary_rows(40, {"0": 0, "1024": 1000, "4096": 4000}, {"0": 0.8, "1024": 0.8, "4096": 0.8}, 1,
                        metadata={"kind": "big"})
    rows += [{"sample_id": "lonely", "budget": b, "reasoning_tokens": t, "score": float(b == "0"),
              "correct": int(b == "0"), "metadata": {"kind": "small"}} for b, t in (("0", 0), ("1024", 1000),
                                                                                    ("4096", 4000))]
    frame = make_frame(rows)
    frame = frame.assign(meta_grid_size=frame["meta_kind"])  # a known stratum name for unregistered tasks
    results = run_gate(frame, n_boot=300)
    small = next(r for r in results if "grid_size=small" in r.stratum)
    assert not small.gated and not small.failed and small.kind == "descriptive"
    curves = annotate(build_curves(frame, n_boot=300))
    tiny = next(c for c in curves if c.stratum == "grid_size=small")
    assert tiny.verdict is not None and tiny.verdict.call == "descriptive"


def test_items_that_error_at_one_budget_are_left_out_of_every_budget(make_frame: MakeFrame) -> None:
    """The hardest items erroring at the largest budget must not hide the drop of the others."""
    rows: Rows = []
    for item in range(100):
        hard = item < 20
        for budget, tokens in (("0", 0), ("4096", 4000)):
            if hard and budget == "4096":
                rows.append({"sample_id": f"s{item}", "budget": budget, "status": "error", "score": None,
                             "correct": None, "extracted": None, "reasoning_tokens": None})
                continue
            ok = 0 if hard else int(budget == "0" or item % 5 != 0)
            rows.append({"sample_id": f"s{item}", "budget": budget, "reasoning_tokens": tokens,
                         "score": float(ok), "correct": ok})
    (curve,) = [c for c in build_curves(make_frame(rows), n_boot=200) if c.stratum == "all"]
    assert curve.n_items == 80 and curve.n_items_total == 100
    assert curve.values.tolist() == pytest.approx([1.0, 0.8])  # common items only: a 20-point drop
    (lost,) = [m for m in curve.missing if m.total]
    assert (lost.budget, lost.error, lost.unparsed, lost.absent) == ("4096", 20, 0, 0)


def test_budgets_are_ordered_by_realized_reasoning_and_effort_rank(make_frame: MakeFrame) -> None:
    """effort:low realizing 600 tokens sits between 0 and 1024; ties between efforts go by rank."""
    budgets = {"0": 0, "1024": 1000, "4096": 4000, "effort:low": 600, "effort:high": 4000, "effort:medium": 4000}
    rows = _binary_rows(30, budgets, dict.fromkeys(budgets, 0.7), 2)
    for row in rows:
        if str(row["budget"]).startswith("effort:"):
            row["requested_tokens"] = None
    (curve,) = [c for c in build_curves(make_frame(rows), n_boot=100) if c.stratum == "all"]
    assert curve.budgets == ["0", "effort:low", "1024", "4096", "effort:medium", "effort:high"]


def _ai_risk_rows(unparsed_at_top: float, seed: int) -> Rows:
    """Flat risky share 0.40; at 4096 a share of answers has no choice letter (independent of the item)."""
    rng = np.random.default_rng(seed)
    rows: Rows = []
    for item in range(300):
        for budget, tokens in (("0", 0), ("1024", 1000), ("4096", 4000)):
            for repeat in range(2):
                risky = rng.random() < 0.4
                lost = budget == "4096" and rng.random() < unparsed_at_top
                rows.append({"task": "ai_risk", "sample_id": f"q{item}", "budget": budget, "repeat": repeat,
                             "reasoning_tokens": tokens, "score": 0.0 if lost else float(risky),
                             "correct": None if lost else int(not risky), "extracted": None if lost else "A",
                             "score_details": {"parsed": not lost}, "metadata": {"category": "power"}})
    return rows


def test_unparsed_risky_answers_are_missing_not_safe(make_frame: MakeFrame) -> None:
    result = analyze(make_frame(_ai_risk_rows(0.3, 3)), n_boot=300, traits=REGISTERED)
    main = next(c for c in result.curves if c.main)
    assert main.metric.name == "matching_behavior"
    assert abs(main.values[-1] - main.values[0]) < 0.06  # 0.40 flat, not 0.28 "safer"
    assert main.verdict is not None and main.verdict.call != "positive"
    (parse,) = result.parse_failures
    assert parse.values[-1] == pytest.approx(0.3, abs=0.05) and parse.values[0] == 0
    assert parse.verdict is not None and parse.verdict.call == "inverse"
    assert any(f.kind == "parse_failure" and f.headline for f in findings(result))


def test_printed_intervals_never_disagree_with_their_p_values() -> None:
    """Over flat, borderline and clear stores: every interval excludes zero exactly when p < alpha."""
    checked = 0
    for seed, spec in enumerate(["0:0.8,1024:0.8,4096:0.8", "0:0.8,1024:0.78,4096:0.76",
                                 "0:0.7,1024:0.8,4096:0.8,16384:0.76", "0:0.9,4096:0.8"] * 3):
        curve_spec = dict(tuple(map(float, p.split(":"))) for p in spec.split(","))
        frame = tidy(simulate_frame({int(k): v for k, v in curve_spec.items()}, 120, 2, 40 + seed,
                                    control_curve={int(k): 0.8 for k in curve_spec}, control_fraction=0.4,
                                    natural=True))
        result = analyze(frame, n_boot=200, seed=seed)
        for curve in result.curves:
            v = curve.verdict
            if v is None or not v.tested or v.ci is None or v.loss is None:
                continue
            assert (v.ci[0] > 0 or v.ci[1] < 0) == (v.p < v.alpha)
            assert (v.loss.lower > 0) == (v.loss.p < v.alpha)
            checked += 2
        for did in result.did:
            for step in did.steps:
                if step.interval is not None:
                    assert step.interval.excludes_zero == (step.interval.p < 0.05)
                    checked += 1
    assert checked > 50


def test_censored_natural_ends_are_not_natural_ends(make_frame: MakeFrame) -> None:
    rows: Rows = []
    for item in range(12):
        rows.append({"sample_id": f"s{item}", "budget": "0", "reasoning_tokens": 0, "score": 1.0, "correct": 1})
        censored = item < 6
        rows.append({"sample_id": f"s{item}", "budget": "natural", "reasoning_tokens": 500 if censored else 80,
                     "score": 0.0 if censored else 1.0, "correct": 0 if censored else 1,
                     "extra": {"censored": censored}})
    (pair,) = natural_vs_zero(make_frame(rows), n_boot=200)
    assert pair["n_pairs"] == 6 and pair["censored_left_out"] == 6 and pair["difference"] == 0.0


def test_grades_tolerance_is_in_rmse_and_its_did_compares_shots(make_frame: MakeFrame) -> None:
    rng = np.random.default_rng(4)
    rows: Rows = []
    for student in range(60):
        for shots in (0, 8):
            for budget, tokens in (("0", 0), ("4096", 4000)):
                scale = 0.3 + (0.4 if (shots == 0 and budget == "4096") else 0.0)
                rows.append({"task": "grades", "sample_id": f"g{student}-{shots}", "budget": budget,
                             "reasoning_tokens": tokens, "score": abs(rng.normal(0, scale)), "correct": None,
                             "extracted": "3.0", "score_details": {"parsed": True},
                             "metadata": {"shots": shots, "control": shots > 0}})
    frame = make_frame(rows)
    (gate,) = [r for r in run_gate(frame, n_boot=300, traits=REGISTERED) if r.stratum == "all"]
    assert gate.metric == "rmse" and gate.tolerance == 0.05 and "RMSE" in gate.reason
    (did,) = difference_in_differences(frame, n_boot=300, traits=REGISTERED)
    assert did.comparison == "shots"
    text = " ".join(f.text for f in findings(analyze(frame, n_boot=300, traits=REGISTERED)) if f.kind == "did")
    assert "zero-shot items" in text and "k-shot items" in text and "fell -" not in text


def test_the_best_budget_is_not_confident_by_construction() -> None:
    """Which budget is best is itself uncertain: its loss interval is not [0, 0]."""
    frame = tidy(simulate_frame({0: 0.8, 1024: 0.8, 4096: 0.8}, 30, 1, 5))
    (rec,) = recommend(frame, tolerance=0.0, n_boot=300)
    assert rec.loss_ci[1] > 0 and not rec.confident


def test_variants_of_one_question_are_resampled_together(make_frame: MakeFrame) -> None:
    """Four choice orders of each of 12 questions are 12 independent units, not 48: wider intervals."""
    rng = np.random.default_rng(8)
    rows: Rows = []
    for question in range(12):
        risky = rng.random(2) < [0.3, 0.6]  # one draw per question and budget, shared by its variants
        for variant in range(4):
            for (budget, tokens), is_risky in zip((("0", 0), ("4096", 4000)), risky, strict=True):
                rows.append({"task": "ai_risk", "sample_id": f"q{question}-{variant}", "budget": budget,
                             "reasoning_tokens": tokens, "score": float(is_risky), "correct": int(not is_risky),
                             "extracted": "A", "score_details": {"parsed": True},
                             "metadata": {"category": "power", "source": "bundled", "source_line": question}})
    frame = make_frame(rows)
    (clustered,) = [c for c in annotate(build_curves(frame, n_boot=400, traits=REGISTERED)) if c.main]
    alone = frame.assign(meta_source_line=frame["sample_id"])  # pretend every variant were its own question
    (independent,) = [c for c in annotate(build_curves(alone, n_boot=400, traits=REGISTERED)) if c.main]
    assert clustered.n_items == 48 and clustered.n_clusters == 12 and independent.n_clusters == 48
    assert clustered.verdict is not None and independent.verdict is not None
    assert clustered.verdict.ci is not None and independent.verdict.ci is not None
    width = clustered.verdict.ci[1] - clustered.verdict.ci[0]
    assert width > 1.5 * (independent.verdict.ci[1] - independent.verdict.ci[0])


def test_a_contrast_standard_error_is_the_textbook_one_without_clusters(make_frame: MakeFrame) -> None:
    from overthink.analysis.contrasts import contrasts

    rows = _binary_rows(80, {"0": 0, "4096": 4000}, {"0": 0.7, "4096": 0.6}, 9)
    (curve,) = [c for c in build_curves(make_frame(rows), n_boot=300) if c.main]
    assert curve.item_values is not None
    result = contrasts(curve, np.array([[1.0], [-1.0]]))
    d = curve.item_values[:, 0] - curve.item_values[:, 1]
    assert result.estimate[0] == pytest.approx(d.mean())
    assert result.se[0] == pytest.approx(d.std(ddof=1) / np.sqrt(d.size))
    assert abs(np.nanstd(result.null[:, 0]) - 1.0) < 0.15  # replicate t statistics are standardized


def test_without_reasoning_counts_the_requested_budget_is_the_x_axis(make_frame: MakeFrame) -> None:
    """A hosted backend that reports no reasoning tokens still gets an ordered, tested curve."""
    rows = _binary_rows(60, {"0": 0, "1024": 0, "4096": 0}, {"0": 0.9, "1024": 0.7, "4096": 0.5}, 10)
    for row in rows:
        row["reasoning_tokens"] = None
    (curve,) = [c for c in annotate(build_curves(make_frame(rows), n_boot=300)) if c.main]
    assert curve.tokens.tolist() == [0.0, 1024.0, 4096.0]
    assert curve.verdict is not None and curve.verdict.call == "inverse"
