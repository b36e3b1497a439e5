"""The equal-compute tables of `overthink compute` and of `overthink analyze` (the commands: cli/analysis.py).

Per (model, task, mode) run with several strategies, and per main curve (for refusal: harmful and benign
prompts apart), a table of every strategy's metric against its mean total compute per problem, and each
strategy against chain of thought at matched compute (analysis/equal_compute.py). Names from a store
are printed as plain text, never as console markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from overthink.cli.common import stdout_console

if TYPE_CHECKING:
    from overthink.analysis.compute_results import ComputePoint, ComputeTable


def _num(value: float | None, digits: int = 3) -> str:
    from overthink.analysis.wording import number

    return number(value, digits)


def _matched_cells(point: ComputePoint, alpha: float) -> tuple[str, str, str, str]:
    """(CoT at matched compute, difference [simultaneous CI], p, call) of one point."""
    matched = point.matched
    if matched is None:
        return "reference", "", "", ""
    if matched.kind == "none":
        return "-", "-", "-", matched.reason
    ratio = matched.ratio or 1.0
    spent = "" if abs(ratio - 1.0) < 0.01 else f"; {ratio:.2f}x its compute"
    where = (f"{_num(matched.cot_value)} at {_num(matched.cot_compute, 0)} tok ({matched.kind}: "
             f"{', '.join(matched.cot_budgets)}{spent})")
    if matched.p is None:
        return where, _num(matched.difference), "-", matched.reason
    difference = f"{_num(matched.difference)} [{_num(matched.lo)}, {_num(matched.hi)}]"
    return where, difference, f"{matched.p:.4f}" + ("" if matched.p < alpha else " n.s."), matched.call


def compute_table(table: ComputeTable) -> Table:
    """One comparison's main curve as a terminal table (cells fold, nothing is cut)."""
    size = f"{table.n_items} common problems" + (", descriptive: no test" if table.descriptive else "")
    title = (f"Equal compute: {table.model} / {table.task} ({table.mechanism}) / {table.stratum}: "
             f"{table.metric.name} against total compute per problem ({size})")
    out = Table(title=escape(title), title_justify="left")
    reference = table.reference or "cot"
    for name in ("strategy", "budget", "compute [95% CI]", f"{table.metric.name} [95% CI]",
                 f"{reference} at matched compute", "difference [simultaneous CI]", "p", "call"):
        out.add_column(escape(name), overflow="fold")
    for point in table.points:
        compute = f"{_num(point.compute, 0)} [{_num(point.compute_lo, 0)}, {_num(point.compute_hi, 0)}]"
        value = f"{_num(point.value)} [{_num(point.lo)}, {_num(point.hi)}]"
        out.add_row(escape(point.strategy), escape(point.budget), compute, value,
                    *(escape(cell) for cell in _matched_cells(point, table.alpha)))
    return out


def print_equal_compute(tables: list[ComputeTable]) -> None:
    """Every table, then one verdict line per strategy (what the figure's legend says)."""
    for table in tables:
        stdout_console.print(compute_table(table))
        for strategy in table.strategies:
            if strategy != table.reference:
                judged = table.verifiers.get(strategy)
                named = f"{strategy} (verifier {', '.join(judged)})" if judged else strategy
                stdout_console.print(escape(f"{table.model} / {table.task} / {table.stratum}: {named} "
                                            f"{table.verdict_text(strategy)}"))
        for rerank in table.reranks:
            stdout_console.print(escape(
                f"{table.model} / {table.task} / {table.stratum}: {rerank.strategy} minus {rerank.vote} at budget "
                f"{rerank.budget} (the verifier reranking the vote's samples): {_num(rerank.difference)} "
                f"[{_num(rerank.lo)}, {_num(rerank.hi)}] (pointwise 95%), for {_num(rerank.extra_compute, 0)} "
                "more tokens per problem"))
    if tables:
        alpha = tables[0].alpha
        stdout_console.print(escape(
            "Compute = each record's total tokens (every sample, probe and verifier token; docs/strategies.md). "
            "Chain of thought at a strategy's compute is interpolated in log compute between the budgets that "
            f"bracket it; intervals are simultaneous over each comparison's matched contrasts (family-wise "
            f"alpha {alpha}) and exclude zero exactly when p < alpha."))
