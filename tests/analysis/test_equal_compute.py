"""Equal compute: strategies on one compute axis, matched to chain of thought, tested family-wise.

Frames are built with known compute per (strategy, budget) and known correctness, so every match, weight
and call has a right answer that does not come from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from overthink.analysis.equal_compute import MATCH_RATIO, equal_compute
from overthink.analysis.frame import tidy
from overthink.analysis.simulate import simulate_frame
from overthink.analysis.summary import analyze

COT_BUDGETS = (0, 100, 1000)


def _strategy(curve: dict[int, float], strategy: str, compute: dict[int, float], seed: int, n: int = 150,
              repeats: int = 2) -> pd.DataFrame:
    """Records of one strategy: accuracy `curve` per budget, every record costing `compute[budget]`."""
    raw = simulate_frame(curve, n, repeats, seed, strategy=strategy)
    raw["compute_tokens"] = raw["requested_tokens"].map(compute).astype(float)
    return raw


def _store(*parts: pd.DataFrame) -> pd.DataFrame:
    return tidy(pd.concat(parts, ignore_index=True))


def _cot(seed: int = 1, curve: dict[int, float] | None = None) -> pd.DataFrame:
    return _strategy(curve or {0: 0.6, 100: 0.6, 1000: 0.6}, "cot", {b: b + 10.0 for b in COT_BUDGETS}, seed)


def _point(table, strategy: str, budget: str):  # type: ignore[no-untyped-def]
    return next(p for p in table.points if p.strategy == strategy and p.budget == budget)


def test_columns_are_matched_by_interpolation_in_log_compute_nearest_or_not_at_all() -> None:
    vote = _strategy({0: 0.6, 100: 0.6, 1000: 0.6}, "vote@3", {0: 30.0, 100: 1300.0, 1000: 3030.0}, 2)
    (table,) = equal_compute(_store(_cot(), vote), n_boot=200)
    assert table.reference == "cot" and table.strategies == ("cot", "vote@3")
    low = _point(table, "vote@3", "0").matched
    assert low.kind == "interpolated" and low.cot_budgets == ("0", "100")
    weight = (math.log1p(30) - math.log1p(10)) / (math.log1p(110) - math.log1p(10))
    assert low.weights == pytest.approx((1 - weight, weight))
    assert low.cot_compute == pytest.approx(30.0)  # matched exactly, in log compute
    cot = [_point(table, "cot", b).value for b in ("0", "100")]
    assert low.cot_value == pytest.approx((1 - weight) * cot[0] + weight * cot[1])
    near = _point(table, "vote@3", "100").matched  # 1300 vs CoT's largest 1010: within MATCH_RATIO
    assert near.kind == "nearest" and near.cot_budgets == ("1000",)
    assert near.ratio == pytest.approx(1300 / 1010) and near.ratio < MATCH_RATIO
    far = _point(table, "vote@3", "1000").matched  # 3030 is 3x CoT's largest: no CoT point at that compute
    assert far.kind == "none" and far.p is None and "1.5x" in far.reason
    assert _point(table, "vote@3", "1000").compute == pytest.approx(3030.0)
    assert table.contrasts_tested == 2


def test_a_strategy_identical_to_cot_at_equal_compute_differs_by_exactly_nothing() -> None:
    cot = _cot()
    twin = cot.assign(strategy="vote@3")  # the same records under another name, at the same compute
    (table,) = equal_compute(_store(cot, twin), n_boot=200)
    for budget in ("0", "100", "1000"):
        matched = _point(table, "vote@3", budget).matched
        assert matched.weights == (1.0,) and matched.difference == 0.0 and matched.p == 1.0
        assert matched.call == "equivalent"
    assert table.verdicts == {"vote@3": "equivalent"}


def test_a_better_strategy_is_found_better_and_a_worse_one_worse_and_intervals_agree_with_p() -> None:
    cot = _cot(curve={0: 0.55, 100: 0.6, 1000: 0.62})
    better = _strategy({0: 0.85, 100: 0.9, 1000: 0.9}, "vote@3", {0: 30.0, 100: 330.0, 1000: 3030.0}, 3)
    worse = _strategy({0: 0.3, 100: 0.35, 1000: 0.35}, "best-of-n@3", {0: 40.0, 100: 400.0, 1000: 4000.0}, 4)
    (table,) = equal_compute(_store(cot, better, worse), n_boot=500)
    assert table.verdicts == {"vote@3": "better", "best-of-n@3": "worse"}
    tested = [p.matched for p in table.points if p.matched is not None and p.matched.p is not None]
    assert len(tested) == table.contrasts_tested == 4  # budget 1000 of both is beyond CoT's compute
    for matched in tested:
        assert (matched.lo > 0 or matched.hi < 0) == (matched.p < table.alpha)
        assert matched.lo <= matched.difference <= matched.hi


def test_more_strategies_widen_every_interval_family_wise() -> None:
    cot = _cot(curve={0: 0.55, 100: 0.6, 1000: 0.62})
    vote = _strategy({0: 0.7, 100: 0.7, 1000: 0.7}, "vote@3", {0: 30.0, 100: 330.0, 1000: 3030.0}, 3)
    other = _strategy({0: 0.6, 100: 0.6, 1000: 0.6}, "vote@5", {0: 50.0, 100: 550.0, 1000: 5050.0}, 5)
    (alone,) = equal_compute(_store(cot, vote), n_boot=400)
    (both,) = equal_compute(_store(cot, vote, other), n_boot=400)
    for budget in ("0", "100"):
        one, two = _point(alone, "vote@3", budget).matched, _point(both, "vote@3", budget).matched
        assert one.difference == pytest.approx(two.difference)  # the same problems, the same estimate
        assert two.hi - two.lo > one.hi - one.lo  # a larger maximum: a larger critical value
        assert two.p >= one.p


def test_refusal_gets_one_table_per_label_never_pooled() -> None:
    from overthink.analysis.families import simulate_family
    from overthink.registry import TASKS

    family = TASKS["refusal"]
    cot = simulate_family(family, "flat", seed=3, repeats=1)
    vote = cot.assign(strategy="vote@3", compute_tokens=cot["compute_tokens"] * 3)
    traits = {"refusal": family.traits()}
    tables = equal_compute(_store(cot, vote), n_boot=200, traits=traits)
    labels = {t.stratum: t.metric for t in tables}
    assert set(labels) == {"label=harmful", "label=benign"}
    assert labels["label=harmful"].name != labels["label=benign"].name  # refusal vs over-refusal
    assert labels["label=harmful"].higher_is_better and not labels["label=benign"].higher_is_better
    assert {t.contrasts_tested for t in tables} == {sum(p.matched is not None and p.matched.p is not None
                                                        for t in tables for p in t.points)}


def test_descriptive_comparisons_have_intervals_and_no_test_and_analyze_carries_them() -> None:
    cot = _strategy({0: 0.6, 100: 0.6}, "cot", {0: 10.0, 100: 110.0}, 1, n=6)
    vote = _strategy({0: 0.7, 100: 0.7}, "vote@3", {0: 30.0, 100: 330.0}, 2, n=6)
    frame = _store(cot, vote)
    (table,) = equal_compute(frame, n_boot=200)
    assert table.descriptive and table.contrasts_tested == 0
    matched = _point(table, "vote@3", "0").matched
    assert matched.p is None and matched.call == "untested" and "descriptive" in matched.reason
    assert all(p.lo <= p.value <= p.hi for p in table.points)
    result = analyze(frame, n_boot=200).to_json()
    assert [t["stratum"] for t in result["equal_compute"]] == ["all"]
    assert result["equal_compute"][0]["verdicts"][0]["verdict"] == "untested"


def test_one_strategy_or_no_cot_gives_no_test() -> None:
    assert equal_compute(_store(_cot()), n_boot=100) == []
    vote = _strategy({0: 0.6, 100: 0.6}, "vote@3", {0: 30.0, 100: 330.0}, 2)
    best = _strategy({0: 0.6, 100: 0.6}, "best-of-n@3", {0: 40.0, 100: 400.0}, 3)
    (table,) = equal_compute(_store(vote, best), n_boot=100)
    assert table.reference is None and all(p.matched.kind == "none" for p in table.points)
    assert np.isfinite([p.compute for p in table.points]).all()


def test_the_verifiers_own_effect_is_best_of_n_minus_the_vote_of_the_same_samples() -> None:
    vote = _strategy({0: 0.6, 100: 0.6, 1000: 0.6}, "vote@3", {0: 30.0, 100: 330.0, 1000: 3030.0}, 2)
    same = vote.assign(strategy="best-of-n@3,prm", compute_tokens=vote["compute_tokens"] + 200.0)
    (table,) = equal_compute(_store(_cot(), vote, same), n_boot=200)
    assert [(r.strategy, r.vote, r.budget) for r in table.reranks] == [("best-of-n@3,prm", "vote@3", b)
                                                                       for b in ("0", "100", "1000")]
    for rerank in table.reranks:  # the same records: the verifier changed nothing, and cost its tokens
        assert rerank.difference == 0.0 and rerank.lo == rerank.hi == 0.0
        assert rerank.extra_compute == pytest.approx(200.0)
    better = _strategy({0: 0.9, 100: 0.9}, "best-of-n@3", {0: 60.0, 100: 660.0}, 7)
    (table,) = equal_compute(_store(_cot(), vote, better), n_boot=300)
    ((low, high),) = {(r.lo, r.hi) for r in table.reranks if r.budget == "0"}
    assert [r.budget for r in table.reranks] == ["0", "100"]  # only the budgets both ran
    assert 0 < low <= next(r.difference for r in table.reranks if r.budget == "0") <= high
    assert table.to_json()["reranks"][0]["ci"] == [low, high]
    (alone,) = equal_compute(_store(_cot(), better), n_boot=100)
    assert alone.reranks == ()  # no vote of the same n: nothing to compare the verifier with


def test_a_best_of_n_strategy_names_the_verifier_and_options_its_records_used() -> None:
    import json

    vote = _strategy({0: 0.6, 100: 0.6}, "vote@3", {0: 30.0, 100: 330.0}, 2)
    best = vote.assign(strategy="best-of-n@3,prm", extra=json.dumps({"verifier": "prm:Qwen/PRM-7B[last]"}))
    (table,) = equal_compute(_store(_cot(), vote, best), n_boot=100)
    assert table.verifiers == {"best-of-n@3,prm": ("prm:Qwen/PRM-7B[last]",)}
    said = {v["strategy"]: v["verifiers"] for v in table.to_json()["verdicts"]}
    assert said == {"best-of-n@3,prm": ["prm:Qwen/PRM-7B[last]"], "vote@3": []}
    analysed = analyze(_store(_cot(), vote, best), n_boot=100).to_json()["equal_compute"][0]  # via slim()
    assert {v["strategy"]: v["verifiers"] for v in analysed["verdicts"]} == said
