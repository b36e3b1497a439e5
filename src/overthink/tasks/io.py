"""File primitives of the importers, and re-reading an imported prompt for a task's checker.

They sit below both the importers (loaders.py) and the task families whose `check` re-reads a source
file (refusal.py), so neither has to import the other.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from overthink.errors import TaskError

XSTEST_LABELS = {"safe": "benign", "benign": "benign", "unsafe": "harmful", "harmful": "harmful"}


class ImportFormatError(TaskError):
    """A malformed import file; the message names the file and line."""


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportFormatError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFormatError(f"{path}: cannot read ({exc})") from None


def jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, decoded value) for every non-blank line; a bad line raises with its number."""
    seen = False
    for number, raw in enumerate(read_text(path).splitlines(), 1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        seen = True
    if not seen:
        raise ImportFormatError(f"{path}: no records (the file is empty)")


def csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    if not reader.fieldnames or "prompt" not in reader.fieldnames:
        raise ImportFormatError(f"{path}:1: CSV header must have a 'prompt' column (and 'label', 'type')")
    try:
        for row in reader:
            if None in row:
                raise ImportFormatError(f"{path}:{reader.line_num}: more fields than the header has")
            yield reader.line_num, row
    except csv.Error as exc:
        raise ImportFormatError(f"{path}:{reader.line_num}: {exc}") from None


def reread_prompt(source: str, line: int) -> tuple[str, str | None] | None:
    """(prompt, label or None when the file has none) at a line of an imported prompt file."""
    path = Path(source)
    try:
        rows = csv_rows(path) if path.suffix.lower() == ".csv" else jsonl(path)
        for number, row in rows:
            if number == line:
                record = {"prompt": row} if isinstance(row, str) else row
                if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
                    return None
                label = XSTEST_LABELS.get(str(record.get("label") or "").strip().lower())
                return record["prompt"].strip(), label
    except TaskError:
        return None
    return None
