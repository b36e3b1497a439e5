"""`overthink export` streams: chunk by chunk it writes the same table as the whole store at once.

The store is built so that chunks disagree: a stratum key appears only in the last records, one
integer column is NULL in a whole chunk, and text metadata mixes numbers and words.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from overthink.analysis.export import export_store
from overthink.analysis.frame import load
from overthink.store import Store
from overthink.types import Completion, Record, Score, Status, TokenSource, Usage, WorkKey


def _record(i: int) -> Record:
    late = i >= 25  # the last records carry a stratum key no earlier record has
    metadata = {"num_distractors": i % 3, "label": "x" if i % 2 else 7, **({"late_key": "z"} if late else {})}
    key = WorkKey("e", "m", "misleading_math", "1", f"s{i}", str(64 * (i % 2)), "forced", "cot", 0)
    usage = Usage(input_tokens=5, output_tokens=9, reasoning_tokens=4 if i >= 10 else 0,
                  reasoning_source=TokenSource.TOKENIZER)
    completion = Completion(text=f"<answer>{i}</answer>", reasoning="thinking, \"quoted\"\nand a newline " * 3,
                            usage=usage, finish_reason="stop", total_generated=9)
    return Record(key=key, seed=i, status=Status.OK, budget_kind="tokens", requested_tokens=None if i < 10 else 64,
                  prompt=f"Question {i}, with a comma", target=str(i), metadata=metadata, completion=completion,
                  score=Score(value=float(i % 2), correct=bool(i % 2), extracted=str(i)), created_at=1.0 + i)


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    with Store(path) as handle:
        handle.write_many(_record(i) for i in range(30))
    return path


def test_csv_in_chunks_is_the_whole_table(store: Path, tmp_path: Path) -> None:
    whole = load(store)
    out = tmp_path / "x.csv"
    assert export_store(store, "csv", out, chunk=7) == 30
    back = pd.read_csv(out)
    assert set(back.columns) == set(whole.columns) and len(back.columns) == len(whole.columns)  # one header
    assert list(back.columns)[:3] == ["key", "experiment", "model"]
    assert back["prompt"].tolist() == whole["prompt"].tolist()
    assert back["reasoning"].tolist() == whole["reasoning"].tolist()  # quotes and newlines survive
    assert back["meta_late_key"].isna().sum() == 25 and (back["meta_late_key"].dropna() == "z").all()
    assert json.loads(back["metadata"].iloc[29])["late_key"] == "z"


def test_jsonl_to_stdout_streams_every_record(store: Path) -> None:
    sink = io.StringIO()
    assert export_store(store, "jsonl", None, chunk=4, stdout=sink) == 30
    rows = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [r["sample_id"] for r in rows] == [f"s{i}" for i in range(30)]
    assert rows[0]["meta_late_key"] is None and rows[-1]["meta_late_key"] == "z"


def test_parquet_keeps_one_schema_when_chunks_disagree(store: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    out = tmp_path / "x.parquet"
    assert export_store(store, "parquet", out, chunk=10) == 30
    back = pd.read_parquet(out)
    assert len(back) == 30 and back["sample_id"].tolist() == [f"s{i}" for i in range(30)]
    # requested_tokens is NULL in the whole first chunk: written as float, values kept
    assert back["requested_tokens"].isna().sum() == 10 and (back["requested_tokens"].dropna() == 64).all()
    assert set(back["meta_label"]) == {"x", "7"}  # mixed words and numbers: one text column
    assert back["meta_late_key"].isna().sum() == 25


def test_bad_format_and_paths_are_user_errors(store: Path, tmp_path: Path) -> None:
    from overthink.errors import UserError
    from overthink.store import StoreError

    with pytest.raises(UserError, match="unknown export format"):
        export_store(store, "xml", None)
    with pytest.raises(UserError, match="parquet is binary"):
        export_store(store, "parquet", None)
    with pytest.raises(StoreError, match="does not exist"):
        export_store(tmp_path / "none.db", "csv", None)
    with pytest.raises(UserError, match="cannot write"):
        export_store(store, "csv", tmp_path / "missing-dir" / "x.csv")
