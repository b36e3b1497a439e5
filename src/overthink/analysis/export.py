"""`overthink export`: the tidy table of a store written chunk by chunk, so memory follows one chunk.

A store of long traces is mostly text (20,000 records x 40 kB of reasoning is 0.8 GB), and the whole
tidy frame with every prompt, trace and answer, copied once more for writing, took several times
that. The export reads a few MB of records at a time (`chunk_rows`), tidies them as `load` would and appends them.

Two passes keep the chunks one table: the first learns every column (a stratum key may first appear
in the last chunk) and each column's types; the second writes each chunk with all the columns in one
order. CSV and JSON Lines take a chunk's values as they are; Parquet needs one schema, so a column
whose type differs between chunks (an integer column with a NULL in one chunk) is written as float,
or as text when it is not numeric in every chunk.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd

from overthink.analysis.frame import EXPORT_FORMATS, read_chunks, tidy_in_place
from overthink.errors import UserError
from overthink.store import Store, StoreError

__all__ = ["EXPORT_CHUNK_BYTES", "chunk_rows", "export_store"]

EXPORT_CHUNK_BYTES = 8_000_000  # text per chunk; a chunk's frame and its formatted output cost ~20x that
EXPORT_CHUNK_ROWS = (100, 20_000)  # chunk sizes allowed: long traces get small chunks, short rows large ones


@dataclass
class _Layout:
    """Every column of the export in first-seen order, with the dtypes each chunk gave it."""

    columns: dict[str, set[str]] = field(default_factory=dict)
    chunks: int = 0
    present: dict[str, int] = field(default_factory=dict)  # how many chunks held the column

    def add(self, frame: pd.DataFrame) -> None:
        self.chunks += 1
        for column in frame.columns:
            values = frame[column]
            # a column NULL in every row of a chunk (read as object) says nothing about its type
            kind = "null" if values.dtype == object and values.isna().all() else str(values.dtype)
            self.columns.setdefault(str(column), set()).add(kind)
            self.present[str(column)] = self.present.get(str(column), 0) + 1

    def parquet_kind(self, column: str) -> str:
        """keep (one dtype in every chunk), float (numeric but mixed or sometimes absent), or text."""
        kinds = self.columns[column] - {"null"}
        if not kinds or "object" in kinds:
            return "text"
        if len(kinds) == 1 and "null" not in self.columns[column] and self.present[column] == self.chunks:
            return "keep"
        numeric = all(k.startswith(("int", "float", "bool", "uint")) for k in kinds)
        return "float" if numeric else "text"


def chunk_rows(path: Path) -> int:
    """Records per chunk for this store: EXPORT_CHUNK_BYTES of text, from the first 1,000 records' sizes.

    Measured on a store of 40 kB traces: 2,000-record chunks peaked at 555 MB, 200-record ones at 219
    MB (107 MB of it is Python and pandas); a store of short rows wants large chunks for speed.
    """
    with Store(path, create=False) as store:
        per_row = store.mean_text_bytes(1000)
    low, high = EXPORT_CHUNK_ROWS
    return int(min(high, max(low, EXPORT_CHUNK_BYTES // per_row)))


def _chunks(path: Path, chunk: int) -> Iterator[pd.DataFrame]:
    """The store's records, tidied, `chunk` rows at a time in insertion order."""
    with Store(path, create=False) as store:
        try:
            for part in read_chunks(store, None, chunk):
                yield tidy_in_place(part)
        except StoreError:
            raise
        except Exception as exc:  # sqlite3 / pandas errors on a damaged file
            raise StoreError(f"cannot read records from {path}: {exc}") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def _flat(frame: pd.DataFrame, layout: _Layout, fmt: str) -> pd.DataFrame:
    """One chunk with every column of the export, in order, in the types its format needs."""
    flat = frame.reindex(columns=list(layout.columns))
    for column in flat.columns:
        if flat[column].dtype == object:
            flat[column] = flat[column].map(_jsonable)
        if fmt != "parquet":
            continue
        kind = layout.parquet_kind(column)
        if kind == "float":
            flat[column] = pd.to_numeric(flat[column], errors="coerce").astype(float)
        elif kind == "text":  # mixed str/int metadata values: one type per column
            flat[column] = flat[column].map(lambda v: None if v is None or v != v else str(v)).astype(object)
    return flat


def export_store(path: str | Path, fmt: str, out: str | Path | None, *, chunk: int | None = None,
                 stdout: IO[str] | None = None) -> int:
    """Write the store's tidy table to `out` (stdout when None); returns the number of records written."""
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    if fmt == "parquet" and out is None:
        raise UserError("parquet is binary; give --out FILE.parquet")
    store_path = Path(path)
    if not store_path.exists():
        raise StoreError(f"store {store_path} does not exist; pass the --store file a run wrote")
    chunk = chunk or chunk_rows(store_path)
    layout = _Layout()
    for frame in _chunks(store_path, chunk):
        layout.add(frame)
    if fmt == "parquet":
        return _write_parquet(store_path, Path(str(out)), layout, chunk)
    if out is None:
        return _write_text(store_path, fmt, layout, chunk, stdout or sys.stdout)
    try:
        with Path(out).open("w", encoding="utf-8", newline="") as handle:
            return _write_text(store_path, fmt, layout, chunk, handle)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}; choose another --out path") from None


def _write_text(path: Path, fmt: str, layout: _Layout, chunk: int, handle: IO[str]) -> int:
    written = 0
    for frame in _chunks(path, chunk):
        flat = _flat(frame, layout, fmt)
        if fmt == "csv":
            handle.write(flat.to_csv(index=False, header=written == 0))
        elif len(flat):
            handle.write(flat.to_json(orient="records", lines=True, force_ascii=False).rstrip("\n") + "\n")
        written += len(flat)
    if written == 0 and fmt == "csv":
        handle.write(",".join(layout.columns) + "\n")
    return written


def _write_parquet(path: Path, out: Path, layout: _Layout, chunk: int) -> int:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise UserError("parquet export needs pyarrow; pip install 'overthink[parquet]'") from None
    writer = None
    written = 0
    try:
        for frame in _chunks(path, chunk):
            flat = _flat(frame, layout, "parquet")
            if writer is None:  # text columns typed as text even when the first chunk holds only nulls
                inferred = pa.Schema.from_pandas(flat, preserve_index=False)
                schema = pa.schema([pa.field(f.name, pa.string()) if layout.parquet_kind(f.name) == "text" else f
                                    for f in inferred])
                writer = pq.ParquetWriter(str(out), schema)
            table = pa.Table.from_pandas(flat, preserve_index=False, schema=writer.schema)
            writer.write_table(table)
            written += table.num_rows
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}; choose another --out path") from None
    finally:
        if writer is not None:
            writer.close()
    return written
