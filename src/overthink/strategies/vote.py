"""`vote@k`: self-consistency -- k chains of thought per budget, majority vote over extracted answers.

Votes are cast on the task scorer's extracted answer (see common.answer_key), so two completions that
say "7" and "7 apples" agree, and a completion with no extractable answer abstains. Ties are broken by
a seeded rule that does not depend on the order the samples finished in: among the tied answers, the
one with the smallest hash of (seed, answer) wins. The stored completion is the verdict itself,
"<answer>{voted}</answer>", with the reasoning of the first sample that voted for it (for browsing),
every sample's answer in `extra`, the compute of all k samples in `total_generated` (nested
convention) and `compute_tokens` (stand-alone), and every sample's answer text in `samples` (the
store's child rows, so a refusal inside a vote can be audited).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

from overthink.errors import UserError
from overthink.models.base import Backend, GenerationRequest, settle
from overthink.strategies.base import Item, Spend, Strategy
from overthink.strategies.common import sample_answers, sample_k, sub_seed
from overthink.types import Budget, Completion, Usage


def tie_break(candidates: Sequence[str], seed: int) -> str:
    """The seeded winner among tied answers: independent of their order, stable across machines."""
    return min(candidates, key=lambda a: (hashlib.sha256(f"{seed}\x1f{a}".encode()).digest(), a))


def majority(answers: Sequence[str | None], seed: int) -> tuple[str | None, dict[str, int], bool]:
    """(winner, vote counts, whether a tie was broken); abstentions (None) do not vote."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None, {}, False
    top = max(counts.values())
    tied = sorted(a for a, c in counts.items() if c == top)
    winner = tied[0] if len(tied) == 1 else tie_break(tied, seed)
    return winner, dict(sorted(counts.items())), len(tied) > 1


def combine(samples: Sequence[Completion], answers: Sequence[str | None], winner: str | None,
            extra: dict[str, object], seeds: Sequence[int]) -> Completion:
    """One record's completion from k samples: the verdict text, summed compute, mean realized thinking.

    `usage.reasoning_tokens` is the mean per-sample thinking length (the x axis stays comparable with
    the budget); `total_generated` is every token the k samples generated for this budget (nested
    convention) and `compute_tokens` what the k samples cost at this budget alone (their sum).
    """
    rep = next((i for i, a in enumerate(answers) if winner is not None and a == winner), 0)
    chosen = samples[rep]
    k = len(samples)
    thinking = [c.usage.reasoning_tokens for c in samples]
    each = sample_answers(samples, answers, seeds)
    usage = Usage(
        input_tokens=sum(c.usage.input_tokens for c in samples),
        output_tokens=sum(c.usage.output_tokens for c in samples),
        reasoning_tokens=round(sum(thinking) / k),
        reasoning_source=chosen.usage.reasoning_source,
        cost_usd=sum(c.usage.cost_usd for c in samples),
    )
    return Completion(
        text=f"<answer>{winner if winner is not None else ''}</answer>",
        reasoning=chosen.reasoning,
        usage=usage,
        finish_reason=chosen.finish_reason,
        wall_time_s=sum(c.wall_time_s for c in samples),
        wait_insertions=chosen.wait_insertions,
        answer_tokens=chosen.answer_tokens,
        looping=sum(c.looping for c in samples) * 2 > k,
        total_generated=sum(c.total_generated for c in samples),
        compute_tokens=sum(s.compute_tokens for s in each),
        samples=each,
        extra={
            **extra,
            "k": k,
            "answers": list(answers),
            "reasoning_tokens_each": thinking,
            "answer_tokens_each": [c.answer_tokens for c in samples],
            "representative": rep,
            "censored": any(bool(c.extra.get("censored")) for c in samples),
        },
    )


class VoteStrategy(Strategy):
    """Majority vote of k samples per budget (self-consistency)."""

    def __init__(self, k: int) -> None:
        if k < 1:
            raise UserError(f"vote@{k}: k must be a whole number >= 1 (e.g. vote@5)")
        self.k = k

    @property
    def name(self) -> str:
        return f"vote@{self.k}"

    def spend(self, budgets: Sequence[Budget]) -> Spend:
        return Spend(traces=self.k)

    async def run(
        self, backend: Backend, request: GenerationRequest, budgets: Sequence[Budget], item: Item
    ) -> dict[str, Completion]:
        drawn = await sample_k(backend, request, budgets, self.k)
        seeds = [sub_seed(request.seed, i) for i in range(self.k)]
        out: dict[str, Completion] = {}
        failures: dict[str, Exception] = {}
        for budget in budgets:
            failure = drawn.failure(budget)
            if failure is not None:  # a vote of fewer than k samples is another strategy: this budget fails
                failures[budget.label] = failure
                continue
            per_sample = drawn.at(budget)
            answers = [item.read_answer(c.text) for c in per_sample]
            winner, votes, tie = majority(answers, request.seed)
            out[budget.label] = combine(per_sample, answers, winner,
                                        {"strategy": "vote", "votes": votes, "tie": tie, "seeds": seeds}, seeds)
        return settle(out, failures)


def parse_k(param: str | None, strategy: str, default: int | None = None) -> int:
    """The k in "vote@5" / "best-of-n@4"; a missing or bad k is a UserError naming the fix."""
    if param is None:
        if default is not None:
            return default
        raise UserError(f"strategy {strategy!r} needs a sample count, e.g. {strategy}@5")
    try:
        value = int(param)
    except ValueError:
        raise UserError(f"{strategy}@{param}: the count must be a whole number, e.g. {strategy}@5") from None
    if value < 1:
        raise UserError(f"{strategy}@{param}: the count must be >= 1")
    return value
