"""`load` reads a store in chunks (bounded memory on million-record stores) yet gives the frame one read gave."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from overthink.analysis import frame as frames
from overthink.store import Store
from overthink.types import Completion, Record, Score, Status, TokenSource, Usage, WorkKey


def _record(i: int, ok: bool) -> Record:
    key = WorkKey("e", "m", "misleading_math", "1", f"s{i % 7}", str(64 * (i % 3)), "forced", "cot", i // 21)
    if not ok:  # NULL in every numeric and JSON column a completion fills
        return Record(key=key, seed=i, status=Status.ERROR, budget_kind="tokens", requested_tokens=64 * (i % 3),
                      prompt="p", target="3", metadata={"num_distractors": i % 2}, error="TimeoutError: slow")
    completion = Completion(text=f"<answer>{i % 4}</answer>", reasoning="r" * i, finish_reason="stop",
                            usage=Usage(10, 20 + i, 15 + i, TokenSource.TOKENIZER), total_generated=20 + i,
                            extra={"censored": i % 5 == 0})
    return Record(key=key, seed=i, status=Status.OK, budget_kind="tokens", requested_tokens=64 * (i % 3),
                  prompt="p", target="3", metadata={"num_distractors": i % 2}, completion=completion,
                  score=Score(float(i % 4 == 3), i % 4 == 3, str(i % 4), {"parsed": i % 3 != 0}))


def test_a_chunked_load_equals_one_read_also_when_a_chunk_is_all_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.write_many(_record(i, ok=True) for i in range(30))
        store.write_many(_record(i, ok=False) for i in range(30, 40))  # the last chunk: NULL numbers and JSON
    conn = sqlite3.connect(path)
    try:
        sql = "SELECT * FROM records ORDER BY rowid"
        one = frames.tidy(pd.read_sql_query(sql, conn))
        for chunk in (10, 7, 1000):
            with Store(path, create=False) as store:
                chunked = frames.tidy_in_place(frames._read_records(store, None, chunk=chunk))
            pd.testing.assert_frame_equal(chunked, one)
    finally:
        conn.close()
    loaded = frames.load(path, text=False)
    assert len(loaded) == 40 and "reasoning" not in loaded.columns
    metadata = loaded["metadata"].tolist()
    assert metadata[0] is metadata[2] and metadata[0] == {"num_distractors": 0}  # one dict per distinct text


def test_loading_an_empty_store_gives_an_empty_frame_with_its_columns(tmp_path: Path) -> None:
    with Store(tmp_path / "empty.db"):
        pass
    loaded = frames.load(tmp_path / "empty.db", text=False)
    assert loaded.empty and {"model", "budget", "score", "budget_tokens"} <= set(loaded.columns)
