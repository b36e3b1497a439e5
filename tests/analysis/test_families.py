"""The simulated task families have the real tasks' structure and the true curves they claim.

Calibration is only as good as its simulator: if a simulated store had other strata, other metadata
or other score conventions than a real one, a gate calibrated on it would be calibrated on the wrong
thing. So these tests compare against the real generators, the real scorers and the bundled data,
and check each scenario's stated truth against what the records actually show (many repeats, paired
by item; a cell's paired difference must stay within the t quantile of a 1e-4 two-sided test).
"""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as t_dist

from overthink.analysis.families import (
    DROPS,
    TAIL_CURVE,
    default_n,
    family_names,
    main_stratum,
    simulate_family,
    store_columns,
    true_curve,
)
from overthink.analysis.family_items import item_table
from overthink.analysis.frame import META_PREFIX, load, strata_for, tidy
from overthink.analysis.simulate import write_store
from overthink.analysis.summary import analyze
from overthink.registry import TASKS
from overthink.tasks.nulls import AI_RISK_UNPARSED

SMALL = {"refusal": 100, "misleading_math": 24, "misleading_python": 24, "paradoxes": 20, "grades": 12,
         "zebra": 8, "ai_risk": 24}
FAMILIES = family_names()  # every family of the catalog with a null model (the seven built-ins)
BUDGET_LABELS = ("0", "1024", "4096", "16384")


def _levels(samples: list[dict[str, object]], key: str) -> set[object]:
    return {meta[key] for meta in samples if key in meta}


@pytest.mark.parametrize("family", FAMILIES)
def test_metadata_keys_and_strata_levels_match_the_real_generator(family: str) -> None:
    frame = tidy(simulate_family(TASKS[family], "flat", seed=1))
    simulated = [json.loads(text) for text in frame.drop_duplicates("sample_id")["metadata"].map(json.dumps)]
    real = [s.metadata for s in TASKS[family].generate(SMALL[family] if family == "zebra" else
                                                        default_n(family, "flat"), 0)]
    assert {key for meta in simulated for key in meta} == {key for meta in real for key in meta}
    spec = TASKS[family]
    assert strata_for(family, frame, spec.traits()) == list(spec.strata)  # the analysis splits it as a real store
    for key in spec.strata:
        assert set(frame[META_PREFIX + key].dropna().unique()) == _levels(real, key)
    if family in ("misleading_math", "misleading_python", "paradoxes"):
        controls = frame.drop_duplicates("sample_id")
        assert (controls[META_PREFIX + "control"] == (controls[META_PREFIX + "num_distractors"] == 0)).all()
    if family == "zebra":  # distractor clues per grid size exactly as the generator adds them
        assert {(m["grid_size"], m["num_distractor_clues"]) for m in simulated} == \
            {(m["grid_size"], m["num_distractor_clues"]) for m in real}


def test_refusal_counts_equal_the_bundled_pairs() -> None:
    text = resources.files("overthink").joinpath("data", "refusal_pairs.jsonl").read_text(encoding="utf-8")
    bundled: Counter[tuple[str, str]] = Counter()
    for line in filter(str.strip, text.splitlines()):
        bundled.update((label, json.loads(line)["type"]) for label in ("harmful", "benign"))
    frame = tidy(simulate_family(TASKS["refusal"], "flat", seed=2)).drop_duplicates("sample_id")
    assert Counter(zip(frame["meta_label"], frame["meta_type"], strict=True)) == bundled


@pytest.mark.parametrize("family", FAMILIES)
def test_every_record_is_what_the_real_scorer_says(family: str) -> None:
    raw = simulate_family(TASKS[family], "drop10", n=SMALL[family], seed=3)
    samples = {s.id: s for s in item_table(TASKS[family], SMALL[family]).samples}
    for row in raw.itertuples():
        result = TASKS[family].score(samples[str(row.sample_id)], str(row.answer_text))
        assert result.value == pytest.approx(row.score, abs=1e-9)
        assert result.extracted == (None if pd.isna(row.extracted) else row.extracted)
        assert result.correct == (None if pd.isna(row.correct) else bool(row.correct))
        assert json.dumps(dict(result.details), sort_keys=True) == row.score_details


def _values(frame: pd.DataFrame, family: str) -> pd.Series:
    """The per-record event (or squared error) each family's curve averages; ai_risk: parsed only."""
    if family == "grades":
        return frame["score"] ** 2
    if family == "refusal":
        return frame["detail_refused"].astype(float)
    if "detail_parsed" in frame.columns:
        return frame["score"].where(frame["detail_parsed"] != False)  # noqa: E712
    return frame["score"]


def _paired(frame: pd.DataFrame, values: pd.Series, a: str, b: str) -> tuple[float, float, int]:
    """Mean over items of (item mean at budget b - at budget a), its standard error and its df."""
    table = frame.assign(_v=values).groupby(["sample_id", "budget"])["_v"].mean().unstack()
    diff = (table[b] - table[a]).dropna()
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff))), len(diff) - 1


def _cells(frame: pd.DataFrame, family: str) -> list[pd.Series]:
    masks = [frame[META_PREFIX + key] == level for key in TASKS[family].strata
             for level in frame[META_PREFIX + key].unique()]
    return [m for m in masks if frame.loc[m, "sample_id"].nunique() >= 5]


@pytest.mark.parametrize("family", FAMILIES)
def test_flat_scenario_is_flat_in_every_stratum(family: str) -> None:
    truth = true_curve(TASKS[family], "flat")
    assert max(truth.values()) - min(truth.values()) < 1e-9
    frame = tidy(simulate_family(TASKS[family], "flat", repeats=16, seed=4))
    values = _values(frame, family)
    for mask in _cells(frame, family):
        for budget in BUDGET_LABELS[1:]:
            diff, se, df = _paired(frame[mask], values[mask], "0", budget)
            assert abs(diff) < t_dist.ppf(1 - 1e-4, df) * se + 1e-9, (family, budget, diff, se)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("scenario", ["drop5", "drop10"])
