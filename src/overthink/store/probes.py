"""The probes of a probed cot record (`--probe-every`): their rows in the `probes` table, read back by key.

A probe is an answer forked off the record's own trace after `at` thinking tokens (types.ProbeAnswer):
the decision the model would have given had thinking stopped there. The rows hold the answer text, the
answer read from it, the task scorer's verdict and the answer's tokens (schema step 0006_probes), like
the samples of a vote (store/samples.py): they enter the store only through the one writer
(store/absorb.py `PROBES_RULE`, with the record's ok row) and are read back for the keys asked, in
batches, so memory follows the keys a reader asks for, never the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from overthink.store.samples import child_rows, score_columns, score_fields
from overthink.types import Record

PROBE_COLUMNS = ("key", "at", "answer_text", "answer", "extracted", "score", "correct", "score_details",
                 "answer_tokens")


@dataclass(frozen=True)
class ProbeRow:
    """One stored probe of a record: where it forked, what it answered, how it scored."""

    key: str  # the record's key
    at: int  # thinking tokens of the prefix
    answer_text: str
    answer: str | None  # the extracted answer the strategy read (None: none)
    extracted: str | None  # the task scorer's extracted answer ("refuse" / "comply" for refusal tasks)
    score: float | None  # the task scorer's value of this answer
    correct: bool | None
    score_details: dict[str, Any]
    answer_tokens: int


def probe_rows(record: Record) -> list[dict[str, Any]]:
    """The child rows of an ok record's probes (none for a record without probes or an error)."""
    completion = record.completion
    if completion is None or not completion.probes:
        return []
    key = record.key.digest()
    rows = []
    for p in completion.probes:
        rows.append({
            "key": key, "at": p.at, "answer_text": p.text, "answer": p.answer, **score_columns(p.score),
            "answer_tokens": p.answer_tokens,
        })
    return rows


def _decode(values: tuple[Any, ...]) -> ProbeRow:
    row = dict(zip(PROBE_COLUMNS, values, strict=True))
    return ProbeRow(
        key=str(row["key"]), at=int(row["at"]), answer_text=str(row["answer_text"]), answer=row["answer"],
        **score_fields(row), answer_tokens=int(row["answer_tokens"]),
    )


def read_probes(conn: sqlite3.Connection, keys: Sequence[str], *, text: bool = True) -> dict[str, list[ProbeRow]]:
    """The probes of each of `keys` in trace order; keys without probes are absent. `text=False` leaves
    the answer texts out (empty), for readers that need only the decisions (the analysis)."""
    out: dict[str, list[ProbeRow]] = {}
    names = ", ".join(c if text or c != "answer_text" else "'' AS answer_text" for c in PROBE_COLUMNS)
    for values in child_rows(conn, "probes", names, "at", keys):
        row = _decode(values)
        out.setdefault(row.key, []).append(row)
    return out


def probed_keys(conn: sqlite3.Connection) -> list[str]:
    """Every record key that has probes (the analysis reads their decisions in batches of these)."""
    return [str(r[0]) for r in conn.execute("SELECT DISTINCT key FROM probes ORDER BY key")]
