"""The samples behind a vote or best-of-n record: their rows in the `samples` table, and read back by key.

A vote of k samples stores one record (the verdict); without its samples a refusal among them could
not be audited. Each sample is a child row of its record (`key`, `idx`), holding the sample's answer
text, the answer the strategy compared, the task scorer's verdict, the verifier's score and the
tokens it cost (schema step 0005_samples). The rows enter the store only through the one writer
(store/absorb.py `SAMPLES_RULE`) and are read back for the keys asked (`read_samples`), in batches,
so memory follows the keys a reader asks for, never the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from overthink.types import Record, Score

SAMPLE_COLUMNS = ("key", "idx", "seed", "answer_text", "answer", "extracted", "score", "correct", "score_details",
                  "verifier_score", "reasoning_tokens", "answer_tokens", "verifier_tokens", "verifier_generated",
                  "compute_tokens")
SAMPLE_BATCH = 500  # record keys per statement of a child table (SQLite caps bound parameters)


@dataclass(frozen=True)
class SampleRow:
    """One stored sample of a record: what it answered, how it scored, what it cost."""

    key: str  # the record's key
    index: int  # 0 = the sample drawn with the record's own seed
    seed: int
    answer_text: str
    answer: str | None  # the extracted answer the strategy compared (None: it abstained)
    extracted: str | None  # the task scorer's extracted answer
    score: float | None  # the task scorer's value for this sample's answer
    correct: bool | None
    score_details: dict[str, Any]
    verifier_score: float | None  # best-of-n only
    reasoning_tokens: int
    answer_tokens: int
    verifier_tokens: int  # the verifier's prompt tokens for this sample
    verifier_generated: int  # the verifier's generated tokens for this sample
    compute_tokens: int  # this sample's share of the record's compute_tokens


def score_columns(score: Score | None) -> dict[str, Any]:
    """The task scorer's verdict as the child tables (samples, probes) store it."""
    return {
        "extracted": score.extracted if score else None, "score": score.value if score else None,
        "correct": None if score is None or score.correct is None else int(score.correct),
        "score_details": json.dumps(dict(score.details), sort_keys=True) if score else None,
    }


def score_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A stored verdict read back: the fields `score_columns` wrote, decoded."""
    return {
        "extracted": row["extracted"], "score": None if row["score"] is None else float(row["score"]),
        "correct": None if row["correct"] is None else bool(row["correct"]),
        "score_details": json.loads(row["score_details"]) if row["score_details"] else {},
    }


def child_rows(conn: sqlite3.Connection, table: str, names: str, order: str, keys: Sequence[str],
               ) -> Iterator[tuple[Any, ...]]:
    """The rows of a child table for `keys` (each key once), in (key, `order`) order, a batch of keys
    per statement so SQLite's cap on bound parameters is never met and memory follows the keys asked."""
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), SAMPLE_BATCH):
        chunk = unique[start:start + SAMPLE_BATCH]
        marks = ", ".join("?" for _ in chunk)
        for values in conn.execute(f"SELECT {names} FROM {table} WHERE key IN ({marks}) ORDER BY key, {order}",
                                   chunk):
            yield tuple(values)


def sample_rows(record: Record) -> list[dict[str, Any]]:
    """The child rows of an ok record's samples (none for a single chain of thought or an error)."""
    completion = record.completion
    if completion is None or not completion.samples:
        return []
    key = record.key.digest()
    rows = []
    for s in completion.samples:
        rows.append({
            "key": key, "idx": s.index, "seed": s.seed, "answer_text": s.text, "answer": s.answer,
            **score_columns(s.score),
            "verifier_score": s.verifier_score, "reasoning_tokens": s.reasoning_tokens,
            "answer_tokens": s.answer_tokens, "verifier_tokens": s.verifier_tokens,
            "verifier_generated": s.verifier_generated, "compute_tokens": s.compute_tokens,
        })
    return rows


def _decode(values: tuple[Any, ...]) -> SampleRow:
    row = dict(zip(SAMPLE_COLUMNS, values, strict=True))
    return SampleRow(
        key=str(row["key"]), index=int(row["idx"]), seed=int(row["seed"]), answer_text=str(row["answer_text"]),
        answer=row["answer"], **score_fields(row),
        verifier_score=None if row["verifier_score"] is None else float(row["verifier_score"]),
        reasoning_tokens=int(row["reasoning_tokens"]), answer_tokens=int(row["answer_tokens"]),
        verifier_tokens=int(row["verifier_tokens"]), verifier_generated=int(row["verifier_generated"]),
        compute_tokens=int(row["compute_tokens"]),
    )


def read_samples(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, list[SampleRow]]:
    """The samples of each of `keys` in sample order; keys without samples are absent."""
    out: dict[str, list[SampleRow]] = {}
    for values in child_rows(conn, "samples", ", ".join(SAMPLE_COLUMNS), "idx", keys):
        row = _decode(values)
        out.setdefault(row.key, []).append(row)
    return out