def test_drop_scenarios_get_worse_by_the_stated_amount(family: str, scenario: str) -> None:
    truth = true_curve(TASKS[family], scenario)
    sign = -1.0 if family in ("grades", "ai_risk") else 1.0  # lower is better for RMSE and risky choices
    assert sign * (truth["0"] - truth["16384"]) == pytest.approx(DROPS[scenario], abs=1e-6)
    assert truth["0"] == pytest.approx(truth["1024"], abs=1e-9)
    frame = tidy(simulate_family(TASKS[family], scenario, repeats=16, seed=5))
    frame = frame[frame["meta_label"] == "harmful"] if main_stratum(family) == "label=harmful" else frame
    diff, se, _ = _paired(frame, _values(frame, family), "0", "16384")
    expected = (truth["16384"] ** 2 - truth["0"] ** 2) if family == "grades" else truth["16384"] - truth["0"]
    assert abs(diff - expected) < 4 * se, (family, scenario, diff, expected, se)
    assert np.sign(diff) == np.sign(expected)


def test_tail4_is_the_stated_curve_in_each_metric_direction() -> None:
    for family in ("misleading_math", "zebra", "refusal"):
        assert list(true_curve(TASKS[family], "tail4").values()) == pytest.approx(TAIL_CURVE, abs=1e-9)
    assert list(true_curve(TASKS["ai_risk"], "tail4").values()) == pytest.approx([1 - x for x in TAIL_CURVE], abs=1e-9)
    rmse = list(true_curve(TASKS["grades"], "tail4").values())
    assert np.diff(rmse) == pytest.approx([-0.10, 0.0, 0.04], abs=1e-6)
    assert simulate_family(TASKS["zebra"], "tail4", seed=6)["sample_id"].nunique() == 300


def test_ai_risk_unparsed_share_rises_and_ignores_the_item() -> None:
    frame = tidy(simulate_family(TASKS["ai_risk"], "flat", n=300, repeats=8, seed=7))
    unparsed = frame["detail_parsed"] == False  # noqa: E712
    shares = unparsed.groupby(frame["budget"]).mean()[list(BUDGET_LABELS)].to_numpy()
    expected = np.linspace(*AI_RISK_UNPARSED, 4)
    assert np.abs(shares - expected).max() < 4 * np.sqrt(0.3 * 0.7 / (len(frame) / 4))
    rows = frame[unparsed]
    assert rows["extracted"].isna().all() and rows["correct"].isna().all() and (rows["score"] == 0.0).all()
    risky = frame[~unparsed].groupby("sample_id")["score"].mean()
    share = unparsed.groupby(frame["sample_id"]).mean()
    high = risky > risky.median()
    gap = share[high[high].index].mean() - share[high[~high].index].mean()
    assert abs(gap) < 4 * np.sqrt(2 * share.var() / len(share))


def test_records_have_the_store_columns_and_encodings() -> None:
    raw = simulate_family(TASKS["ai_risk"], "flat", seed=10, error_share=0.1)
    assert tuple(raw.columns) == store_columns()
    ok = raw[raw["status"] == "ok"]
    for column in ("metadata", "score_details", "extra"):
        assert all(isinstance(json.loads(text), dict) for text in ok[column])
    assert raw.loc[raw["status"] == "error", ["score", "correct", "reasoning_tokens"]].isna().all().all()


def test_same_seed_same_store_other_seed_other_store() -> None:
    first = simulate_family(TASKS["paradoxes"], "drop5", seed=11, error_share=0.05)
    pd.testing.assert_frame_equal(first, simulate_family(TASKS["paradoxes"], "drop5", seed=11, error_share=0.05))
    assert not first["score"].equals(simulate_family(TASKS["paradoxes"], "drop5", seed=12)["score"])


def test_error_share_fails_the_hardest_items_at_the_largest_budget_only() -> None:
    frame = tidy(simulate_family(TASKS["misleading_math"], "flat", repeats=6, seed=13, error_share=0.1))
    errors = frame[frame["status"] == "error"]
    assert set(errors["budget"]) == {"16384"} and errors["score"].isna().all()
    assert errors["sample_id"].nunique() == 30
    accuracy = frame[frame["budget"] == "0"].groupby("sample_id")["score"].mean()
    failed = accuracy.index.isin(errors["sample_id"].unique())
    assert accuracy[failed].mean() < accuracy[~failed].mean() - 0.2  # selection: the hard items vanish


def test_frame_equals_a_real_store_written_through_the_store(tmp_path: Path) -> None:
    raw = simulate_family(TASKS["misleading_math"], "drop10", n=24, seed=14)
    write_store(raw, tmp_path / "sim.db")
    stored, direct = load(tmp_path / "sim.db"), tidy(raw)
    shared = ["key", "sample_id", "budget", "budget_kind", "repeat", "seed", "status", "requested_tokens",
              "reasoning_tokens", "target", "extracted", "score", "correct", "budget_tokens", "realized",
              *[c for c in direct.columns if c.startswith(META_PREFIX)]]
    pd.testing.assert_frame_equal(stored[shared], direct[shared], check_dtype=False)
    traits = {"misleading_math": TASKS["misleading_math"].traits()}
    for ours, theirs in zip(analyze(direct, n_boot=100, traits=traits).curves,
                            analyze(stored, n_boot=100, traits=traits).curves, strict=True):
        assert ours.stratum == theirs.stratum
        np.testing.assert_allclose(ours.values, theirs.values)
        np.testing.assert_allclose(ours.lo, theirs.lo)
