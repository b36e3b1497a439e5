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
        figures.equal_compute(_two_strategies()[1]["equal_compute"], "equal compute"),
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


def _two_strategies():  # type: ignore[no-untyped-def]
    """cot and a vote costing three chains per record, on the same 30 problems."""
    import pandas as pd

    cot = simulate_frame({0: 0.7, 1024: 0.75, 4096: 0.8}, 30, 2, 1, strategy="cot")
    vote = simulate_frame({0: 0.75, 1024: 0.8, 4096: 0.85}, 30, 2, 2, strategy="vote@3")
    vote["compute_tokens"] = 3 * vote["compute_tokens"]
    frame = tidy(pd.concat([cot, vote], ignore_index=True))
    return frame, analyze(frame, n_boot=100).to_json()


def test_report_has_the_equal_compute_figure_and_table_only_when_strategies_differ() -> None:
    from overthink.report.html import build_context, render

    frame, _ = _two_strategies()
    context = build_context(frame, analyze(frame, n_boot=100), "t", max_samples=5)
    (section,) = context["sections"]
    assert next(f["caption"] for f in section["compute_figures"]).startswith("Equal compute: ")
    assert sum(f["caption"].startswith("Main curve(s)") for f in section["figures"]) == 2
    (table,) = section["compute"]
    assert table["strategies"] == ["cot", "vote@3"] and table["stratum"] == "all"
    html = render(context)
    assert "Equal compute: strategies against chain of thought" in html and 'class="equal-compute"' in html
    single = tidy(simulate_frame({0: 0.7, 1024: 0.75}, 30, 2, 1))
    (alone,) = build_context(single, analyze(single, n_boot=100), "t")["sections"]
    assert alone["compute"] == [] and alone["compute_figures"] == []


def test_equal_compute_figure_puts_every_strategy_on_one_log_axis_named_by_the_metric() -> None:
    from overthink.analysis.families import simulate_family
    from overthink.registry import TASKS

    family = TASKS["refusal"]
    cot = simulate_family(family, "flat", seed=3, repeats=1)
    vote = cot.assign(strategy="vote@3", compute_tokens=cot["compute_tokens"] * 3)
    import pandas as pd

    frame = tidy(pd.concat([cot, vote], ignore_index=True))
    tables = analyze(frame, n_boot=100, traits={"refusal": family.traits()}).to_json()["equal_compute"]
    fig = figures.equal_compute(tables, "refusal")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2  # harmful (refusal) and benign (over-refusal), never pooled
    assert sorted(ax.get_ylabel() for ax in panels) == sorted(t["metric"] for t in tables)
    assert len({ax.get_ylabel() for ax in panels}) == 2
    for ax in panels:
        assert ax.get_xscale() == "log" and "compute" in ax.get_xlabel()
        assert len(ax.collections) == 2  # one band per strategy
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert texts[0] == "cot" and texts[1].startswith("vote@3 (")
    assert figures.to_png(fig)[:4] == b"\x89PNG"


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
