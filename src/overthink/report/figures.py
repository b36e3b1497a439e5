"""Matplotlib figures for the report: one pure function per figure, data in, Figure out.

Nothing here reads a store or writes a file except `save` (PNG and SVG side by side) and `to_png`
(bytes for embedding). The Agg backend is forced so figures render on headless machines, and
mathtext is switched off because model and task names come from the store and a `$` in a name must
stay a dollar sign, not become a formula (or a parse error).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

STYLE: Any = {"text.parse_math": False, "axes.spines.top": False, "axes.spines.right": False,
         "figure.dpi": 100, "savefig.dpi": 110, "font.size": 9}
LINTHRESH = 64.0  # tokens below which the x axis is linear (so budget 0 fits on a log-like axis)


def _new(width: float = 6.4, height: float = 3.8, ncols: int = 1, nrows: int = 1) -> tuple[Figure, Any]:
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    return fig, axes


def _token_label(value: float, _pos: object = None) -> str:
    """4096 -> "4K": plain text ticks (mathtext is off, so the default log labels would show TeX)."""
    if value >= 1024:
        return f"{value / 1024:g}K"
    return f"{value:g}"


def _token_scale(ax: Any, axis: str = "x") -> None:
    """Symmetric-log token axis (0 stays visible) with ticks at 0 and powers of two, so common budgets
    (128, 512, 2K, 8K as well as 64, 256, 1K, 4K, 16K) are labelled."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    getattr(ax, f"set_{axis}scale")("symlog", linthresh=LINTHRESH)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator([0.0] + [2.0**k for k in range(4, 18)]))
    target.set_major_formatter(FuncFormatter(_token_label))
    target.set_minor_locator(NullLocator())


def _tokens_axis(ax: Any) -> None:
    _token_scale(ax, "x")
    ax.set_xlabel("mean realized reasoning tokens")
    ax.grid(alpha=0.3)


def _xy(curve: Mapping[str, Any]) -> tuple[np.ndarray, ...]:
    """Tokens, values and band of a curve summary (None -> NaN)."""
    points = curve["points"]

    def column(name: str) -> np.ndarray:
        return np.array([p[name] if p[name] is not None else np.nan for p in points], float)

    return column("tokens"), column("value"), column("lo"), column("hi")


def _verdict_label(curve: Mapping[str, Any]) -> str:
    verdict = curve.get("verdict") or {}
    return f"{verdict.get('arrow', '')} {verdict.get('verdict', '')}".strip()


