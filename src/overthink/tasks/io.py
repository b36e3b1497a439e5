"""File primitives of the importers, XSTest-style prompt records, and re-reading a prompt for a checker.

They sit below both the importers (loaders.py) and the task families whose `check` re-reads a source
file (refusal.py), so neither has to import the other. The prompt-record parser lives here because
two callers share it: `overthink tasks import xstest FILE` and refusal's bundled copy of XSTest.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overthink.errors import TaskError

XSTEST_LABELS = {"safe": "benign", "benign": "benign", "unsafe": "harmful", "harmful": "harmful"}


class ImportFormatError(TaskError):
    """A malformed import file; the message names the file and line."""


@dataclass(frozen=True)
class PromptItem:
    """One refusal prompt with its label; `pair` links a harmful prompt to its benign look-alike (0 = none)."""

    prompt: str
    label: str
    type: str
    pair: int
    source: str
    line: int


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
    return csv_text_rows(read_text(path), str(path))


def csv_text_rows(text: str, where: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV text with a 'prompt' column; `where` names it in errors."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "prompt" not in reader.fieldnames:
        raise ImportFormatError(f"{where}:1: CSV header must have a 'prompt' column (and 'label', 'type')")
    try:
        for row in reader:
            if None in row:
                raise ImportFormatError(f"{where}:{reader.line_num}: more fields than the header has")
            yield reader.line_num, row
    except csv.Error as exc:
        raise ImportFormatError(f"{where}:{reader.line_num}: {exc}") from None


def prompt_record(where: str, line: int, record: Any, default_label: str | None, source: str) -> PromptItem:
    """One XSTest-style record ({prompt, label, type} or a bare prompt string) as a PromptItem."""
    at = f"{where}:{line}"
    if isinstance(record, str):
        record = {"prompt": record}
    if not isinstance(record, dict):
        raise ImportFormatError(f"{at}: expected an object with a prompt or a JSON string")
    prompt = record.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ImportFormatError(f"{at}: missing or empty 'prompt'")
    raw_label = record.get("label")
    if raw_label in (None, ""):
        if default_label is None:
            raise ImportFormatError(f"{at}: no 'label'; add one (safe/unsafe, benign/harmful) "
                                    "or pass --label for a plain prompt list")
        raw_label = default_label
    label = XSTEST_LABELS.get(str(raw_label).strip().lower())
    if label is None:
        raise ImportFormatError(f"{at}: label {raw_label!r} is not one of safe, unsafe, benign, harmful")
    kind = str(record.get("type") or "unspecified")
    return PromptItem(prompt.strip(), label, kind, 0, source, line)


def prompt_items(rows: Iterable[tuple[int, Any]], where: str, default_label: str | None = None,
                 source: str | None = None) -> list[PromptItem]:
    """Every record of a prompt file; `source` (default `where`) is what items record as their origin."""
    items = [prompt_record(where, line, row, default_label, source or where) for line, row in rows]
    if not items:
        raise ImportFormatError(f"{where}: no prompts (the file has only a header)")
    return items


def reread_prompt(source: str, line: int) -> tuple[str, str | None] | None:
    """(prompt, label or None when the file has none) at a line of an imported prompt file."""
    path = Path(source)
    try:
        return find_prompt(csv_rows(path) if path.suffix.lower() == ".csv" else jsonl(path), line)
    except TaskError:
        return None


def find_prompt(rows: Iterable[tuple[int, Any]], line: int) -> tuple[str, str | None] | None:
    """(prompt, label or None) of the row at `line`, read straight from the raw row (no PromptItem)."""
    for number, row in rows:
        if number == line:
            record = {"prompt": row} if isinstance(row, str) else row
            if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
                return None
            label = XSTEST_LABELS.get(str(record.get("label") or "").strip().lower())
            return record["prompt"].strip(), label
    return None
