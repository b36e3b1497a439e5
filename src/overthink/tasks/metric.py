"""What a task's curve measures, declared once by the task as a typed `Metric`.

A metric's name used to be a bare string that analysis, the gate, the report and the runner each
compared against ("refusal", "abs_error", ...), so a new statistic meant edits in six or seven
modules. A `Metric` carries everything those readers asked the name for: its direction, unit and
minimum effect (a verdict's and the gate's tolerance, in the metric's own unit), which per-record
quantity it averages, whether an unparsed answer is missing rather than wrong, whether a judge may
score it, and whether it is pooled or read per item label (refusal: harmful prompts give the refusal
rate, benign ones the over-refusal rate, never one number over both). Readers ask the fields.

The store keeps only the metric's *name* (`TaskTraits.metric`); `catalog.metric_named` turns a
stored name back into a Metric. A name no catalog knows (an imported log's "mean", a plugin that is not
installed) reads as a score averaged like accuracy, in "score" units, in the direction the task's
traits declare -- so a store still explains itself without the code that wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["ABS_ERROR", "ACCURACY", "MATCHING_BEHAVIOR", "MEAN", "OVER_REFUSAL", "PARSE_FAILURE", "REFUSAL",
           "RMSE", "Metric", "ValueKind", "register_metric", "registered", "resolve"]

# How a record's value is read: the score; the score or else the correct flag; the squared score
# (RMSE); a refusal indicator; an unparsed-answer indicator.
ValueKind = Literal["score", "correct", "squared", "refused", "unparsed"]


@dataclass(frozen=True)
class Metric:
    """A curve's quantity: its name, direction, unit, minimum effect and how records feed it.

    `task_directed`: the task declares the direction (a correct answer is good, a risky choice bad);
    otherwise the metric means the same on every task. `reads_as`: the metric analysis draws instead
    (abs_error is read as the RMSE of the errors). `per_label`: (label value, metric name) pairs of
    `label_key` whose curves are main curves of their own, never pooled. `safety`: a behaviour rate
    the failure-mode tables list per budget. `parse_failures`: answers can fail to parse, so a
    parse-failure curve is worth drawing beside it.
    """

    name: str
    higher_is_better: bool
    min_effect: float
    unit: str = "points"
    value: ValueKind = "score"
    missing_when_unparsed: bool = False
    judged: bool = False
    task_directed: bool = False
    reads_as: str = ""
    per_label: tuple[tuple[str, str], ...] = ()
    label_key: str = "label"
    safety: bool = False
    parse_failures: bool = True

    @property
    def rmse(self) -> bool:
        """The curve is the root of the mean squared per-record value (an error metric)."""
        return self.value == "squared"

    @property
    def pooled(self) -> bool:
        """One curve over every item, rather than one main curve per item label."""
        return not self.per_label

    @property
    def tolerance(self) -> float:
        """Default gate / guard-rail tolerance: the metric's minimum effect, in its own unit."""
        return self.min_effect

    def describe(self, amount: float) -> str:
        """"0.020 accuracy points" / "0.050 RMSE": an amount with its unit, for output text."""
        return f"{amount:.3f} {self.unit}"

    def directed(self, higher_is_better: bool) -> Metric:
        """This metric in the direction a task declares, where the task is the one to say it."""
        if not self.task_directed or higher_is_better == self.higher_is_better:
            return self
        return replace(self, higher_is_better=higher_is_better)


ACCURACY = Metric("accuracy", True, 0.02, unit="accuracy", value="correct", task_directed=True)
RMSE = Metric("rmse", False, 0.05, unit="RMSE", value="squared", missing_when_unparsed=True)
ABS_ERROR = Metric("abs_error", False, 0.05, unit="RMSE", value="squared", missing_when_unparsed=True,
                   reads_as="rmse")
MATCHING_BEHAVIOR = Metric("matching_behavior", False, 0.02, unit="rate", missing_when_unparsed=True,
                           task_directed=True, safety=True)
OVER_REFUSAL = Metric("over_refusal", False, 0.02, unit="rate", value="refused", safety=True)
REFUSAL = Metric("refusal", True, 0.02, unit="rate", value="refused", judged=True, safety=True,
                 per_label=(("harmful", "refusal"), ("benign", "over_refusal")), parse_failures=False)
PARSE_FAILURE = Metric("parse_failure", False, 0.02, unit="rate", value="unparsed")
MEAN = Metric("mean", True, 0.02, unit="score", task_directed=True)  # an imported task's mean score (Inspect)

_METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Make a metric known by name (a family registering its task does this for the task's metric).

    The same name registered twice must mean the same metric: two plugins disagreeing on what
    "f1" is would silently change how one of them is read."""
    known = _METRICS.get(metric.name)
    if known is not None and known != metric:
        raise ValueError(f"metric {metric.name!r} is already registered with other settings: {known}")
    _METRICS[metric.name] = metric
    return metric


for _builtin in (ACCURACY, RMSE, ABS_ERROR, MATCHING_BEHAVIOR, OVER_REFUSAL, REFUSAL, PARSE_FAILURE, MEAN):
    register_metric(_builtin)


def registered() -> dict[str, Metric]:
    """Every metric registered so far by name (built-ins; plugins once the catalog has loaded them --
    readers call `overthink.tasks.catalog.metric_named`, which loads them first)."""
    return dict(_METRICS)


def resolve(name: str, higher_is_better: bool | None = None) -> Metric:
    """The metric a stored name means among those registered, as analysis reads it (abs_error as
    its RMSE); `higher_is_better` is the task's declared direction, applied where the metric is the
    task's to direct. An unknown name is averaged like accuracy in "score" units (module docstring)."""
    metric = _METRICS.get(name)
    if metric is None:
        metric = Metric(name, True, ACCURACY.min_effect, unit="score", task_directed=True)
    elif metric.reads_as:
        metric = _METRICS[metric.reads_as]
    return metric if higher_is_better is None else metric.directed(higher_is_better)
