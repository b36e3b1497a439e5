"""The crystallization figure: the share of traces decided by t thinking tokens, one line per budget.

A pure function like report/figures.py (data in, Figure out, mathtext off through its STYLE): one
panel per label of a probed family, x = thinking tokens of the prefix, y = the share of traces whose
decision never changed after that prefix (through the budget's own answer), with the 95% problem-
bootstrap band. A curve that reaches 1 early says the decision crystallized early; a curve that
stays low until the budget says the answer was still moving when thinking was cut.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from overthink.report.figures import _new


def crystallization_figure(family: dict[str, Any]) -> Figure:
    """Share decided vs tokens for every budget of each label of one probed family."""
    groups = family["groups"]
    fig, axes = _new(width=3.6 * max(1, len(groups)), height=3.2, ncols=max(1, len(groups)))
    for ax, group in zip(axes[0], groups, strict=False):
        for row in group["budgets"]:
            decided = row["decided"]
            if len(decided) < 2:
                continue  # budget 0 has only its own answer: nothing to draw
            x = np.array([d["tokens"] for d in decided], dtype=float)
            y, lo, hi = (np.array([np.nan if d[k] is None else d[k] for d in decided], dtype=float)
                         for k in ("share", "lo", "hi"))
            (line,) = ax.plot(x, y, marker=".", label=f"budget {row['budget']}")
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("thinking tokens of the prefix")
        ax.set_ylabel("share of traces decided")
        ax.set_title(f"label {group['label']} ({group['n_items']} items)", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Crystallization: {family['model']} / {family['task']} ({family['strategy']})", fontsize=9)
    fig.tight_layout()
    return fig
