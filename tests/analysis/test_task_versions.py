"""A store holding two versions of a task (a sweep resumed after an upgrade) is analysed at the newest
version only, and says how many records of the older one it left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from overthink.analysis.bootstrap import build_curves
from overthink.analysis.summary import analyze
from overthink.analysis.versions import latest_versions

Builder = Callable[[list[dict[str, Any]]], pd.DataFrame]


def _rows(version: str, correct_at: dict[str, int], created: float, n: int = 20) -> list[dict[str, Any]]:
    """n items at each budget; the first correct_at[budget] are right."""
    return [{"sample_id": f"s{i}", "budget": budget, "task_version": version, "created_at": created + i,
             "correct": int(i < right), "score": float(i < right)}
            for budget, right in correct_at.items() for i in range(n)]


def test_the_newest_version_alone_makes_the_curve(make_frame: Builder) -> None:
    old = _rows("1", {"0": 20, "256": 4}, created=1_000.0)  # version 1's scorer: a steep decline
    new = _rows("2", {"0": 16, "256": 16}, created=9_000.0)  # version 2: flat
    frame = make_frame(old + new)
    kept, set_aside = latest_versions(frame)
    assert set(kept["task_version"]) == {"2"} and len(kept) == 40
    assert [(s.kept, s.older, s.records) for s in set_aside] == [("2", ("1",), 40)]

    (curve,) = [c for c in build_curves(frame, n_boot=200) if c.main]
    assert [round(p.value, 2) for p in curve.points] == [0.8, 0.8]  # not the mix (0.9 -> 0.5)
    analysis = analyze(frame, n_boot=200)
    assert analysis.counts["set_aside"] == 40
    assert any("version 1 left out" in w for w in analysis.warnings)
    assert analysis.to_json()["set_aside"][0]["records"] == 40


def test_one_version_is_left_alone(make_frame: Builder) -> None:
    frame = make_frame(_rows("1", {"0": 10, "256": 12}, created=5.0))
    kept, set_aside = latest_versions(frame)
    assert set_aside == [] and len(kept) == len(frame)
    assert "set_aside" not in analyze(frame, n_boot=200).counts