def scaling_curves(curves: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """Metric vs realized tokens, one line with its 95% band per curve (curve summaries as input).

    Meant for a family's main curve(s): one or two lines whose bands stay legible. Strata go to
    `strata_multiples`, one small panel each.
    """
    fig, axes = _new()
    ax = axes[0][0]
    with plt.rc_context(STYLE):
        for curve in curves:
            x, y, lo, hi = _xy(curve)
            label = f"{curve['stratum']} ({curve['metric']}) {_verdict_label(curve)}".strip()
            (line,) = ax.plot(x, y, marker="o", linewidth=2.2 if curve.get("main", True) else 1.2, label=label)
            ax.fill_between(x, lo, hi, alpha=0.15, color=line.get_color(), linewidth=0)
        _tokens_axis(ax)
        if curves:
            ax.set_ylabel(" / ".join(dict.fromkeys(str(c["metric"]) for c in curves)))
        ax.set_title(title, loc="left")
        ax.legend(fontsize=7, frameon=False, loc="best")
        fig.tight_layout()
    return fig


def _reference(mains: Sequence[Mapping[str, Any]], stratum: str) -> Mapping[str, Any] | None:
    """The main curve a stratum splits: `all`, or for refusal the label curve it starts with."""
    for main in mains:
        if main["stratum"] == "all" or stratum.startswith(f"{main['stratum']},"):
            return main
    return None


def strata_multiples(mains: Sequence[Mapping[str, Any]], strata: Sequence[Mapping[str, Any]], title: str,
                     columns: int = 4) -> Figure:
    """One small panel per stratum, its band, and its main curve in grey for reference.

    Descriptive strata (too few common problems for a test) are drawn dashed, without a band, and
    say so in their panel title, so nobody reads a 2-item line as a finding.
    """
    count = max(1, len(strata))
    ncols = min(columns, count)
    nrows = int(np.ceil(count / ncols))
    fig, axes = _new(width=2.6 * ncols + 0.6, height=2.1 * nrows + 0.6, ncols=ncols, nrows=nrows)
    with plt.rc_context(STYLE):
        for index in range(nrows * ncols):
            ax = axes[index // ncols][index % ncols]
            if index >= len(strata):
                ax.set_visible(False)
                continue
            curve = strata[index]
            main = _reference(mains, str(curve["stratum"]))
            if main is not None:
                mx, my, _, _ = _xy(main)
                ax.plot(mx, my, color="#9aa3b2", linewidth=1.0)
            x, y, lo, hi = _xy(curve)
            descriptive = bool(curve.get("descriptive"))
            ax.plot(x, y, marker="o", markersize=3, linewidth=1.3, linestyle="--" if descriptive else "-")
            if not descriptive:
                ax.fill_between(x, lo, hi, alpha=0.2, linewidth=0)
            note = "descriptive" if descriptive else _verdict_label(curve)
            ax.set_title(f"{curve['stratum']}\n{curve['n_items']} items · {note}", fontsize=7, loc="left")
            _token_scale(ax, "x")
            ax.tick_params(labelsize=6)
            ax.grid(alpha=0.3)
        fig.suptitle(title, x=0.01, ha="left", fontsize=9)
        fig.tight_layout()
    return fig


def token_boxplots(frame: pd.DataFrame, budgets: Sequence[str], title: str) -> Figure:
    """Realized reasoning tokens per requested budget (boxes) with the request marked (red ticks)."""
    fig, axes = _new()
    ax = axes[0][0]
    with plt.rc_context(STYLE):
        data = [frame.loc[frame["budget"] == b, "realized"].dropna().to_numpy(float) for b in budgets]
        kept = [(b, d) for b, d in zip(budgets, data, strict=True) if d.size]
        if kept:
            ax.boxplot([d for _, d in kept], showfliers=False)
            ax.set_xticks(range(1, len(kept) + 1), [b for b, _ in kept], rotation=30)
            for i, (budget, _) in enumerate(kept, start=1):
                requested = frame.loc[frame["budget"] == budget, "budget_tokens"].iloc[0]
                if pd.notna(requested):
                    ax.plot([i - 0.3, i + 0.3], [requested, requested], color="tab:red", linewidth=1.5)
        _token_scale(ax, "y")
        ax.set_xlabel("budget (red: requested tokens)")
        ax.set_ylabel("realized reasoning tokens")
        ax.set_title(title, loc="left")
        fig.tight_layout()
    return fig


def natural_ranks(results: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """Metric by length rank within item (1 = shortest sample), one line per stratum, 95% CI bars."""
    fig, axes = _new()
    ax = axes[0][0]
    with plt.rc_context(STYLE):
        for result in results:
            ranks = result["ranks"]
            x = [r["rank"] for r in ranks]
            y = np.array([r["value"] for r in ranks], float)
            err = np.array([[r["value"] - r["lo"] for r in ranks],
                            [r["hi"] - r["value"] for r in ranks]], float)
            effect = result["within_item"]["per_doubling"]
            text = "n/a" if effect is None else f"{effect:+.3f}"
            ax.errorbar(x, y, yerr=np.abs(err), marker="o", capsize=3,
                        label=f"{result['stratum']} (within-item {text}/doubling)")
        ax.set_xlabel("length rank within item (1 = shortest)")
        if results:
            ax.set_ylabel(str(results[0]["metric"]))
            ax.set_xticks([r["rank"] for r in results[0]["ranks"]])
        ax.set_title(title, loc="left")
        ax.legend(fontsize=7, frameon=False)
        ax.grid(alpha=0.3)
        fig.tight_layout()
    return fig


def failure_panels(panels: Sequence[tuple[str, Sequence[str], Mapping[str, Sequence[float | None]]]],
                   title: str) -> Figure:
    """Small multiples: each panel is (title, budget labels, {series name: values per budget})."""
    count = max(1, len(panels))
    ncols = min(3, count)
    nrows = (count + ncols - 1) // ncols
    fig, axes = _new(width=3.4 * ncols, height=2.7 * nrows, ncols=ncols, nrows=nrows)
    with plt.rc_context(STYLE):
        flat = [ax for row in axes for ax in row]
        for ax, (name, budgets, series) in zip(flat, panels, strict=False):
            for label, values in series.items():
                y = [np.nan if v is None else v for v in values]
                ax.plot(range(len(budgets)), y, marker="o", label=label)
            ax.set_xticks(range(len(budgets)), list(budgets), rotation=30, fontsize=7)
            ax.set_title(name, loc="left", fontsize=9)
            ax.grid(alpha=0.3)
            if len(series) > 1:
                ax.legend(fontsize=6, frameon=False)
        for ax in flat[len(panels):]:
            ax.set_visible(False)
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
        fig.tight_layout()
    return fig


def _compute_axis(ax: Any) -> None:
    """Log compute axis (compute is never 0: every answer costs tokens) with power-of-two ticks."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([2.0**k for k in range(0, 21)]))
    ax.xaxis.set_major_formatter(FuncFormatter(_token_label))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("mean total compute per problem (tokens, log)")
    ax.grid(alpha=0.3)


def _column(points: Sequence[Mapping[str, Any]], name: str, index: int | None = None) -> np.ndarray:
    values = [p[name] if index is None else p[name][index] for p in points]
    return np.array([np.nan if v is None else v for v in values], float)


def equal_compute(tables: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """Every strategy on one log compute axis with its 95% band, one panel per main curve (for refusal:
    refusal of harmful and over-refusal of benign prompts), each y axis named by its metric.

    Input: `ComputeTable.to_json()` dicts of one (model, task). The chain-of-thought reference is drawn
    thicker; a budget significantly better or worse than it at matched compute is ringed (the legend
    names each strategy's verdict)."""
    count = max(1, len(tables))
    fig, axes = _new(width=min(13.0, 5.4 * count + 0.6), height=3.9, ncols=count)
    with plt.rc_context(STYLE):
        for ax, table in zip(axes[0], tables, strict=False):
            for strategy in table["strategies"]:
                mine = sorted((p for p in table["points"] if p["strategy"] == strategy), key=lambda p: p["compute"])
                x, y = _column(mine, "compute"), _column(mine, "value")
                verdict = next((v["verdict"] for v in table["verdicts"] if v["strategy"] == strategy), "")
                label = strategy if strategy == table["reference"] or not verdict else f"{strategy} ({verdict})"
                (line,) = ax.plot(x, y, marker="o", markersize=4, label=label,
                                  linewidth=2.4 if strategy == table["reference"] else 1.5)
                ax.fill_between(x, _column(mine, "ci", 0), _column(mine, "ci", 1), alpha=0.15,
                                color=line.get_color(), linewidth=0)
                for point in mine:
                    call = (point.get("matched") or {}).get("call")
                    if call in ("better", "worse"):
                        ax.plot([point["compute"]], [point["value"]], marker="o", markersize=10, linewidth=0,
                                markerfacecolor="none", markeredgecolor=line.get_color(), markeredgewidth=1.5)
            _compute_axis(ax)
            ax.set_ylabel(str(table["metric"]))
            ax.set_title(f"{table['stratum']} · {table['n_items']} problems", loc="left", fontsize=8)
            ax.legend(fontsize=7, frameon=False, loc="best")
        fig.suptitle(title, x=0.01, ha="left", fontsize=9)
        fig.tight_layout()
    return fig


def to_png(fig: Figure) -> bytes:
    """PNG bytes of a figure (then closed, so long reports do not pile up open figures)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def save(fig: Figure, stem: str | Path) -> list[Path]:
    """Write `stem.png` and `stem.svg`; returns both paths."""
    base = Path(stem)
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(".png"), base.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path)
    plt.close(fig)
    return paths
