"""Figure functions: pure (data in, Figure out), PNG + SVG output, names are never parsed as math."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from overthink.analysis.frame import tidy
from overthink.analysis.simulate import simulate_frame
from overthink.analysis.summary import analyze
from overthink.report import figures


@pytest.fixture(scope="module")
def analysed():  # type: ignore[no-untyped-def]
    frame = tidy(simulate_frame({0: 0.9, 1024: 0.8, 4096: 0.7}, 60, 3, 2, natural=True,
                                control_curve={0: 0.9, 1024: 0.9, 4096: 0.9}, control_fraction=0.3))
    return frame, analyze(frame, n_boot=200).to_json()


def test_every_figure_renders_and_saves_png_and_svg(analysed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frame, result = analysed
    budgets = [p["budget"] for p in result["curves"][0]["points"]]
    made = [
        figures.scaling_curves(result["curves"], "$model$ / task_with_$dollar"),
        figures.token_boxplots(frame, [*budgets, "natural"], "tokens"),
        figures.natural_ranks(result["natural"], "natural"),
        figures.failure_panels([("looping", budgets, {"share": [0.0, 0.1, None]}),
                                ("answers", budgets, {"a": [0.1, 0.2, 0.3], "b": [0.3, 0.2, 0.1]})], "modes"),
        figures.compute_frontier([{"strategy": s, "tokens": t, "value": v} for s, t, v in
                                  (("single", 10, 0.5), ("single", 100, 0.6), ("vote", 50, 0.55),
                                   ("vote", 500, 0.7))], "frontier", "accuracy"),
    ]
    for index, fig in enumerate(made):
        assert isinstance(fig, Figure)
        png, svg = figures.save(fig, tmp_path / f"fig{index}")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert b"<svg" in svg.read_bytes()[:500]


def test_curve_figure_draws_one_line_per_stratum(analysed) -> None:  # type: ignore[no-untyped-def]
    _, result = analysed
    fig = figures.scaling_curves(result["curves"], "curves")
    ax = fig.axes[0]
    assert len(ax.lines) == len(result["curves"]) == 3
    assert ax.get_legend().get_texts()[0].get_text().startswith("all")
    assert len(ax.collections) == 3  # one CI band each
    assert figures.to_png(fig)[:4] == b"\x89PNG"


def test_token_axis_labels_are_plain_text() -> None:
    assert figures._token_label(4096) == "4K" and figures._token_label(256) == "256"
    assert figures._token_label(0) == "0"


def test_report_adds_a_compute_frontier_when_strategies_differ() -> None:
    import pandas as pd

    from overthink.report.html import build_context

    parts = [simulate_frame({0: 0.7, 1024: 0.75, 4096: 0.8}, 30, 2, 1, strategy="single"),
             simulate_frame({0: 0.75, 1024: 0.8, 4096: 0.85}, 30, 2, 2, strategy="vote")]
    frame = tidy(pd.concat(parts, ignore_index=True))
    context = build_context(frame, analyze(frame, n_boot=100), "t", max_samples=5)
    (section,) = context["sections"]
    captions = [f["caption"] for f in section["figures"]]
    assert "Compute frontier by strategy" in captions
    assert sum(c.startswith("Main curve(s)") for c in captions) == 2
    single = tidy(parts[0])
    assert not any("frontier" in f["caption"] for f in
                   build_context(single, analyze(single, n_boot=100), "t")["sections"][0]["figures"])


def test_strata_get_one_panel_each_and_descriptive_ones_no_band() -> None:
    """Strata are small multiples beside their main curve; a 2-item stratum is dashed and unbanded."""
    from overthink.analysis.families import simulate_family
    from overthink.registry import TASKS

    frame = tidy(simulate_family(TASKS["refusal"], "flat", seed=3))
    result = analyze(frame, n_boot=200, traits={"refusal": TASKS["refusal"].traits()}).to_json()
    mains = [c for c in result["curves"] if c["main"]]
    strata = [c for c in result["curves"] if not c["main"]]
    fig = figures.strata_multiples(mains, strata, "refusal")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == len(strata) > 10
    for ax, curve in zip(panels, strata, strict=True):
        assert curve["stratum"] in ax.get_title(loc="left")
        assert len(ax.lines) == 2  # the stratum and its label's main curve in grey
        if curve["descriptive"]:
            assert "descriptive" in ax.get_title(loc="left") and not ax.collections
            assert ax.lines[1].get_linestyle() == "--"
        else:
            assert len(ax.collections) == 1
    assert figures.to_png(fig)[:4] == b"\x89PNG"
