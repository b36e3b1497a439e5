"""Records to one tidy pandas DataFrame: the only way analysis sees a store.

Analysis never talks to a backend; it reads the store's `records` table, decodes the JSON columns and
adds the derived columns every later step needs (numeric budget, realized tokens, parsed strata), so
that curves, diagnostics and reports all agree on one table. Export (analysis/export.py) writes the
same table, chunk by chunk, to CSV, Parquet or JSON Lines for people who want their own statistics.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from overthink.store import SampleRow, Store, StoreError
from overthink.types import TaskTraits

JSON_COLUMNS = ("metadata", "score_details", "extra")
META_PREFIX = "meta_"
DETAIL_PREFIX = "detail_"
EXPORT_FORMATS = ("csv", "parquet", "jsonl")

# Strata used when a store declares no traits for a task (an old store, a foreign task): metadata keys whose
# values name a level of difficulty or a condition, never per-item content.
DEFAULT_STRATA = ("num_distractors", "examples_per_prompt", "shots", "grid_size", "label", "condition")


def _decode(values: Iterable[Any]) -> list[dict[str, Any]]:
    """JSON text (or already-decoded dicts) to dicts; anything unreadable becomes an empty dict."""
    out: list[dict[str, Any]] = []
    for value in values:
        if isinstance(value, dict):
            out.append(value)
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
            out.append({})
            continue
        try:
            decoded = json.loads(value)
        except (TypeError, ValueError):
            decoded = {}
        out.append(decoded if isinstance(decoded, dict) else {})
    return out


def _expand(frame: pd.DataFrame, column: str, prefix: str) -> pd.DataFrame:
    """One column per key of a JSON column; the decoded dict stays in `column` for diagnostics."""
    dicts = _decode(frame[column].tolist())
    frame[column] = pd.Series(dicts, index=frame.index, dtype=object)
    keys: dict[str, None] = {}
    for item in dicts:
        for key in item:
            keys.setdefault(str(key), None)
    if not keys:
        return frame
    expanded = {f"{prefix}{key}": [item.get(key) for item in dicts] for key in keys}
    return pd.concat([frame, pd.DataFrame(expanded, index=frame.index)], axis=1)


def _numeric_budget(labels: pd.Series, requested: pd.Series) -> pd.Series:
    """Requested thinking tokens as float: the stored number, 0 for "0", NaN for natural/effort."""
    from_label = pd.to_numeric(labels.where(labels.str.fullmatch(r"\d+")), errors="coerce")
    return pd.to_numeric(requested, errors="coerce").astype(float).fillna(from_label.astype(float))


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the derived columns to a raw records frame (also used by the simulator and tests)."""
    return tidy_in_place(frame.copy())


def tidy_in_place(frame: pd.DataFrame) -> pd.DataFrame:
    """`tidy` in place: `load` owns its freshly read frame, and a copy of a million rows is ~0.4 GB."""
    for column, prefix in (("metadata", META_PREFIX), ("score_details", DETAIL_PREFIX)):
        if column in frame.columns:
            frame = _expand(frame, column, prefix)
    if "extra" in frame.columns:
        extras = _decode(frame["extra"].tolist())
        frame["extra"] = pd.Series(extras, index=frame.index, dtype=object)
        frame["censored"] = [bool(item.get("censored", False)) for item in extras]
    frame["budget"] = frame["budget"].astype(str)
    missing = pd.Series(np.nan, index=frame.index)
    requested = frame.get("requested_tokens", missing)
    frame["budget_tokens"] = _numeric_budget(frame["budget"], requested)
    realized = frame.get("reasoning_tokens", missing)
    frame["realized"] = pd.to_numeric(realized, errors="coerce").astype(float)
    frame["log_tokens"] = np.log1p(frame["realized"].clip(lower=0))
    # what each answer cost alone (docs/strategies.md "Compute"): the x of an equal-compute comparison;
    # NaN for error records and for frames without the column (a store is migrated to have it)
    compute = frame.get("compute_tokens", missing)
    frame["compute_tokens"] = pd.to_numeric(compute, errors="coerce").astype(float)
    for column in ("score", "correct", "looping"):
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


TEXT_FIELDS = ("prompt", "reasoning", "answer_text", "error")  # long text no statistic reads


StoreLike = Store | str | Path  # an open store (a command opens it once) or the path of one


def open_store(path: str | Path) -> Store:
    """The store at `path`, opened for reading: StoreError (exit 2) when missing or not a store."""
    store_path = Path(path)
    if not store_path.exists():
        raise StoreError(f"store {store_path} does not exist; pass the --store file a run wrote")
    return Store(store_path, create=False)


@contextmanager
def _opened(store: StoreLike) -> Iterator[Store]:
    """An open store as it is (its owner closes it), a path opened for this read only."""
    if isinstance(store, Store):
        yield store
        return
    with open_store(store) as opened:
        yield opened


