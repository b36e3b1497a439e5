"""A task's samples: generated from its parameters, or read back from a JSONL file of `Sample`s; and
the pool of solved items `--shots` draws its worked examples from.

`overthink tasks export` writes a task's items one `Sample.to_json()` per line, and `tasks import`
turns public datasets into the same format; a config's `samples:` (or `run --samples FILE`) sweeps
exactly those items instead of generating. Reading is strict, because a silently skipped line is a
problem missing from every curve: each error names the file and the line.

The shot pool comes from the task's own generator with a seed derived from the task's (so examples
are never the questions themselves, and a resumed sweep shows the same ones); prompts/shots.py picks
each item's k examples from it and writes them in the answer format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from overthink.errors import TaskError, UserError
from overthink.tasks.base import TaskSpec, seeded_rng
from overthink.types import Sample

__all__ = ["SHOT_SEED_SALT", "load_samples", "shot_pool", "task_samples"]

SHOT_SEED_SALT = "shots"
POOL_EXTRA = 8  # examples generated beyond k, so an item never has to be shown itself


def load_samples(path: Path, task: str | None) -> list[Sample]:
    """Samples from a JSONL file (one `Sample.to_json()` per line); errors name the file and line."""
    if not path.is_file():
        raise UserError(f"samples file {path} not found")
    samples: list[Sample] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                sample = Sample.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise UserError(f"{path}:{number}: not a sample ({type(exc).__name__}: {exc})") from None
            if task is not None and sample.task != task:
                raise UserError(f"{path}:{number}: sample of task {sample.task!r}, expected {task!r}")
            samples.append(sample)
    if not samples:
        raise UserError(f"samples file {path} holds no samples")
    return samples


def shot_pool(task: TaskSpec, task_seed: int, k: int, params: dict[str, Any] | None = None) -> list[Sample]:
    """The solved items k-shot examples are drawn from (none for k = 0); a bad k is a UserError."""
    if k < 0:
        raise UserError(f"--shots {k} must be >= 0")
    if k == 0:
        return []
    try:
        return task.samples(k + POOL_EXTRA, seeded_rng(SHOT_SEED_SALT, task_seed).randrange(2**31), params)
    except TaskError as exc:
        raise UserError(f"task {task.name}: cannot generate {k} examples for --shots: {exc}") from None


def task_samples(task: TaskSpec, n: int, seed: int, params: dict[str, Any] | None, path: str | None, *,
                 shots: int = 0) -> tuple[list[Sample], list[Sample]]:
    """The items one task of a sweep asks (the file's when `path` is given, else `n` generated with `seed`),
    and the pool its `shots` worked examples come from."""
    loaded = load_samples(Path(path), task.name) if path is not None else None
    pool = shot_pool(task, seed, shots, params)
    return (loaded if loaded is not None else task.samples(n, seed, params)), pool
