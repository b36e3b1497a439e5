"""`overthink analyze`'s "Inside the trace" text: crystallization from probes and flips between budgets.

Kept apart from cli/analysis.py so the verdict tables and these read-outs each stay one module; the
numbers are `Analysis.crystallization` and `Analysis.flips` (analysis/crystallize.py, analysis/flips.py),
the same `analyze --json` prints. Every model string is escaped before it reaches rich markup.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from overthink.analysis.summary import Analysis
from overthink.cli.common import stdout_console


def _rate(value: dict[str, Any]) -> str:
    rate, lo, hi = value.get("rate"), value.get("lo"), value.get("hi")
    if rate is None or rate != rate:
        return "-"
    return f"{rate:.2f} [{lo:.2f}, {hi:.2f}]"


def _trend(trend: dict[str, Any]) -> str:
    if trend.get("p") is None:
        return f"slope {trend['slope_per_doubling']:.3f}/doubling (descriptive: {trend['n_items']} items)" \
            if trend.get("slope_per_doubling") == trend.get("slope_per_doubling") else "not testable"
    verdict = "RISES" if trend["rises"] else "no rise shown"
    return (f"{verdict}: slope {trend['slope_per_doubling']:+.3f}/doubling, lower bound {trend['lower']:+.3f}, "
            f"p={trend['p']:.3f} (family-wise over {trend['tested_with']})")


def print_crystallization(families: list[dict[str, Any]]) -> None:
    """Per family and label: when traces were decided, agreement, reasoned-around, and the trend test."""
    for family in families:
        head = f"{family['model']} / {family['task']} / {family['strategy']} (probe grid {family['grid'][:1]}..)"
        stdout_console.print(f"\n[bold]Crystallization[/] {escape(head)}")
        for group in family["groups"]:
            stdout_console.print(f"  label {escape(group['label'])} ({group['n_items']} items): reasoned around "
                                 f"(window < {group['window']}) {escape(_trend(group['trend']))}")
            for row in group["budgets"]:
                half = next((d["tokens"] for d in row["decided"] if d["share"] >= 0.5), None)
                stdout_console.print(
                    f"    budget {escape(row['budget'])}: half decided by {half if half is not None else '-'} "
                    f"tokens, mean point {row['mean_crystallized']:.0f}; earliest = final "
                    f"{_rate(row['agrees'])}; reasoned around {_rate(row['around'])}; reverse {_rate(row['reverse'])}")


def print_flips(flips: dict[str, Any]) -> None:
    """Counts of decision changes between budgets, by kind and label."""
    if not flips.get("counts"):
        return
    stdout_console.print(f"\n[bold]Flips between budgets[/] ({flips['total']} in all; browse them in the report)")
    for row in flips["counts"]:
        where = f"{row['model']} / {row['task']} / {row['strategy']} / {row['label']}"
        stdout_console.print(f"  {escape(where)}: {escape(row['kind'])} x{row['n']}")


def print_inside(analysis: Analysis) -> None:
    """Both read-outs, when the store has what they need."""
    print_crystallization(analysis.crystallization)
    print_flips(analysis.flips)