def load(path: StoreLike, *, text: bool = True) -> pd.DataFrame:
    """Read a store into a tidy DataFrame: one row per record, strata as `meta_*` columns.

    `text=False` leaves out prompts, reasoning traces, answers and error messages: analysis, the
    gate and the report's statistics never read them, and on a store of long traces they are nearly
    all of its bytes (`texts` fetches them for the few records a report shows). Raises StoreError when
    the file is missing or not an overthink store (the CLI exits 2).
    """
    with _opened(path) as store:
        try:
            names = store.record_columns()
            frame = _read_records(store, names if text else [n for n in names if n not in TEXT_FIELDS])
        except Exception as exc:  # sqlite3 / pandas errors on a damaged file
            raise StoreError(f"cannot read records from {store.path}: {exc}") from None
    return tidy_in_place(frame)


LOAD_CHUNK = 20_000  # rows read (and their JSON decoded) at a time by `load`; 100k peaked 150 MB higher


def _read_records(store: Store, columns: list[str] | None, chunk: int = LOAD_CHUNK) -> pd.DataFrame:
    """The records' `columns` as one frame, equal to a single `pd.read_sql_query`, read `chunk` rows at a time.

    Why not one read: sqlite3 hands pandas every row as a tuple of Python objects before any column
    is built, ~2 kB per record of ~35 columns, so a million-record store peaked at 2.4 GB for a moment. Chunks
    bound that to one chunk; each chunk's JSON columns are decoded at once (identical texts, such as
    one item's metadata over its budgets and repeats, share one dict), so the raw JSON never piles up.
    A column whose type differs between chunks (NULL in all of one chunk's rows) is inferred again
    over all rows, as the single read infers it.
    """
    parts = list(read_chunks(store, columns, chunk, at_least_one=True))
    if len(parts) == 1:
        return parts[0]
    frame = pd.concat(parts, ignore_index=True)
    for column in frame.columns:
        if len({str(part[column].dtype) for part in parts}) > 1:
            frame[column] = pd.Series(frame[column].tolist(), index=frame.index, name=column)
    return frame


def read_chunks(store: Store, columns: list[str] | None = None, chunk: int = LOAD_CHUNK, *,
                at_least_one: bool = False) -> Iterator[pd.DataFrame]:
    """The records' `columns` (all when None) `chunk` at a time in insertion order, each chunk's JSON columns
    decoded (the raw JSON never piles up; identical texts share one dict, which readers never edit).
    `load` and the export read by it; `at_least_one` gives an empty store one empty frame."""
    cache: dict[str, dict[str, Any]] = {}
    for part in store.record_frames(columns, chunk, at_least_one=at_least_one):
        for column in JSON_COLUMNS:
            if column in part.columns:
                part[column] = pd.Series(_decode_shared(part[column].tolist(), cache), index=part.index,
                                         dtype=object)
        yield part


def _decode_shared(values: list[Any], cache: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """`_decode`, with one dict per distinct JSON text (analysis only reads these dicts, never edits)."""
    if len(cache) > LOAD_CHUNK:  # mostly distinct texts: sharing saves nothing, keep the cache small
        cache.clear()
    out = []
    for value in values:
        if isinstance(value, str) and value:
            decoded = cache.get(value)
            if decoded is None:
                decoded = cache[value] = _decode([value])[0]
            out.append(decoded)
        else:
            out.append(_decode([value])[0])
    return out


def load_traits(path: StoreLike) -> dict[str, TaskTraits]:
    """The traits the store declares for its tasks (empty for a store written before they were kept).

    They travel beside the frame, not inside it: analysis takes them as an argument, so a filtered or
    copied frame can never lose them (DataFrame.attrs do not survive every operation).
    """
    with _opened(path) as store:
        return store.task_traits()


def texts(path: StoreLike, keys: Iterable[str]) -> dict[str, dict[str, str]]:
    """Prompt, reasoning, answer and error text of the given record keys (for a report's browser)."""
    if isinstance(path, Store):
        return path.texts(list(dict.fromkeys(keys)), TEXT_FIELDS)
    with Store(Path(path), create=False) as store:
        return store.texts(list(dict.fromkeys(keys)), TEXT_FIELDS)


def samples_of(path: StoreLike, keys: Iterable[str]) -> dict[str, list[SampleRow]]:
    """The samples behind the vote / best-of-n records of `keys` (answer text, scores, tokens), fetched
    by key like `texts`, so a frame never holds them."""
    with _opened(path) as store:
        return store.samples_of(list(dict.fromkeys(keys)))


def strata_for(task: str, frame: pd.DataFrame, traits: TaskTraits | None = None) -> list[str]:
    """Metadata keys that split a task's curves: the strata its traits declare, else known names."""
    names = list(traits.strata) if traits is not None else list(DEFAULT_STRATA)
    sub = frame[frame["task"] == task] if "task" in frame.columns else frame
    usable: list[str] = []
    for name in names:
        column = META_PREFIX + name
        if column in sub.columns and sub[column].notna().any():
            values = sub[column].dropna().iloc[:1000]  # a sample decides: lists/dicts are never strata
            if all(isinstance(v, (str, int, float, bool)) for v in values):
                usable.append(name)
    return usable
