"""What the release gate says about one check, and the JUnit XML a CI system reads.

One `GateResult` per check: a curve's loss test (`check = "metric"`) or, for a main curve that lost
items, its error-share and unparsed-share tests (`"errors"`, `"unparsed"`). Untested curves
(descriptive, or left out by --budgets) are results too, with `gated = False`: the output and the
JUnit file name them as skipped instead of letting them vanish from a count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree

from overthink.analysis.bootstrap import Curve

CHECK_NAMES = {"metric": "", "errors": ", error share", "unparsed": ", unparsed share"}


@dataclass(frozen=True)
class GateResult:
    model: str
    task: str
    mechanism: str
    strategy: str
    stratum: str
    metric: str
    unit: str
    higher_is_better: bool
    budgets: list[str]
    values: list[float]
    n_items: int
    failed: bool
    kind: str  # "ok" | "drop" | "u-shape" | "missing" | "descriptive" | "left out"
    reason: str
    gated: bool = True
    main: bool = True
    tolerance: float = 0.0
    worst_drop: float | None = None  # the selected pair's loss (the maximum: inflated as a size)
    lower: float | None = None  # simultaneous lower bound of the loss: > tolerance exactly when p < alpha
    p: float = 1.0  # adjusted for every curve and pair the gate checked, for the null "loss <= tolerance"
    from_budget: str | None = None
    to_budget: str | None = None
    trend: str = "-"  # the analysis verdict on the same curve (information, not gated)
    missing: list[dict[str, Any]] = field(default_factory=list)
    check: str = "metric"  # metric | errors | unparsed
    size: float | None = None  # cross-fitted largest loss: a size not inflated by the choice of pair
    # with missing items: the metric per budget with every missing item at the worst / best value seen,
    # and the reported pair's loss under those two extremes ([best case, worst case])
    missing_bounds: list[dict[str, Any]] | None = None
    loss_bounds: list[float] | None = None

    @property
    def name(self) -> str:
        part = "" if self.stratum == "all" else f", {self.stratum}"
        return f"{self.model} / {self.task} ({self.mechanism}, {self.strategy}{part}{CHECK_NAMES[self.check]})"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def base_fields(curve: Curve, tolerance: float) -> dict[str, Any]:
    """The fields every result of a curve shares."""
    data = curve.to_json()
    return dict(model=curve.model, stratum=curve.stratum, task=curve.task, mechanism=curve.mechanism,
                strategy=curve.strategy, metric=curve.metric.name, unit=curve.metric.unit,
                higher_is_better=curve.metric.higher_is_better, budgets=list(curve.budgets),
                values=[round(float(v), 6) for v in curve.values], n_items=curve.n_items, main=curve.main,
                tolerance=tolerance, trend=curve.verdict.call if curve.verdict else "-",
                missing=data["missing"], missing_bounds=data["missing_bounds"])


def junit_xml(results: list[GateResult], suite: str = "overthink-gate") -> str:
    """JUnit XML: one testcase per check; a <failure> with the reason when it fails, a <skipped> with the
    reason when it was not tested (descriptive, or left out by --budgets), counted in `skipped`."""
    failures = sum(r.failed for r in results)
    skipped = sum(not r.gated for r in results)
    root = ElementTree.Element("testsuites", name=suite, tests=str(len(results)), failures=str(failures),
                               skipped=str(skipped))
    node = ElementTree.SubElement(root, "testsuite", name=suite, tests=str(len(results)),
                                  failures=str(failures), errors="0", skipped=str(skipped))
    for result in results:
        case = ElementTree.SubElement(node, "testcase", classname=f"{suite}.{result.model}",
                                      name=result.name.split(" / ", 1)[1])
        if result.failed:
            failure = ElementTree.SubElement(case, "failure", message=result.reason, type=result.kind)
            failure.text = result.reason
        elif not result.gated:
            ElementTree.SubElement(case, "skipped", message=result.reason)
        else:
            out = ElementTree.SubElement(case, "system-out")
            out.text = result.reason
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
