"""Natural overthinking: rank curves and the within-item length effect."""

from __future__ import annotations

from itertools import pairwise

import pytest

from overthink.analysis.frame import tidy
from overthink.analysis.natural import analyze_natural
from overthink.analysis.simulate import simulate_frame


def _overall(effect: float, seed: int, n: int = 400, repeats: int = 5) -> dict:  # type: ignore[type-arg]
    frame = tidy(simulate_frame({0: 0.75, 1024: 0.75}, n, repeats, seed, natural=True, natural_effect=effect))
    results = analyze_natural(frame, n_boot=500, seed=seed)
    return next(r.to_json() for r in results if r.stratum == "all")


def test_longer_samples_of_the_same_item_score_worse_when_length_hurts() -> None:
    result = _overall(-1.0, seed=11)
    ranks = result["ranks"]
    assert [r["rank"] for r in ranks] == [1, 2, 3, 4, 5]
    assert all(a["tokens"] < b["tokens"] for a, b in pairwise(ranks))
    assert ranks[0]["value"] - ranks[-1]["value"] > 0.05
    within = result["within_item"]
    assert within["ci_per_doubling"][1] < 0 and within["p"] < 0.05
    for rank in ranks:
        assert rank["lo"] <= rank["value"] <= rank["hi"]


def test_item_difficulty_confound_is_removed_by_conditioning_on_the_item() -> None:
    """Hard items think longer and fail more: the pooled slope is negative, the within-item one is not."""
    result = _overall(0.0, seed=12)
    within = result["within_item"]
    lo, hi = within["ci_per_doubling"]
    assert lo < 0 < hi
    assert within["pooled_per_doubling"] < lo  # the naive estimate lies outside the honest CI


def test_items_sampled_once_are_left_out(make_frame) -> None:  # type: ignore[no-untyped-def]
    rows = [{"sample_id": "solo", "budget": "natural", "reasoning_tokens": 50}]
    for item in range(4):
        for rep, (tokens, ok) in enumerate(((100, 1), (300, 1), (900, 0))):
            rows.append({"sample_id": f"s{item}", "budget": "natural", "repeat": rep,
                         "reasoning_tokens": tokens + item, "score": float(ok), "correct": ok,
                         "extra": {"censored": tokens == 900}})
    result = next(r.to_json() for r in analyze_natural(make_frame(rows), n_boot=200) if r.stratum == "all")
    assert result["n_items"] == 4 and result["samples_per_item"] == 3
    assert [r["value"] for r in result["ranks"]] == pytest.approx([1.0, 1.0, 0.0])
    assert result["censored"] == 4


def test_no_natural_records_gives_no_results(make_frame) -> None:  # type: ignore[no-untyped-def]
    frame = make_frame([{"sample_id": "a", "budget": "0"}, {"sample_id": "a", "budget": "256"}])
    assert analyze_natural(frame) == []
