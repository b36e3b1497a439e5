"""Pieces every multi-sample strategy shares: sub-seeds, answer keys, and k completions per budget.

Strategies that spend more than one chain of thought (voting, best-of-n) need three things done the
same way everywhere, or their comparisons would not be fair:

* sub-seeds: sample 0 keeps the group's own seed, so its trace is the very trace `cot` records for the
  same (sample, repeat) -- the comparison with `cot` is paired; samples 1..k-1 get seeds derived from it;
* answer keys: votes and probes compare the *task scorer's* extracted answer ("7", "B", "3"), not raw
  text, so "7 apples" and "7" agree; the run side hands it over as `Item.read_answer` (`item_for`),
  never through the request (no scorer: the answer tag);
* k completions per budget: a backend with the `SharedPromptSampler` capability draws the k samples
  itself (the embedded engine keeps the prompt's KV cache for samples 2..k, a server its prefix
  cache); any other backend is simply asked k times, once per sub-seed, with every budget. A sample
  that failed at one budget costs that budget's record only (`Drawn.failures`): the strategy's
  record at a budget fails when one of its k samples there failed, and stands otherwise;
* the samples behind a record (`sample_answers`): each sample's answer text, compared answer, tokens
  and verifier judgement, so the store can keep every sample auditable and the record's compute is
  the exact sum of its samples'.

Strategies that fork one forced trace (the scheduler, probed cot) share the check that a backend can
(`forks_one_trace`) and the preamble of their `run` (`tracer_for`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from overthink.errors import UserError
from overthink.models.base import Backend, BackendError, GenerationRequest, PartialFailure, per_seed
from overthink.models.capabilities import ForcedTracer, SharedPromptSampler
from overthink.scoring.extract import extract_answer
from overthink.strategies.base import Item
from overthink.strategies.verifiers import Judgement
from overthink.types import Budget, Completion, Mechanism, Sample, SampleAnswer, Score

AnswerScorer = Callable[[Sample, str], Score]  # a task's scorer, as the run side has it


def forks_one_trace(backend: Backend, budgets: Sequence[Budget]) -> bool:
    """Whether `backend` can fork answers off one forced trace at these budgets."""
    return isinstance(backend, ForcedTracer) and all(b.mechanism is Mechanism.FORCED for b in budgets)


def tracer_for(backend: Backend, budgets: Sequence[Budget], refusal: str | None) -> ForcedTracer:
    """`backend` as a ForcedTracer, once the strategy's own refusal (`unsupported_reason`, raised as the
    user's error) and the backend's budget check have passed."""
    if refusal:
        raise UserError(refusal)
    backend.require(budgets)
    assert isinstance(backend, ForcedTracer)  # the strategy's refusal names every other backend
    return backend


def sub_seed(seed: int, index: int) -> int:
    """Seed of sample `index` of a group: the group's seed for 0, a stable hash for the others."""
    if index == 0:
        return seed
    digest = hashlib.sha256(f"{seed}\x1fsample\x1f{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def answer_key(sample: Sample, text: str, scorer: AnswerScorer | None = None) -> str | None:
    """The extracted answer a vote or a probe compares: the task scorer's `extracted`, normalized.

    The run side binds the task's scorer into `Item.read_answer` (`item_for`), so strategies never
    look a task up; without one the answer tag is read.
    """
    extracted = scorer(sample, text).extracted if scorer is not None else extract_answer(text)
    if extracted is None:
        return None
    key = " ".join(str(extracted).split()).strip().lower()
    return key or None


def item_for(sample: Sample, scorer: AnswerScorer | None = None) -> Item:
    """The run side's `Item`: the sample, with answers read by the task's scorer (else the answer tag)."""
    return Item(sample, lambda text: answer_key(sample, text, scorer))


def sample_answers(samples: Sequence[Completion], answers: Sequence[str | None], seeds: Sequence[int],
                   judgements: Sequence[Judgement] | None = None) -> tuple[SampleAnswer, ...]:
    """The samples behind one record, in sample order (index i drew with `seeds[i]`)."""
    judged: Sequence[Judgement | None] = judgements if judgements is not None else [None] * len(samples)
    return tuple(
        SampleAnswer(index=i, seed=seed, text=c.text, answer=answer, reasoning_tokens=c.usage.reasoning_tokens,
                     answer_tokens=c.answer_tokens, verifier_score=None if v is None else v.score,
                     verifier_tokens=0 if v is None else v.tokens, verifier_generated=0 if v is None else v.generated)
        for i, (c, answer, seed, v) in enumerate(zip(samples, answers, seeds, judged, strict=True)))


@dataclass(frozen=True)
class Drawn:
    """k samples of one request: what each sample got per budget, and why a budget could not be had."""

    samples: list[dict[str, Completion]]
    failures: dict[str, Exception] = field(default_factory=dict)  # budget label -> first failure there

    def failure(self, budget: Budget) -> Exception | None:
        """Why this budget's k samples are incomplete (None: all k came back)."""
        if budget.label in self.failures:
            return self.failures[budget.label]
        if any(budget.label not in sample for sample in self.samples):
            return BackendError("a sample returned no completion for this budget")
        return None

    def at(self, budget: Budget) -> list[Completion]:
        """The k completions of `budget` (call only when `failure(budget)` is None)."""
        return [sample[budget.label] for sample in self.samples]


async def sample_k(backend: Backend, request: GenerationRequest, budgets: Sequence[Budget], k: int) -> Drawn:
    """k independent completions per budget (one dict per sample, keyed by budget label)."""
    if k < 1:
        raise ValueError("k must be >= 1")
    backend.require(budgets)
    seeds = [sub_seed(request.seed, index) for index in range(k)]
    try:
        if isinstance(backend, SharedPromptSampler):
            return Drawn(await backend.sample_k(request, budgets, seeds))
        return Drawn(await per_seed(budgets, seeds,
                                    lambda seed: backend.generate_nested(request.reseeded(seed), budgets)))
    except PartialFailure as exc:
        return Drawn(exc.samples, exc.failures)
