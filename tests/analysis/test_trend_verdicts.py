"""Verdicts and phases on simulated stores with a known true curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from overthink.analysis.bootstrap import Curve, build_curves
from overthink.analysis.frame import tidy
from overthink.analysis.phases import fit_phases
from overthink.analysis.results import Phases
from overthink.analysis.simulate import parse_curve, power, simulate_frame
from overthink.analysis.trends import annotate, verdict
from overthink.errors import UserError
from overthink.tasks.base import TaskSpec
from overthink.tasks.metric import ABS_ERROR


def _curve(spec: str, n: int, repeats: int = 3, seed: int = 1, n_boot: int = 500) -> Curve:
    frame = tidy(simulate_frame(parse_curve(spec), n, repeats, seed))
    return next(c for c in build_curves(frame, n_boot=n_boot, seed=seed) if c.stratum == "all")


@pytest.mark.parametrize(("spec", "expected"), [
    ("0:0.95,1024:0.93,4096:0.85", "inverse"),
    ("0:0.6,1024:0.7,4096:0.8", "positive"),
    ("0:0.6,1024:0.6,4096:0.5", "inverse"),  # the drop test catches a late fall
])
def test_clear_trends_are_called(spec: str, expected: str) -> None:
    result = verdict(_curve(spec, 300))
    assert result.call == expected, result
    assert result.ci is not None and result.effect is not None
    lo, hi = result.ci
    assert lo <= result.effect <= hi


def test_flat_with_many_items_is_flat_and_with_few_is_noisy() -> None:
    assert verdict(_curve("0:0.9,1024:0.9,4096:0.9", 5000, n_boot=300)).call == "flat"
    assert verdict(_curve("0:0.9,1024:0.9,4096:0.9", 40)).call == "noisy"


def test_minimum_effect_blocks_tiny_but_significant_changes() -> None:
    curve = _curve("0:0.90,4096:0.885", 20000, repeats=2, n_boot=200)
    result = verdict(curve, min_effect=0.02)
    assert result.call == "flat"
    assert verdict(curve, min_effect=0.005).call == "inverse"


def test_lower_is_better_metrics_flip_the_direction() -> None:
    """A rising RMSE is inverse scaling, not improvement."""
    spec = TaskSpec(name="reg", version="1", description="", generate=lambda *a, **k: [],
                    score=lambda s, t: None, check=lambda s: True, metric=ABS_ERROR,  # type: ignore[arg-type,return-value]
                    higher_is_better=False)
    rng = np.random.default_rng(0)
    rows = []
    for item in range(200):
        difficulty = rng.gamma(2.0, 0.2)
        for budget, scale in (("0", 1.0), ("1024", 1.3), ("4096", 1.7)):
            for rep in range(2):
                rows.append({"sample_id": f"s{item}", "budget": budget, "repeat": rep, "task": "reg",
                             "score": abs(rng.normal(0, difficulty * scale)),
                             "realized": int(budget)})
    frame = pd.DataFrame(rows)
    frame = frame.assign(model="m", mechanism="forced", strategy="single", status="ok",
                         reasoning_tokens=frame["realized"], requested_tokens=frame["realized"],
                         correct=None, metadata="{}")
    curve = next(c for c in build_curves(tidy(frame.drop(columns="realized")), 500, traits={"reg": spec.traits()})
                 if c.stratum == "all")
    result = verdict(curve)
    assert curve.metric.name == "rmse"
    assert result.call == "inverse" and result.effect is not None and result.effect > 0.05


def test_power_and_false_positive_rate_small_run() -> None:
    """A fast version of the documented measurement (docs/statistics.md has the 200-trial numbers)."""
    flat = power(parse_curve("0:0.9,1024:0.9,4096:0.9"), 150, 2, trials=30, seed=3, n_boot=300)
    drop = power(parse_curve("0:0.9,1024:0.85,4096:0.8"), 300, 3, trials=10, seed=3, n_boot=300)
    assert flat["kind"] == "false_positive_rate" and flat["inverse_rate"] <= 0.15
    assert drop["kind"] == "power" and drop["inverse_rate"] >= 0.8


def test_curve_parsing_rejects_bad_input() -> None:
    for text in ("0:0.9", "0:1.2,10:0.5", "a:b,1:0.5", "0:0.9,0:0.8"):
        with pytest.raises(UserError):
            parse_curve(text)


SAFETY_SHAPE = "256:0.6,512:0.7,1024:0.8,2048:0.9,4096:0.9,8192:0.9,16384:0.8,32768:0.7,65536:0.6"


def _phases(spec: str, n: int, seed: int) -> Phases:
    """Phases of a curve after its verdict (the verdict gates the segment labels)."""
    (curve,) = annotate([_curve(spec, n, seed=seed)])
    return fit_phases(curve)


def test_phases_find_improve_plateau_degrade() -> None:
    phases = _phases(SAFETY_SHAPE, 300, seed=2)
    assert phases.pattern == "improve-plateau-degrade", phases
    first, second = (b.tokens for b in phases.breakpoints)
    assert 1024 <= first <= 4096 and 4096 <= second <= 16384
    for point in phases.breakpoints:
        assert point.ci[0] <= point.tokens <= point.ci[1]
    labels = [s.label for s in phases.segments]
    changes = [s.change for s in phases.segments]
    assert labels == ["improve", "plateau", "degrade"] and changes[0] > 0.2 and changes[2] < -0.2
    for segment in phases.segments:  # simultaneous intervals and p-values agree
        assert (segment.ci[0] > 0 or segment.ci[1] < 0) == (segment.p < 0.05)


def test_phases_do_not_invent_breakpoints_on_a_straight_line() -> None:
    phases = _phases("256:0.9,1024:0.85,4096:0.8,16384:0.75,65536:0.7", 300, seed=4)
    assert phases.n_breakpoints == 0
    assert phases.pattern == "degrade"


def test_phases_label_nothing_without_a_significant_trend() -> None:
    """A flat curve's segments stay plateaus even when BIC places a breakpoint on noise."""
    flat = ",".join(f"{b}:0.8" for b in (0, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768))
    for seed in range(6):
        phases = _phases(flat, 120, seed=seed)
        assert {s.label for s in phases.segments} <= {"plateau"}


def test_phases_need_enough_budgets() -> None:
    phases = fit_phases(_curve("0:0.9,4096:0.8", 100))
    assert phases.segments == () and "too few" in phases.note


def test_too_few_problems_never_get_a_verdict(make_frame) -> None:  # type: ignore[no-untyped-def]
    """One item that is right at budget 0 and wrong at 4096 has a zero-width bootstrap: not evidence."""
    rows = [{"sample_id": f"s{i}", "budget": b, "reasoning_tokens": int(b), "score": float(b == "0"),
             "correct": int(b == "0")} for i in range(3) for b in ("0", "1024", "4096")]
    curve = next(c for c in build_curves(make_frame(rows), n_boot=200) if c.stratum == "all")
    result = verdict(curve)
    assert result.call == "descriptive" and "only 3 common problems" in result.reason
    assert fit_phases(curve).segments == ()
