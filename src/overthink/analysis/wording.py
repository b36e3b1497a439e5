"""How results read in words: one place for the phrases the CLI, the findings and the report share.

Small stores and stores with several strategies are where printed output misled (issue 16): a
`p=1.0000` beside a curve that was never tested, "inverse" beside a slope that was not significant
(or pointed up) with nothing naming the test that made the call, "fell 0.100" for an error that
rose, percentages resting on one pair, and the same line three times for three strategies. These
helpers make each of those impossible to print by accident: an untested curve has no p-value in
words, a verdict names its test, a direction is said in the metric's own terms with "worse" or
"better", a share below the minimum count is given as a count, and a family's name carries its
mechanism and strategy whenever the reader could confuse it with another.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from overthink.analysis.bootstrap import Curve
from overthink.analysis.inference import MIN_ITEMS
from overthink.analysis.results import Verdict

TREND_CALLS = ("inverse", "positive")
DEFAULT_MODE = ("forced", "single")


def number(value: float | None, digits: int = 3, reason: str = "") -> str:
    """A finite number, else "n/a" (with its reason): NaN never reaches printed output."""
    if value is None or not math.isfinite(value):
        return f"n/a ({reason})" if reason else "n/a"
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 3, reason: str = "") -> str:
    """As `number`, with an explicit sign (+0.020 / -0.020)."""
    if value is None or not math.isfinite(value):
        return f"n/a ({reason})" if reason else "n/a"
    return f"{value:+.{digits}f}"


class FamilyNames:
    """Names of (model, task, mechanism, strategy) families for printed lines.

    The mechanism and strategy are named whenever they are not the default (forced, single), and
    always when the same (model, task) appears under more than one of them: three strategies must
    never print three identical lines."""

    def __init__(self, families: Iterable[tuple[str, str, str, str]]) -> None:
        modes: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for model, task, mechanism, strategy in families:
            modes.setdefault((str(model), str(task)), set()).add((str(mechanism), str(strategy)))
        self._several = {key for key, found in modes.items() if len(found) > 1}

    def __call__(self, model: str, task: str, mechanism: str, strategy: str) -> str:
        named = (mechanism, strategy) != DEFAULT_MODE or (model, task) in self._several
        return f"{model} / {task}" + (f" ({mechanism}, {strategy})" if named else "")

    def of(self, item: dict[str, object]) -> str:
        """The name of a diagnostic row (a dict with model, task, mechanism, strategy and, when it is
        one main curve of several such as refusal's "label=harmful", its stratum)."""
        name = self(str(item["model"]), str(item["task"]), str(item.get("mechanism", "forced")),
                    str(item.get("strategy", "single")))
        stratum = item.get("stratum")
        return name if stratum in (None, "all") else f"{name} ({stratum})"


def plural(count: int, word: str) -> str:
    """"1 pair", "20 pairs" (regular English plurals only: pair, problem, trace, item)."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def significance(p: float, alpha: float) -> str:
    """"p=0.0030" or "p=0.4100, not significant" (adjusted p against the family-wise alpha)."""
    return f"p={p:.4f}" if p < alpha else f"p={p:.4f}, not significant"


def _at(curve: Curve, budget: str) -> str:
    position = curve.budgets.index(budget) if budget in curve.budgets else -1
    return number(float(curve.values[position])) if position >= 0 else "n/a"


def loss_test(curve: Curve) -> str:
    """"loss test: 0.820 at 0 → 0.700 at 4096, p=0.0030" (metric values at the pair's two budgets)."""
    v = curve.verdict
    assert v is not None and v.loss is not None
    loss = v.loss
    return (f"loss test: {_at(curve, loss.from_budget)} at {loss.from_budget} → {_at(curve, loss.to_budget)} "
            f"at {loss.to_budget}, {significance(loss.p, v.alpha)}")


def slope_test(v: Verdict) -> str:
    """"slope test: fitted change -0.080, p=0.0010" (the change over the observed token range)."""
    return f"slope test: fitted change {signed(v.effect)}, {significance(v.p, v.alpha)}"


def call_text(curve: Curve, *, reasons: bool = True) -> str:
    """The call and what made it: "inverse (loss test: ...)", "not tested: only 6 common problems ...".

    An inverse or positive call names the test(s) that made it; flat and noisy carry their reason
    (unless `reasons` is False: a table shows the numbers beside it)."""
    v = curve.verdict
    assert v is not None
    if not v.tested:
        return f"not tested: {untested_reason(curve)}"
    if v.call not in TREND_CALLS:
        return f"{v.call} ({v.reason})" if reasons else v.call
    tests = []
    if "slope" in v.reason:
        tests.append(slope_test(v))
    if "loss" in v.reason and v.loss is not None:
        tests.append(loss_test(curve))
    return f"{v.call} ({'; '.join(tests)})" if tests else v.call


def untested_reason(curve: Curve) -> str:
    """Why a curve has no verdict, with its count ("only 6 common problems (a verdict needs 10)")."""
    v = curve.verdict
    if v is not None and "budgets" in v.reason:
        return v.reason
    units = min(curve.n_items, curve.n_clusters or curve.n_items)
    what = "common problems" if units == curve.n_items else "independent clusters"
    return f"only {units} {what} (a verdict needs {MIN_ITEMS})"


def phases_shown(curve: Curve) -> bool:
    """Phases are printed only for curves whose verdict found a trend (a noisy or untested curve's
    segments are an artefact of the breakpoint search, not a finding)."""
    v, phases = curve.verdict, curve.phases
    return (v is not None and v.call in TREND_CALLS and phases is not None and bool(phases.segments)
            and phases.n_breakpoints > 0)


def phases_text(curve: Curve) -> str:
    """The phases in words with every breakpoint's 95% interval in tokens, "improve-plateau-degrade
    @ 2,013 [503, 2,014], 8,064 [4,025, 8,059] tokens (95% CI)"; "" when not shown (no trend)."""
    phases = curve.phases
    if phases is None or not phases_shown(curve):
        return ""
    points = ", ".join(f"{b.tokens:,.0f} [{b.ci[0]:,.0f}, {b.ci[1]:,.0f}]" for b in phases.breakpoints)
    return phases.pattern + (f" @ {points} tokens (95% CI)" if points else "")


def change(metric: str, amount: float, higher_is_better: bool) -> str:
    """A drop in goodness units said in the metric's terms: "accuracy fell 0.100 (worse)",
    "abs_error rose 0.110 (worse)", "abs_error fell 0.020 (better)"."""
    if not math.isfinite(amount):
        return f"{metric} n/a (no items at both budgets)"
    raw = -amount if higher_is_better else amount  # change of the metric itself
    verb = "rose" if raw > 0 else "fell" if raw < 0 else "did not change"
    if raw == 0:
        return f"{metric} {verb}"
    return f"{metric} {verb} {abs(raw):.3f} ({'worse' if amount > 0 else 'better'})"


def share(count: int, total: int, minimum: int = MIN_ITEMS) -> str:
    """"15 of 20 (75%)", or only the count below `minimum` ("1 of 1, too few for a share")."""
    if total < minimum:
        return f"{count} of {total}, too few for a share"
    return f"{count} of {total} ({count / total:.0%})"
