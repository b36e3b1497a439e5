"""`best-of-n@n`: n chains of thought per budget, reranked by a verifier; the best one is the record.

The candidates are the same k samples voting uses (sample 0 is the cot trace of the same seed, the
rest use derived seeds and, where the backend can, the prompt's cache). Each candidate is judged by a
`Verifier` -- by default the built-in step judge (a process reward model read from a model's Yes/No
probabilities), on the generating model when it has the `StepScorer` capability (the embedded engine,
an OpenAI-compatible server), else on a judge model the registry loads (the default embedded model,
or the one named in "best-of-n@4,tiny"). The highest-scoring candidate wins;
ties go to the answer more candidates agree on, then to the lower index.

The record keeps the winner's own trace and answer; `extra` holds every candidate's score, its per-step
scores and its answer; `total_generated` sums the n candidates' generation (nested convention, the
generating model's sampling only), and `extra` reports the verifier's evaluated prompt tokens as
`verifier_tokens`. `compute_tokens` is the one count of what the answer cost: the n candidates'
thinking and answers plus the verifier's prompt and generated tokens; `samples` keeps every
candidate's answer text, verifier score and tokens (the store's child rows).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence

from overthink.errors import UserError
from overthink.models.base import Backend, Collected, GenerationRequest
from overthink.models.capabilities import StepScorer
from overthink.strategies.base import Item, Spend, Strategy
from overthink.strategies.common import sample_answers, sample_k, sub_seed
from overthink.strategies.verifiers import Judgement, Preflighted, StepJudge, Verifier
from overthink.strategies.vote import parse_k
from overthink.types import Budget, Completion


def pick_best(judgements: Sequence[Judgement], answers: Sequence[str | None]) -> int:
    """Index of the winner: highest score, then the more common answer, then the lower index."""
    counts = Counter(a for a in answers if a is not None)
    support = [counts[a] if a is not None else 0 for a in answers]
    return max(range(len(judgements)), key=lambda i: (judgements[i].score, support[i], -i))


# Loads the step-judge model named in "best-of-n@4,NAME" (None: the default judge); given by the registry,
# so the strategy never constructs a backend itself.
JudgeLoader = Callable[[str | None], StepScorer]


class BestOfNStrategy(Strategy):
    """Rerank n samples per budget with a verifier (built-in step judge unless one is given)."""

    def __init__(self, n: int, verifier: Verifier | None = None, judge_model: str | None = None,
                 load_judge: JudgeLoader | None = None) -> None:
        if n < 1:
            raise UserError(f"best-of-n@{n}: n must be >= 1")
        self.n = n
        self.verifier = verifier
        self.judge_model = judge_model
        self.load_judge = load_judge
        self._judges: dict[str | None, Verifier] = {}  # loaded judge per name (one sweep, many models)

    @classmethod
    def from_param(cls, param: str | None, load_judge: JudgeLoader | None = None) -> BestOfNStrategy:
        """"4" or "4,JUDGE_MODEL" (an embedded model name or PATH.gguf for the step judge)."""
        count, _, judge = (param or "").partition(",")
        return cls(parse_k(count or None, "best-of-n"), judge_model=judge.strip() or None, load_judge=load_judge)

    @property
    def name(self) -> str:
        return f"best-of-n@{self.n}" + (f",{self.judge_model}" if self.judge_model else "")

    def spend(self, budgets: Sequence[Budget]) -> Spend:
        return Spend(traces=self.n, verified=True)

    def unsupported_reason(self, backend: Backend, budgets: Sequence[Budget]) -> str | None:
        if self.verifier is not None or self.load_judge is not None:
            return None
        if self.judge_model is None and isinstance(backend, StepScorer):
            return None
        return "best-of-n needs a verifier: a backend that scores steps (llamacpp, openai-compat) or a judge model"

    async def preflight(self) -> str | None:
        """A configured verifier that can be asked (a served PRM) is asked before the sweep starts."""
        if isinstance(self.verifier, Preflighted):
            return await self.verifier.preflight(self.name)
        return None

    def _verifier(self, backend: Backend) -> Verifier:
        if self.verifier is not None:
            return self.verifier
        if self.judge_model is None and isinstance(backend, StepScorer):
            return StepJudge(backend)  # the generating model judges itself, on its own cache
        reason = self.unsupported_reason(backend, [])
        if reason or self.load_judge is None:
            raise UserError(reason or "best-of-n: no judge model loader")
        if self.judge_model not in self._judges:
            self._judges[self.judge_model] = StepJudge(self.load_judge(self.judge_model))
        return self._judges[self.judge_model]

    async def run(
        self, backend: Backend, request: GenerationRequest, budgets: Sequence[Budget], item: Item
    ) -> dict[str, Completion]:
        verifier = self._verifier(backend)
        drawn = await sample_k(backend, request, budgets, self.n)
        collected = Collected()
        for budget in budgets:
            failure = drawn.failure(budget)
            if failure is not None:  # the best of fewer than n is another strategy: this budget fails
                collected.failures[budget.label] = failure
                continue
            await collected.part([budget], self._best(verifier, item, budget, drawn.at(budget), request.seed))
        return collected.settle()

    async def _best(self, verifier: Verifier, item: Item, budget: Budget,
                    candidates: list[Completion], seed: int) -> dict[str, Completion]:
        """The record of one budget: the verifier's favourite of its n candidates."""
        judgements = [await verifier.judge(item.sample, c) for c in candidates]
        answers = [item.read_answer(c.text) for c in candidates]
        best = pick_best(judgements, answers)
        chosen = candidates[best]
        samples = sample_answers(candidates, answers, [sub_seed(seed, i) for i in range(len(candidates))],
                                 judgements)
        return {budget.label: dataclasses.replace(
            chosen,
            total_generated=sum(c.total_generated for c in candidates),
            compute_tokens=sum(s.compute_tokens for s in samples),
            samples=samples,
            wall_time_s=sum(c.wall_time_s for c in candidates),
            extra={
                **chosen.extra, "strategy": "best-of-n", "n": self.n, "verifier": verifier.name,
                "chosen": best, "scores": [round(j.score, 6) for j in judgements],
                "step_scores": [[round(s, 6) for s in j.steps] for j in judgements],
                "answers": answers, "verifier_tokens": sum(j.tokens for j in judgements),
                "reasoning_tokens_each": [c.usage.reasoning_tokens for c in candidates],
                "answer_tokens_each": [c.answer_tokens for c in candidates],
            },
        )}
