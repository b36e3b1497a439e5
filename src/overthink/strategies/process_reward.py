"""A process reward model behind a `Verifier`: step rewards from any `StepRewarder`, aggregated.

The rewarder is whatever gives one reward per step of a solution -- a served PRM over HTTP
(models/remote/reward.py, vLLM's Pooling API), or a test double. The candidate is split into steps
exactly as the built-in step judge splits it (`split_steps`, the answer as the last step), so the two
PRMs judge the same steps and their `step_scores` can be compared record for record.

How the step rewards become the candidate's score is a choice with consequences, so it is named:
(`aggregate` in verifiers.py, shared with the step judge):
`min` (the weakest step: one wrong step sinks a chain, the usual PRM rule), `last` (the reward of the
final step, which for a PRM trained on prefixes is its estimate that the whole solution is right), and
`product` (the chance that every step is right, if rewards are independent probabilities; it penalizes
long chains). Every step's reward is kept in the record (`extra.step_scores`), so another aggregation
can be recomputed from a store without asking the PRM again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from overthink.models.capabilities import StepScores
from overthink.strategies.verifiers import Aggregation, Judgement, aggregate, final_step, split_steps
from overthink.types import Completion, Sample

__all__ = ["AskedFirst", "Closable", "ProcessRewardVerifier", "StepRewarder"]


@runtime_checkable
class StepRewarder(Protocol):
    """One reward per step of a solution to a problem, and the tokens spent reading them."""

    @property
    def model_id(self) -> str: ...

    async def reward_steps(self, problem: str, steps: Sequence[str]) -> StepScores: ...


@runtime_checkable
class Closable(Protocol):
    """Something holding connections (a served PRM's HTTP client), closed with the run."""

    async def aclose(self) -> None: ...


@runtime_checkable
class AskedFirst(Protocol):
    """A rewarder that answers a preflight (models/remote/reward_preflight.py); `label` names it in messages."""

    async def preflight(self, label: str) -> str | None: ...


class ProcessRewardVerifier:
    """best-of-n's verifier from a `StepRewarder` (a served PRM); its failures are the record's errors."""

    def __init__(self, rewarder: StepRewarder, how: Aggregation = "min", label: str = "prm") -> None:
        aggregate([1.0], how)  # an unknown aggregation is refused when built, not at the first candidate
        self.rewarder, self.how, self.label = rewarder, how, label

    @property
    def name(self) -> str:
        return f"{self.label}:{self.rewarder.model_id}" + ("" if self.how == "min" else f"[{self.how}]")

    async def judge(self, sample: Sample, completion: Completion) -> Judgement:
        steps = [*split_steps(completion.reasoning), final_step(completion.text)]
        scores = await self.rewarder.reward_steps(sample.prompt, steps)
        rewards = scores.probabilities
        return Judgement(score=aggregate(rewards, self.how), steps=rewards, tokens=scores.tokens,
                         generated=scores.generated)

    async def preflight(self, strategy: str) -> str | None:
        """Ask the rewarder before the sweep when it can be asked (a served PRM); None otherwise."""
        if isinstance(self.rewarder, AskedFirst):
            return await self.rewarder.preflight(f"{self.label!r} ({strategy})")
        return None

    async def aclose(self) -> None:
        """Close the rewarder's connections when it has any (a served PRM); the verifier stays usable."""
        if isinstance(self.rewarder, Closable):
            await self.rewarder.aclose()
