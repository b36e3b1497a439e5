"""The gate's promises from issue 16: the tolerance is a margin, sizes are not inflated, missing data is gated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from overthink.analysis.bootstrap import build_curves
from overthink.analysis.families import simulate_family
from overthink.analysis.frame import tidy
from overthink.analysis.simulate import simulate_frame
from overthink.analysis.sizes import crossfit_size
from overthink.mitigations.gate import run_gate
from overthink.registry import TASKS


def _two_budget_rows(n: int, first: int, second: int) -> list[dict[str, Any]]:
    """n items, `first` of them right at budget 0 and `second` right at 4096, paired at random."""
    order = np.random.default_rng(0).permutation(n)
    rows = []
    for rank, item in enumerate(order):
        for budget, tokens, right in (("0", 0, item < first), ("4096", 4000, rank < second)):
            rows.append({"sample_id": f"s{item}", "budget": budget, "reasoning_tokens": tokens,
                         "score": float(right), "correct": int(right), "extracted": "1" if right else "2"})
    return rows


MakeFrame = Callable[[list[dict[str, Any]]], pd.DataFrame]


def test_a_loss_inside_its_interval_of_the_tolerance_passes(make_frame: MakeFrame) -> None:
    """Loss 0.03 on 4,000 items (se ~0.009): significant against 0 and beyond the 0.02 tolerance as a
    point, which the old rule blocked; its simultaneous lower bound is below the tolerance, so a release
    whose true loss is the tolerance cannot be excluded and the margin test passes it."""
    frame = make_frame(_two_budget_rows(4000, 3200, 3080))
    (result,) = run_gate(frame, n_boot=400)
    assert result.worst_drop is not None and abs(result.worst_drop - 0.03) < 1e-9
    assert result.lower is not None and 0 < result.lower < result.tolerance == 0.02
    assert not result.failed and result.p >= 0.05
    assert "lower bound" in result.reason and "loss <= tolerance" in result.reason
    (clear,) = run_gate(make_frame(_two_budget_rows(4000, 3200, 2960)), n_boot=400)  # loss 0.06: beyond any doubt
    assert clear.failed and clear.lower is not None and clear.lower > 0.02 and clear.p < 0.05


def test_p_and_the_lower_bound_agree_under_the_shifted_null() -> None:
    """p < alpha exactly when the lower bound exceeds the tolerance, on every gated check of many stores."""
    checked = 0
    for seed in range(12):
        drop = (0.0, 0.02, 0.03, 0.05)[seed % 4]
        frame = tidy(simulate_frame({0: 0.8, 1024: 0.8, 4096: 0.8 - drop}, 150, 2, seed))
        for result in run_gate(frame, n_boot=300, seed=seed):
            if result.gated and result.lower is not None:
                assert (result.p < 0.05) == (result.lower > result.tolerance) == result.failed
                checked += 1
    assert checked == 12


def test_the_cross_fitted_size_is_not_inflated_by_the_choice_of_pair() -> None:
    """A true 4-point tail drop (0.80, 0.80, 0.76): the largest pair loss overshoots, the size does not."""
    sizes, maxima = [], []
    for seed in range(40):
        frame = tidy(simulate_frame({0: 0.8, 1024: 0.8, 4096: 0.76}, 300, 3, 1000 + seed))
        (curve,) = build_curves(frame, n_boot=100, seed=seed)
        size = crossfit_size(curve, seed)
        assert size is not None
        sizes.append(size)
        v = curve.values
        maxima.append(max(v[0] - v[2], v[1] - v[2], v[0] - v[1]))
    assert np.mean(maxima) > 0.046  # the winner's curse the size must not have
    assert abs(np.mean(sizes) - 0.04) < 0.004  # within 10% of the true drop


def test_hard_items_timing_out_at_the_largest_budget_fail_the_gate() -> None:
    """20% of the hardest items error at 16384 only: the common-items curve stays flat (the old gate
    passed), the error-share check fails, and the curve shows its worst/best-case bounds."""
    task = TASKS["misleading_math"]
    frame = tidy(simulate_family(task, "flat", seed=3, error_share=0.2))
    results = run_gate(frame, n_boot=400, traits={task.name: task.traits()})
    (errors,) = [r for r in results if r.check == "errors"]
    assert errors.failed and errors.kind == "missing" and errors.to_budget == "16384"
    assert "missing data rises" in errors.reason
    main = next(r for r in results if r.check == "metric" and r.stratum == "all")
    assert not main.failed and main.missing_bounds is not None and main.loss_bounds is not None
    low, high = main.loss_bounds
    assert low < (main.worst_drop or 0.0) < high
    passed = run_gate(frame, n_boot=400, traits={task.name: task.traits()}, missing_tolerance=1.0)
    assert not any(r.failed for r in passed)  # the check is what fails it


def test_unparsed_answers_rising_with_reasoning_fail_the_gate() -> None:
    """ai_risk with unparsed answers rising from 5% to 30% of records: the audit's store passed 6 of 6."""
    task = TASKS["ai_risk"]
    for seed in range(3):
        frame = tidy(simulate_family(task, "flat", seed=seed))
        results = run_gate(frame, n_boot=300, seed=seed, traits={task.name: task.traits()})
        (unparsed,) = [r for r in results if r.check == "unparsed"]
        assert unparsed.failed and unparsed.values[-1] > unparsed.values[0] + 0.2


def test_a_steady_random_error_rate_does_not_fail_the_gate() -> None:
    """10% of records error at random at every budget of a 100-item store: no rise, no failure (a point
    rule on the shares would fail such stores 38% of the time)."""
    for seed in range(4):
        raw = simulate_frame({0: 0.8, 1024: 0.8, 4096: 0.8}, 100, 1, seed)
        broken = np.random.default_rng(seed).random(len(raw)) < 0.10
        raw = raw.assign(status=np.where(broken, "error", "ok"), score=raw["score"].where(~broken))
        results = run_gate(tidy(pd.DataFrame(raw)), n_boot=300, seed=seed)
        errors = [r for r in results if r.check == "errors"]
        assert errors and not any(r.failed for r in results)
