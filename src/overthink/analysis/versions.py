"""One task version per curve: records of an older version of a task are set aside, and counted.

A task's version names its items and how they are scored. After an upgrade (say the refusal rules
were revised) a resumed sweep writes records of the new version beside the old ones under new keys,
and a curve that averaged both would mix two scorers -- and count one item twice at a budget. So
each (model, task) is analysed at the version of its newest record, the one the latest sweep wrote,
and the records of other versions are reported as left out rather than silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class SetAside:
    """Records of one (model, task) left out because a newer version of the task was run."""

    model: str
    task: str
    kept: str  # the version analysed
    older: tuple[str, ...]  # versions left out
    records: int  # how many records they hold

    def line(self) -> str:
        return (f"{self.model} · {self.task}: analysed task version {self.kept}; {self.records} records of "
                f"version {', '.join(self.older)} left out (scored differently; see `overthink export`)")

    def to_json(self) -> dict[str, object]:
        return {"model": self.model, "task": self.task, "kept": self.kept, "older": list(self.older),
                "records": self.records}


def latest_versions(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[SetAside]]:
    """The frame with only each (model, task)'s newest task version, and what was left out."""
    if frame.empty or "task_version" not in frame.columns:
        return frame, []
    versions = frame.groupby(["model", "task"], observed=True)["task_version"].nunique()
    mixed = versions[versions > 1]
    if mixed.empty:
        return frame, []
    keep = pd.Series(True, index=frame.index)
    set_aside: list[SetAside] = []
    for model, task in mixed.index:
        rows = (frame["model"] == model) & (frame["task"] == task)
        part = frame.loc[rows, ["task_version", "created_at"]] if "created_at" in frame else \
            frame.loc[rows, ["task_version"]].assign(created_at=range(int(rows.sum())))
        newest = str(part.loc[part["created_at"].idxmax(), "task_version"])
        old = rows & (frame["task_version"].astype(str) != newest)
        keep &= ~old
        older = tuple(sorted({str(v) for v in frame.loc[old, "task_version"]}))
        set_aside.append(SetAside(str(model), str(task), newest, older, int(old.sum())))
    return frame[keep], set_aside
