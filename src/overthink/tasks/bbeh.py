"""BIG-Bench Extra Hard's zebra puzzles: import their `task.json` and check every answer key.

BBEH's puzzles use the same clue language as the generated zebra family (tasks/zebra/), so imported
puzzles are zebra samples scored by the zebra scorer; what lives here is only the file format and the
solve-everything check of `overthink tasks import bbeh-zebra --check`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NamedTuple

from overthink.errors import TaskError
from overthink.tasks.zebra import NAME
from overthink.tasks.zebra.zebra_parse import ZebraParseError, parse_puzzle
from overthink.tasks.zebra.zebra_solver import SolverError, solve
from overthink.types import Sample


class BbehImportError(TaskError):
    """A malformed BBEH zebra file; the message names the file, the item and the line."""


class Disagreement(NamedTuple):
    item: int  # 0-based index in the file's "examples"
    target: str
    found: str  # the solver's positions, "none", or "error: ..."


def import_bbeh(path: str | Path) -> list[Sample]:
    """Read BBEH's zebra `task.json` ({"examples": [{"input", "target"}, ...]}) into samples.

    Every puzzle is parsed on the way in, so a file imports completely or not at all. Sample ids
    hash the puzzle text, so the same BBEH puzzle keeps its id in any subset or copy of the file.
    """
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BbehImportError(f"{source}: cannot read the file ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise BbehImportError(f"{source}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, list) or not examples:
        raise BbehImportError(f"{source}: expected an object with a non-empty 'examples' list")
    samples: list[Sample] = []
    for i, item in enumerate(examples):
        where = f"{source}: item {i}"
        if not isinstance(item, dict) or not isinstance(item.get("input"), str) or "target" not in item:
            raise BbehImportError(f"{where}: expected an object with a string 'input' and a 'target'")
        try:
            puzzle = parse_puzzle(item["input"])
        except ZebraParseError as exc:
            raise BbehImportError(f"{where}: puzzle {exc}") from None
        target = str(item["target"]).strip()
        if not target.isdigit() or not 1 <= int(target) <= puzzle.n:
            raise BbehImportError(f"{where}: target {target!r} is not a position 1..{puzzle.n}")
        digest = hashlib.sha256(item["input"].encode()).hexdigest()[:12]
        meta = {
            "grid_size": puzzle.n,
            "num_attributes": len(puzzle.attributes),
            "num_clues": len(puzzle.clues),
            "chance": 1.0 / puzzle.n,
            "source": "bbeh",
            "source_index": item.get("index", i),
        }
        samples.append(Sample(id=f"{NAME}-bbeh-{digest}", task=NAME, prompt=item["input"],
                              target=target, metadata=meta))
    return samples


def check_bbeh(path: str | Path) -> tuple[int, int, list[Disagreement]]:
    """Parse and solve every puzzle of a BBEH file: (solved, total, disagreements with the target)."""
    samples = import_bbeh(path)
    disagreements: list[Disagreement] = []
    for i, sample in enumerate(samples):
        try:
            answer = solve(parse_puzzle(sample.prompt))
            found = ", ".join(str(p) for p in answer.positions) or "none"
        except SolverError as exc:
            found = f"error: {exc}"
        if found != sample.target:
            disagreements.append(Disagreement(i, sample.target, found))
    return len(samples) - len(disagreements), len(samples), disagreements
