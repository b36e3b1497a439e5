"""Problem bootstrap: coverage on simulated data, pairing across budgets, repeats averaged per item."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from overthink.analysis.bootstrap import build_curves, resample_weights
from overthink.analysis.frame import tidy
from overthink.analysis.simulate import simulate_frame
from overthink.tasks.base import TaskSpec
from overthink.tasks.metric import ABS_ERROR, REFUSAL


def _overall(frame: pd.DataFrame, n_boot: int = 400, seed: int = 0, traits=None):  # type: ignore[no-untyped-def]
    return next(c for c in build_curves(frame, n_boot=n_boot, seed=seed, traits=traits or {}) if c.stratum == "all")


def test_weights_are_multinomial_counts() -> None:
    weights = resample_weights(50, 200, np.random.default_rng(3))
    assert weights.shape == (200, 50)
    assert np.all(weights.sum(axis=1) == 50)  # every replicate draws n problems
    assert 0.9 < weights.mean() < 1.1 and weights.max() >= 3


def test_ci_covers_the_true_curve_about_95_percent() -> None:
    """The population accuracy is known exactly; its 95% CI must cover it in roughly 95% of stores."""
    truth = {0: 0.85, 1024: 0.75}
    hits = total = 0
    for trial in range(120):
        frame = tidy(simulate_frame(truth, 150, 3, 1000 + trial, item_sd=1.5))
        curve = _overall(frame, n_boot=300, seed=trial)
        for budget, value, lo, hi in zip(curve.budgets, curve.values, curve.lo, curve.hi, strict=True):
            assert lo <= value <= hi
            hits += int(lo <= truth[int(budget)] <= hi)
            total += 1
    coverage = hits / total
    assert 0.88 <= coverage <= 0.99, coverage


def test_resampling_is_paired_across_budgets(make_frame) -> None:  # type: ignore[no-untyped-def]
    """Two budgets with identical per-item results differ by exactly zero in every replicate."""
    rng = np.random.default_rng(0)
    rows = []
    for item in range(60):
        ok = float(rng.random() < 0.6)
        for budget in ("0", "512"):
            rows.append({"sample_id": f"s{item}", "budget": budget, "score": ok, "correct": int(ok),
                         "reasoning_tokens": 0 if budget == "0" else 500})
    curve = _overall(make_frame(rows))
    assert curve.lo[0] < curve.hi[0]  # there is sampling variation ...
    assert np.all(curve.boot_values[:, 0] == curve.boot_values[:, 1])  # ... but it is shared


def test_repeats_are_averaged_within_the_item_first(make_frame) -> None:  # type: ignore[no-untyped-def]
    """Copying every record into 5 identical repeats must not narrow the CI (problems are the unit)."""
    rng = np.random.default_rng(1)
    base = []
    for item in range(80):
        for budget in ("0", "1024"):
            ok = float(rng.random() < 0.7)
            base.append({"sample_id": f"s{item}", "budget": budget, "score": ok, "correct": int(ok),
                         "reasoning_tokens": int(budget)})
    single = _overall(make_frame(base), seed=5)
    repeated = _overall(make_frame([{**r, "repeat": k} for r in base for k in range(5)]), seed=5)
    assert single.n_records * 5 == repeated.n_records
    np.testing.assert_allclose(single.lo, repeated.lo)
    np.testing.assert_allclose(single.hi, repeated.hi)


def test_bootstrap_is_seeded() -> None:
    frame = tidy(simulate_frame({0: 0.8, 2048: 0.7}, 100, 2, 4))
    a, b, c = _overall(frame, seed=1), _overall(frame, seed=1), _overall(frame, seed=2)
    np.testing.assert_array_equal(a.boot_values, b.boot_values)
    assert not np.array_equal(a.boot_values, c.boot_values)


def test_x_axis_is_mean_realized_tokens_and_budgets_sorted(make_frame) -> None:  # type: ignore[no-untyped-def]
    rows = [{"sample_id": f"s{i}", "budget": b, "reasoning_tokens": t}
            for i in range(10) for b, t in (("4096", 3000 + i), ("0", 0), ("1024", 900))]
    curve = _overall(make_frame(rows))
    assert curve.budgets == ["0", "1024", "4096"]
    np.testing.assert_allclose(curve.tokens, [0, 900, 3004.5])


def test_rmse_metric_for_regression_tasks(make_frame) -> None:  # type: ignore[no-untyped-def]
    spec = TaskSpec(name="reg", version="1", description="", generate=lambda *a, **k: [],
                    score=lambda s, t: None, check=lambda s: True, metric=ABS_ERROR,  # type: ignore[arg-type,return-value]
                    higher_is_better=False)
    errors = {"s0": [0.1, 0.3], "s1": [0.2, 0.2], "s2": [1.0, 0.0]}
    rows = [{"task": "reg", "sample_id": s, "budget": "0", "repeat": k, "score": e, "correct": None}
            for s, errs in errors.items() for k, e in enumerate(errs)]
    curve = _overall(make_frame(rows), traits={"reg": spec.traits()})
    item_sq = [np.mean(np.square(v)) for v in errors.values()]
    assert curve.metric.name == "rmse" and not curve.metric.higher_is_better
    assert curve.values[0] == pytest.approx(np.sqrt(np.mean(item_sq)))


def test_refusal_curves_split_by_label_then_by_other_strata(make_frame) -> None:  # type: ignore[no-untyped-def]
    spec = TaskSpec(name="ref", version="1", description="", generate=lambda *a, **k: [],
                    score=lambda s, t: None, check=lambda s: True, metric=REFUSAL,  # type: ignore[arg-type,return-value]
                    strata=("label", "type"))
    rows = [{"task": "ref", "sample_id": f"{label}{kind}{i}", "budget": b, "reasoning_tokens": int(b),
             "metadata": {"label": label, "type": kind},
             "score_details": {"refused": (label == "harmful") == (i % 4 != 0)}}
            for label in ("harmful", "benign") for kind in ("a", "b") for i in range(12) for b in ("0", "512")]
    curves = {c.stratum: c for c in build_curves(make_frame(rows), n_boot=100, traits={"ref": spec.traits()})}
    assert set(curves) == {"label=harmful", "label=harmful,type=a", "label=harmful,type=b",
                           "label=benign", "label=benign,type=a", "label=benign,type=b"}
    assert curves["label=harmful"].metric.name == "refusal" and curves["label=harmful"].metric.higher_is_better
    assert curves["label=benign"].metric.name == "over_refusal"
    assert not curves["label=benign"].metric.higher_is_better
    assert curves["label=harmful"].values[0] == pytest.approx(0.75)
    assert curves["label=benign,type=a"].values[0] == pytest.approx(0.25)


@pytest.mark.parametrize(("n_items", "n_boot"), [(1, 5), (7, 129), (51, 1000), (300, 257), (13, 3)])
def test_weights_drawn_in_chunks_are_the_single_draw(n_items: int, n_boot: int) -> None:
    """Chunking saves memory only: the counts equal one (B, n) draw from the same seed, row by row."""
    rng = np.random.default_rng(11)
    index = rng.integers(0, n_items, size=(n_boot, n_items), dtype=np.int32)
    whole = np.stack([np.bincount(row, minlength=n_items) for row in index]).astype(np.float32)
    chunked = resample_weights(n_items, n_boot, np.random.default_rng(11), chunk=64)
    assert chunked.dtype == np.float32 and np.array_equal(chunked, whole)
    assert (chunked.sum(axis=1) == n_items).all()


def test_the_ratio_estimator_by_row_chunks_equals_one_pass() -> None:
    """Chunking the replicate rows (and picking clusters) changes memory only, not the numbers."""
    from overthink.analysis.contrasts import _ratio

    rng = np.random.default_rng(4)
    weights = resample_weights(40, 50, rng)
    totals, counts = rng.normal(size=(40, 3)), rng.integers(1, 4, size=40).astype(float)
    used = np.flatnonzero(counts > 1)
    whole = _ratio(weights[:, used].astype(np.float64), totals[used], counts[used], used.size, chunk=10_000)
    chunked = _ratio(weights, totals[used], counts[used], used.size, used, chunk=7)
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
