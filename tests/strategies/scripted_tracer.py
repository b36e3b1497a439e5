"""A scripted backend with every strategy capability, for testing strategies without a model.

`ScriptedTracer` adds shared-prompt sampling, probed forced traces and step scores (the Protocols of
overthink.models.capabilities) on top of the scripted backend's script: a forced trace answers at each
point what the script answers for that many thinking tokens, and a step's P(yes) is `judge(step)`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from overthink.models.base import GenerationRequest
from overthink.models.capabilities import ForcedTrace, StepScores, StopWhen
from overthink.models.scripted import Script, ScriptedBackend, unit
from overthink.types import Budget, Completion


def hash_judge(step: str) -> float:
    """A deterministic P(yes) in (0, 1) for a step's text."""
    return 0.05 + 0.9 * unit("judge", step)


class ScriptedTracer(ScriptedBackend):
    """The scripted backend with shared-prompt sampling, probed forced traces and step scores."""

    def __init__(self, script: Script | None = None, *, accuracy: float = 0.7,
                 judge: Callable[[str], float] = hash_judge) -> None:
        super().__init__(script, accuracy=accuracy)
        self.judge = judge
        self.sampled: list[list[int]] = []  # the seeds of every sample_k call
        self.traced: list[list[int]] = []  # the points of every forced_trace call

    async def sample_k(
        self, request: GenerationRequest, budgets: Sequence[Budget], seeds: Sequence[int]
    ) -> list[dict[str, Completion]]:
        self.sampled.append(list(seeds))
        return [await self.generate_nested(request.reseeded(seed), budgets) for seed in seeds]

    async def forced_trace(
        self, request: GenerationRequest, points: Sequence[int], stop_when: StopWhen | None = None
    ) -> ForcedTrace:
        """Forks in order; each owns the thinking since the previous one plus its answer (nested accounting)."""
        self.traced.append(sorted(set(points)))
        completions: dict[int, Completion] = {}
        previous = 0
        ordered = sorted(set(points))
        for index, point in enumerate(ordered):
            try:
                alone = await self.generate(request.at(Budget.parse(str(point))))
            except Exception as exc:  # as a server's trace breaks off: the forks before it stand
                return ForcedTrace(completions, failed={later: exc for later in ordered[index:]})
            completions[point] = dataclasses.replace(alone, total_generated=point - previous + alone.answer_tokens)
            previous = point
            if stop_when is not None and stop_when(point, alone.text):
                return ForcedTrace(completions, stopped_at=point)
        return ForcedTrace(completions)

    async def score_steps(
        self, messages: list[dict[str, str]], placeholder: str, steps: Sequence[str]
    ) -> StepScores:
        # prompt tokens: the steps' words; generated: one token per step, as a served judge samples
        return StepScores(tuple(self.judge(step) for step in steps), sum(len(step.split()) for step in steps),
                          generated=len(steps))
