"""Example anchoring at run time: k worked examples from the same generator in front of every question.

`overthink run --shots k` puts k solved items before the question. They come from the task's own
generator with a different seed (so they are never the question itself) and carry the answer in the
format the model must use. Which k examples an item gets is fixed by the item's id, so a resumed or
repeated sweep shows the same examples.

Zero-shot and k-shot records must never mix on one curve, and the analysis groups curves by
(model, task, mechanism, strategy), so the number of shots is part of the recorded strategy name:
"cot+3shot", "vote@5+2shot" (zero shots keep the plain name). mitigations/anchoring.py measures the
effect. The examples reach the prompt through `prompts.render.render(sample, shots)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from overthink.errors import UserError
from overthink.prompts.render import Shots
from overthink.tasks.base import TaskSpec, seeded_rng
from overthink.tasks.sample_file import SHOT_SEED_SALT, shot_pool
from overthink.types import Sample

__all__ = ["Shots", "make_shots_of", "shots_from_pool", "worked_answer"]


def worked_answer(sample: Sample) -> str:
    """The example's answer in the required format (with its worked solution when the task has one)."""
    for key in ("solution", "explanation", "rationale"):
        text = sample.metadata.get(key)
        if isinstance(text, str) and text.strip():
            return f"<think>\n{text.strip()}\n</think>\n<answer>{sample.target}</answer>"
    return f"<answer>{sample.target}</answer>"


def shots_from_pool(task: str, pool: Sequence[Sample], k: int) -> Callable[[Sample], Shots]:
    """k examples for a sample, drawn from `pool` (the task's solved items, `tasks.sample_file.shot_pool`)
    and fixed by the sample's id, never the sample itself."""
    if k == 0:
        return lambda sample: ()

    def shots_of(sample: Sample) -> Shots:
        candidates = [s for s in pool if s.prompt != sample.prompt and s.id != sample.id]
        if len(candidates) < k:
            raise UserError(f"task {task} yields too few distinct examples for --shots {k}")
        chosen = seeded_rng(SHOT_SEED_SALT, sample.id).sample(candidates, k)
        return tuple((s.prompt, worked_answer(s)) for s in chosen)

    return shots_of


def make_shots_of(task: TaskSpec, task_seed: int, k: int, params: dict[str, Any] | None = None
                  ) -> Callable[[Sample], Shots]:
    """k examples for a sample of `task`, from a pool generated with the task's seed (as a sweep draws them)."""
    return shots_from_pool(task.name, shot_pool(task, task_seed, k, params), k)
