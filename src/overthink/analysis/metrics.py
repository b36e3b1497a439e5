"""What a curve measures: the metric of each task, its direction, units, and which records count.

Four rules live here so every analysis applies them the same way. What each metric *is* -- its
direction, unit, minimum effect, per-record value, whether unparsed is missing, pooled or per label
-- is the task's typed `Metric` (tasks/metric.py); this module asks its fields, never its name.

* **Units.** Each metric names its unit and carries its own minimum effect (the smallest change a
  verdict calls real) and gate tolerance: 2 points of accuracy or of a rate, 0.05 RMSE on the GPA
  scale. A tolerance in accuracy points applied to an RMSE would be meaningless.
* **Missing is not wrong.** Where "no answer" is not itself an answer -- the choice of a risky
  option (ai_risk) or a numeric prediction (grades) -- an unparsed answer is missing, not safe and
  not a mid-scale guess. For accuracy an unparsed answer is a wrong answer (the task asked for one).
  The share of unparsed answers per budget is measured separately, because a rising share is itself
  a failure mode of long reasoning.
* **The store says what a task is.** A task's metric, its direction, its strata and its independent
  unit come from the traits the store declares (`TaskTraits`, the `tasks` table), passed in by the
  caller, never from the task registry: a store explains itself, including a foreign task analysis
  has no code for. A task without traits is read as accuracy, higher is better; a metric name no
  catalog knows (an imported log's "mean") is averaged like accuracy, in "score" units, in
  the direction the task declares.
* **Main curves first.** A task's main curves (the `all` stratum; for refusal each label, since
  refusing a harmful prompt is good and refusing a benign one is not) carry the headline; strata
  split them for diagnosis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from overthink.analysis.frame import META_PREFIX, strata_for
from overthink.tasks.catalog import known_metrics, metric_named
from overthink.tasks.metric import ACCURACY, Metric
from overthink.types import TaskTraits

DETAIL_REFUSED = "detail_refused"
DETAIL_PARSED = "detail_parsed"

# Task name -> the traits a store declares for it (what every analysis entry point takes).
Traits = Mapping[str, TaskTraits]
NO_TRAITS: Traits = MappingProxyType({})

# The typed metric a task declares (tasks/metric.py); analysis asks its fields, never its name.
MetricInfo = Metric


def task_metric(traits: TaskTraits | None) -> str:
    """The metric a task's traits declare; a task without traits (an old store) is scored as accuracy."""
    return traits.metric if traits is not None else ACCURACY.name


def metric_info(traits: TaskTraits | None, metric: str) -> Metric:
    """How `metric` reads on this task: the metric's own units, the task's direction where it has one.

    A metric name no catalog knows (a foreign task's own score) is averaged like accuracy, reported in
    "score" units, so an imported store still gets curves instead of a crash or a silent relabel.
    """
    return metric_named(metric, traits.higher_is_better if traits is not None else None)


def declared_metric(traits: TaskTraits | None) -> Metric:
    """The task's own metric as its curves read it (accuracy for a task without traits)."""
    return metric_info(traits, task_metric(traits))


def cluster_keys(traits: TaskTraits | None) -> tuple[str, ...]:
    """Metadata keys of a task's independent unit (the declared `cluster`, else a `cluster` key)."""
    return traits.cluster if traits is not None and traits.cluster else ("cluster",)


def traits_with_fallback(stored: Traits, fallback: Traits) -> dict[str, TaskTraits]:
    """The store's declared traits, filled in from `fallback` for tasks the store does not declare.

    Stores written before traits were kept declare none; the command line passes the registry's
    traits as the fallback so they analyse as before, while a store's own declaration always wins.
    """
    return {**fallback, **stored}


def unparsed(frame: pd.DataFrame) -> pd.Series:
    """Finished records whose answer could not be read (no extracted answer, or parsed = false)."""
    ok = frame["status"] == "ok" if "status" in frame.columns else pd.Series(True, index=frame.index)
    flag = pd.Series(False, index=frame.index)
    if DETAIL_PARSED in frame.columns:
        flag |= frame[DETAIL_PARSED].eq(False)  # vectorized: False and 0 (not None / NaN) mean unparsed
    if "extracted" in frame.columns:
        flag |= frame["extracted"].isna()
    return ok & flag


