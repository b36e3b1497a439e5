"""A `Record` as the `records` table's row, and a row back as a plain dict.

The one place that knows which column holds which field of a record: the writer stores what this
returns, every reader decodes with `decode_row`. Error text is scrubbed of registered secrets here,
the last gate before anything reaches the file.
"""

from __future__ import annotations

import json
import time
from typing import Any

from overthink.models.secrets import scrub
from overthink.store.schema import error_class
from overthink.types import Record

JSON_COLUMNS = ("metadata", "extra", "score_details")


def failure_class(record: Record) -> str:
    """The attempts log's class: the classified kind (auth, server, ...) when there is a specific one,
    else the exception's type name from the message."""
    if record.error_kind and record.error_kind != "backend":
        return record.error_kind
    return error_class(record.error or "")


def to_row(record: Record) -> dict[str, Any]:
    """The record's row, column by column (a record without a time is stamped now)."""
    key, comp, score = record.key, record.completion, record.score
    usage = comp.usage if comp else None
    return {
        "key": key.digest(),
        "experiment": key.experiment,
        "model": key.model,
        "task": key.task,
        "task_version": key.task_version,
        "sample_id": key.sample_id,
        "budget": key.budget,
        "budget_kind": record.budget_kind,
        "mechanism": key.mechanism,
        "strategy": key.strategy,
        "repeat": key.repeat,
        "seed": record.seed,
        "status": record.status.value,
        "error": None if record.error is None else scrub(record.error),  # the last gate before disk
        "requested_tokens": record.requested_tokens,
        "reasoning_tokens": usage.reasoning_tokens if usage else None,
        "reasoning_source": usage.reasoning_source.value if usage else None,
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "total_generated": comp.total_generated if comp else None,
        "compute_tokens": comp.compute() if comp else None,
        "answer_tokens": comp.answer_tokens if comp else None,
        "wait_insertions": comp.wait_insertions if comp else None,
        "looping": int(comp.looping) if comp else None,
        "finish_reason": comp.finish_reason if comp else None,
        "wall_time_s": comp.wall_time_s if comp else None,
        "cost_usd": usage.cost_usd if usage else None,
        "prompt": record.prompt,
        "target": record.target,
        "reasoning": comp.reasoning if comp else None,
        "answer_text": comp.text if comp else None,
        "extracted": score.extracted if score else None,
        "score": score.value if score else None,
        "correct": None if score is None or score.correct is None else int(score.correct),
        "score_details": json.dumps(dict(score.details), sort_keys=True) if score else None,
        "metadata": json.dumps(dict(record.metadata), sort_keys=True),
        "extra": json.dumps(dict(comp.extra), sort_keys=True) if comp else None,
        "created_at": record.created_at or time.time(),
    }


def decode_row(names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    """A stored row as a dict, its JSON columns decoded."""
    row = dict(zip(names, values, strict=True))
    for column in JSON_COLUMNS:
        if row.get(column):
            row[column] = json.loads(row[column])
    return row


def filters(**columns: str | None) -> tuple[str, tuple[str, ...]]:
    """A `col = ? AND ...` prefix (ending in AND, or empty) for the columns given a value."""
    given = {name: value for name, value in columns.items() if value is not None}
    return "".join(f"r.{name} = ? AND " for name in given), tuple(given.values())
