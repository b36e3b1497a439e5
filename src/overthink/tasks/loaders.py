"""Importers for public formats: the paper's released JSONL, MWE JSONL, XSTest-style CSV/JSONL and
plain JSONL prompt lists.

Each importer reads a whole file into Samples of the matching task or raises `ImportFormatError`
whose message starts with "file:line:", so a malformed file imports nothing and the user can find
the bad line. BBEH's zebra `task.json` is read by tasks/bbeh.py (it needs the zebra parser); the file
primitives every importer and checker shares are in tasks/io.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from overthink.scoring.extract import format_number
from overthink.tasks import ai_risk, refusal
from overthink.tasks.io import ImportFormatError, PromptItem, csv_rows, jsonl, prompt_items
from overthink.types import Sample

PAPER_TASKS = ("misleading_math", "misleading_python", "paradoxes", "grades", "zebra", "ai_risk")
_NAME_HINTS = (("python", "misleading_python"), ("paradox", "paradoxes"), ("math", "misleading_math"),
               ("grade", "grades"), ("zebra", "zebra"), ("risk", "ai_risk"), ("survival", "ai_risk"),
               ("corrig", "ai_risk"), ("mwe", "ai_risk"))


def _import_id(task: str, path: Path, line: int, prompt: str) -> str:
    text = "\x1f".join((task, path.name, str(line), prompt))
    return f"{task}-import-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


# --- model-written evals ------------------------------------------------------------------------

def load_mwe(paths: list[Path], seed: int = 0) -> dict[str, list[Sample]]:
    """Every MWE file as ai_risk samples (choices shuffled by the seed), keyed by path."""
    out: dict[str, list[Sample]] = {}
    for path in paths:
        try:
            items = ai_risk.read_mwe(path)
        except ai_risk.MweFormatError as exc:
            raise ImportFormatError(str(exc)) from None
        out[str(path)] = [ai_risk.to_sample(item, seed, i) for i, item in enumerate(items)]
    return out


# --- XSTest-style refusal prompts and plain prompt lists -----------------------------------------

def read_prompt_items(path: Path, default_label: str | None = None) -> list[PromptItem]:
    """XSTest CSV (prompt, type, label) or JSONL, or a plain JSONL list of prompts / strings."""
    rows = csv_rows(path) if path.suffix.lower() == ".csv" else jsonl(path)
    return prompt_items(rows, str(path), default_label)


def load_xstest(paths: list[Path], default_label: str | None = None) -> dict[str, list[Sample]]:
    """Prompt files as refusal samples, keyed by path."""
    out: dict[str, list[Sample]] = {}
    for path in paths:
        items = read_prompt_items(path, default_label)
        out[str(path)] = [refusal.to_sample(item, 0, i) for i, item in enumerate(items)]
    return out


# --- the paper's released JSONL -------------------------------------------------------------------

def detect_task(path: Path, first: dict[str, Any]) -> str | None:
    """The task a paper file belongs to, from its fields (unambiguous ones) or else its file name."""
    if "grid_size" in first:
        return "zebra"
    if "examples_per_prompt" in first:
        return "grades"
    if "classes" in first or "answer_index" in first:
        return "ai_risk"
    name = path.name.lower()
    return next((task for hint, task in _NAME_HINTS if hint in name), None)


def _answer_text(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ImportFormatError(f"{where}: 'answer' must be a number or text, got {type(value).__name__}")
    if isinstance(value, str):
        try:
            return format_number(float(value.strip().replace(",", "")))
        except ValueError:
            return value.strip()
    return format_number(float(value))


def _mcq(record: dict[str, Any], where: str) -> dict[str, Any]:
    """ai_risk metadata from `classes` + `answer_index`; the indexed class is the risky behaviour."""
    classes, index = record.get("classes"), record.get("answer_index")
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise ImportFormatError(f"{where}: 'classes' must be a list of at least two answer strings")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(classes):
        raise ImportFormatError(f"{where}: 'answer_index' must be an index into 'classes'")
    letters = [c.strip().strip("()").strip() for c in classes]
    if any(len(x) != 1 or x not in ai_risk.LETTERS for x in letters):
        raise ImportFormatError(f"{where}: 'classes' must be choice letters such as ' (A)'")
    return {"matching": [letters[index]], "not_matching": sorted(set(letters) - {letters[index]}),
            "num_choices": len(classes), "permutation": list(range(len(classes))), "shuffled": False}


def _paper_sample(task: str, path: Path, line: int, record: Any) -> Sample:
    where = f"{path}:{line}"
    if not isinstance(record, dict):
        raise ImportFormatError(f"{where}: expected a JSON object")
    prompt = record.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ImportFormatError(f"{where}: missing or empty 'prompt'")
    if "answer" not in record and task != "ai_risk":
        raise ImportFormatError(f"{where}: missing 'answer'")
    meta: dict[str, Any] = {k: v for k, v in record.items() if k not in ("prompt", "answer", "classes")}
    meta.update({"source": str(path), "source_line": line, "imported": "paper-jsonl"})
    choices: tuple[str, ...] | None = None
    if task == "ai_risk":
        meta.update(_mcq(record, where))
        target = ",".join(meta["not_matching"])
        choices = tuple(record["classes"])
    else:
        target = _answer_text(record["answer"], where)
    for key in ("num_distractors", "examples_per_prompt", "grid_size"):
        if key in record and (not isinstance(record[key], int) or isinstance(record[key], bool)):
            raise ImportFormatError(f"{where}: {key!r} must be a whole number")
    if "num_distractors" in record:
        meta["control"] = record["num_distractors"] == 0
    if task == "grades":
        meta["shots"] = int(record.get("examples_per_prompt", 0))
        meta["control"] = meta["shots"] > 0
        meta["scale"] = None  # the paper's own grade scale: no clipping to 0-4
    return Sample(id=_import_id(task, path, line, prompt), task=task, prompt=prompt, target=target,
                  metadata=meta, choices=choices)


def load_paper_jsonl(paths: list[Path], task: str | None = None) -> dict[str, list[Sample]]:
    """Paper JSONL files into samples of `task` (or the task each file's fields/name point to)."""
    if task is not None and task not in PAPER_TASKS:
        raise ImportFormatError(f"--task {task!r} has no paper data; choose one of {', '.join(PAPER_TASKS)}")
    out: dict[str, list[Sample]] = {}
    for path in paths:
        records = list(jsonl(path))
        first = records[0][1] if isinstance(records[0][1], dict) else {}
        if "answer_matching_behavior" in first and "prompt" not in first:
            raise ImportFormatError(f"{path}:{records[0][0]}: this is a model-written-evals file; "
                                    "import it with `overthink tasks import mwe`")
        chosen = task or detect_task(path, first)
        if chosen is None:
            raise ImportFormatError(f"{path}: cannot tell which task this file holds; pass --task "
                                    f"({', '.join(PAPER_TASKS)})")
        out[str(path)] = [_paper_sample(chosen, path, line, record) for line, record in records]
    return out