def record_values(frame: pd.DataFrame, metric: str) -> pd.Series:
    """The per-record quantity a metric averages (squared error for RMSE, refusal indicator, ...).

    NaN marks a record that does not count: an error, or an unparsed answer where that is missing.
    """
    info = metric_named(metric)
    score = frame["score"].astype(float) if "score" in frame else pd.Series(np.nan, index=frame.index)
    if info.value == "refused":
        values = _refused(frame, score, info)
    elif info.value == "unparsed":
        values = unparsed(frame).astype(float)
    elif info.value == "squared":
        values = score**2
    elif info.value == "correct" and "correct" in frame.columns and frame["score"].isna().all():
        values = frame["correct"].astype(float)
    else:
        values = score
    if info.missing_when_unparsed:
        values = values.where(~unparsed(frame))
    if "status" in frame.columns:
        values = values.where(frame["status"] == "ok")
    return values


def _refused(frame: pd.DataFrame, score: pd.Series, info: Metric) -> pd.Series:
    """The refusal indicator: the scorer's `refused` detail, else read from correctness and the label
    (complying with a benign prompt is its correct answer, so there a refusal is an incorrect one)."""
    if DETAIL_REFUSED in frame.columns and frame[DETAIL_REFUSED].notna().any():
        return pd.to_numeric(frame[DETAIL_REFUSED], errors="coerce").astype(float)
    label = frame.get(META_PREFIX + info.label_key, pd.Series("", index=frame.index)).astype(str)
    correct = frame["correct"].astype(float) if "correct" in frame else score
    flipped = {value for known in known_metrics().values() for value, name in known.per_label
               if not metric_named(name).higher_is_better}  # labels where refusing is the bad outcome
    return correct.where(~label.isin(flipped), 1.0 - correct)


@dataclass(frozen=True)
class Stratum:
    """One curve's slice of a family: its label, row mask, metric, and whether it is a main curve."""

    label: str
    mask: pd.Series
    metric: str
    main: bool


def strata_masks(frame: pd.DataFrame, task: str, metric: str, traits: TaskTraits | None = None) -> list[Stratum]:
    """Main curve(s) then strata; a per-label metric (refusal: harmful / benign) gives one main curve
    of its own metric per label, never pooled.

    `traits` are the task's declared traits (its strata); None reads the task by the defaults."""
    everything = pd.Series(True, index=frame.index)
    info = metric_named(metric)
    if info.per_label and META_PREFIX + info.label_key in frame.columns:
        key = info.label_key
        labels = frame[META_PREFIX + key].astype(str)
        out: list[Stratum] = []
        others = [s for s in strata_for(task, frame, traits) if s != key]
        for label, name in info.per_label:
            within = labels == label
            if not within.any():
                continue
            out.extend(Stratum(f"{key}={label}{suffix}", within & mask, name, suffix == "")
                       for suffix, mask in _levels(frame, others, within, prefix=","))
        return out
    return [Stratum("all", everything, metric, True),
            *(Stratum(suffix, mask, metric, False)
              for suffix, mask in _levels(frame, strata_for(task, frame, traits), everything))]


def _levels(frame: pd.DataFrame, names: list[str], base: pd.Series,
            prefix: str = "") -> list[tuple[str, pd.Series]]:
    """("" , everything in base) then (prefix + "name=level", mask) for levels that split base."""
    out: list[tuple[str, pd.Series]] = [("", base)] if prefix else []
    for name in names:
        column = frame[META_PREFIX + name]
        for level in sorted(column[base].dropna().unique(), key=lambda v: (str(type(v)), v)):
            mask = base & (column == level)
            if mask.sum() < base.sum():  # a level holding every record would only repeat its parent
                out.append((f"{prefix}{name}={level}", mask))
    return out
