"""Verifiers for best-of-n: an interface for outcome and process reward models, and a built-in judge.

A `Verifier` looks at one candidate completion and returns a `Judgement`: an overall score (higher is
better), the score of every reasoning step when it is a process reward model, and the tokens it spent:
the prompt tokens it read and the tokens it generated, both part of the record's compute. External reward models
plug in by implementing `judge`, or by wrapping a plain function in `OutcomeVerifier`.

`StepJudge` is the built-in process reward model. It asks a language model, after each step of the
solution so far, "Is the last step correct? Answer Yes or No." and reads P(Yes) from the next-token
probabilities, normalized over {Yes, No} -- no sampling, so judging is deterministic. The model is any
backend with the `StepScorer` capability (the embedded engine, or an OpenAI-compatible server over
/v1/completions): it gets the chat with a placeholder where the steps go, so judging step i+1 needs to
evaluate only step i+1 and the short question on top of the cache that already holds steps 1..i. A
candidate's score is its weakest step (min): one wrong step sinks a chain of reasoning, and `min` is
the usual PRM aggregation (`last` and `product` can be chosen, `aggregate`). A served PRM (a reward
model behind an HTTP pooling endpoint) is process_reward.py's `ProcessRewardVerifier`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from overthink.models.capabilities import StepScorer, yes_probability
from overthink.types import Completion, Sample

__all__ = ["AGGREGATIONS", "Aggregation", "Judgement", "OutcomeVerifier", "Preflighted", "StepJudge", "Verifier",
           "aggregate",
           "final_step", "split_steps", "yes_probability"]

JUDGE_SYSTEM = "You check worked solutions one step at a time. Reply with Yes or No only."
JUDGE_USER = (
    "Problem:\n{problem}\n\nSolution so far:\n{steps}\n\n"
    "Is the last step of the solution so far correct? Answer Yes or No."
)
PLACEHOLDER = "\x00STEPS\x00"
MIN_STEP_CHARS = 160
MAX_STEPS = 16

# How a process reward model's step scores become a candidate's score: the weakest step (one wrong step
# sinks a chain), the final step (a PRM's estimate that the whole solution is right), or the product
# (the chance every step is right, if the scores are independent probabilities; long chains pay for it).
Aggregation = Literal["min", "last", "product"]
AGGREGATIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "min": min,
    "last": lambda scores: scores[-1],
    "product": math.prod,
}


def aggregate(scores: Sequence[float], how: str) -> float:
    """A candidate's score from its step scores (0.0 when no step was scored)."""
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    return float(AGGREGATIONS[how](scores)) if scores else 0.0


@dataclass(frozen=True)
class Judgement:
    score: float
    steps: tuple[float, ...] = ()
    tokens: int = 0  # prompt tokens the verifier read (evaluated, or sent to a server) for this judgement
    generated: int = 0  # tokens the verifier generated for it (both count as compute)


class Verifier(Protocol):
    """Scores a candidate; outcome verifiers leave `steps` empty, process reward models fill it."""

    @property
    def name(self) -> str: ...

    async def judge(self, sample: Sample, completion: Completion) -> Judgement: ...


@runtime_checkable
class Preflighted(Protocol):
    """A verifier that can be asked before the sweep whether it can work at all (a served PRM):
    raises PreflightError when it cannot, returns a warning line when the answer is inconclusive.
    `strategy` is the label of the strategy that names it, for the message."""

    async def preflight(self, strategy: str) -> str | None: ...


class OutcomeVerifier:
    """Wraps an external outcome reward model: a function of (sample, answer text) -> score."""

    def __init__(self, name: str, score: Callable[[Sample, str], float]) -> None:
        self._name = name
        self._score = score

    @property
    def name(self) -> str:
        return self._name

    async def judge(self, sample: Sample, completion: Completion) -> Judgement:
        return Judgement(score=float(self._score(sample, completion.text)))


def split_steps(reasoning: str, min_chars: int = MIN_STEP_CHARS, max_steps: int = MAX_STEPS) -> list[str]:
    """Reasoning lines merged greedily into steps of at least `min_chars` (prefix-stable as it grows)."""
    lines = [line.strip() for line in reasoning.splitlines() if line.strip()]
    while True:
        steps: list[str] = []
        current = ""
        for line in lines:
            current = f"{current}\n{line}" if current else line
            if len(current) >= min_chars:
                steps.append(current)
                current = ""
        if current:
            steps.append(current)
        if len(steps) <= max_steps:
            return steps
        min_chars *= 2


def final_step(answer_text: str) -> str:
    """The answer as the last step to judge ("Final answer: 7")."""
    text = answer_text.replace("<answer>", "").replace("</answer>", "").strip()
    return f"Final answer: {text or '(none)'}"


class StepJudge:
    """Process reward model from a model's P(Yes | "is the last step correct?"), on any StepScorer."""

    def __init__(self, scorer: StepScorer, how: Aggregation = "min") -> None:
        aggregate([1.0], how)  # an unknown aggregation is refused when built, not at the first candidate
        self.scorer = scorer
        self.how = how

    @property
    def name(self) -> str:
        return f"step-judge:{self.scorer.model_id}" + ("" if self.how == "min" else f"[{self.how}]")

    async def judge(self, sample: Sample, completion: Completion) -> Judgement:
        steps = [*split_steps(completion.reasoning), final_step(completion.text)]
        messages = [{"role": "system", "content": JUDGE_SYSTEM},
                    {"role": "user", "content": JUDGE_USER.format(problem=sample.prompt, steps=PLACEHOLDER)}]
        scores = await self.scorer.score_steps(messages, PLACEHOLDER, steps)
        probabilities = scores.probabilities
        return Judgement(score=aggregate(probabilities, self.how), steps=probabilities, tokens=scores.tokens,
                         generated=scores.generated)
