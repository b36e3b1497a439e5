"""Budget parsing for the command line and configs, and the documented per-provider mapping table.

The mapping from a token budget to a provider's effort level is the paper's: low for [1024, 4096),
medium for [4096, 8192), high from 8192. Every record says which mechanism and mapping produced it.
"""

from __future__ import annotations

from collections.abc import Sequence

from overthink.errors import UserError
from overthink.types import Budget, BudgetKind, Mechanism

# a sweep's `mode` (config and --mode) -> the mechanism its budgets are spent by; "natural" sweeps run
# the forced engine with no cap and record one natural-end budget
MODES = {"forced": Mechanism.FORCED, "prompt": Mechanism.PROMPT, "native": Mechanism.NATIVE,
         "natural": Mechanism.FORCED}

# (lower bound inclusive, effort) in ascending order; budgets below the first bound map to "minimal".
EFFORT_TABLE: tuple[tuple[int, str], ...] = ((1024, "low"), (4096, "medium"), (8192, "high"))


def effort_for_tokens(tokens: int) -> str:
    """Map a token budget to an effort level by the paper's table."""
    level = "minimal"
    for bound, effort in EFFORT_TABLE:
        if tokens >= bound:
            level = effort
    return level


def parse_budgets(text: str | Sequence[str], mechanism: Mechanism) -> list[Budget]:
    """Parse "0,256,1024" (or a list) into unique budgets, in the given order; ValueError on bad input."""
    items = text.split(",") if isinstance(text, str) else list(text)
    budgets: list[Budget] = []
    for item in items:
        if not str(item).strip():
            continue
        budget = Budget.parse(str(item), mechanism)
        if budget.kind is BudgetKind.NATURAL:
            budget = Budget(BudgetKind.NATURAL, None, mechanism)
        if budget not in budgets:
            budgets.append(budget)
    if not budgets:
        raise ValueError("no budgets given (use e.g. --budgets 0,256,1024)")
    return budgets


def budgets_for(mode: str, texts: str | Sequence[str], *, add_natural: bool) -> list[Budget]:
    """The budgets a sweep of `mode` records (a bad budget is a UserError naming it). Forced sweeps with
    `add_natural` (chain of thought) also record the free natural end of the longest trace."""
    mechanism = MODES[mode]
    if mode == "natural":
        return [Budget(BudgetKind.NATURAL, None, mechanism)]
    try:
        budgets = parse_budgets(texts, mechanism)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if add_natural and mode == "forced" and not any(b.kind is BudgetKind.NATURAL for b in budgets):
        budgets.append(Budget(BudgetKind.NATURAL, None, mechanism))
    return budgets
