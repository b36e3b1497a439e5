"""Pieces every multi-sample strategy shares: sub-seeds, answer keys, and k completions per budget.

Strategies that spend more than one chain of thought (voting, best-of-n) need three things done the
same way everywhere, or their comparisons would not be fair:

* sub-seeds: sample 0 keeps the group's own seed, so its trace is the very trace `cot` records for the
  same (sample, repeat) -- the comparison with `cot` is paired; samples 1..k-1 get seeds derived from it;
* answer keys: votes and probes compare the *task scorer's* extracted answer ("7", "B", "3"), not raw
  text, so "7 apples" and "7" agree; the scorer travels with the request (no scorer: the answer tag);
* k completions per budget: on the embedded engine the k traces reuse the prompt's KV cache
  (`Forcer.run(fresh=False)` for samples 2..k) and keep nested budgets per sample; any other backend is
  simply called k times.

Voting with a shared prompt cache, probing a growing trace and judging steps from token probabilities
need the loaded `LlamaEngine` itself. The backend serializes use of its one KV cache with a lock;
`engine_session` / `forcer_session` take the same lock, so a strategy never races the backend (or
another strategy) for the cache. They block: call them from `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from overthink.models.base import AnswerScorer, Backend, GenerationRequest
from overthink.models.generation import Sampling
from overthink.scoring.extract import extract_answer
from overthink.types import Budget, BudgetKind, Completion, Mechanism, Sample

if TYPE_CHECKING:
    from overthink.models.forcing import Forcer
    from overthink.models.llamacpp import LlamaCppBackend
    from overthink.models.llamacpp_engine import LlamaEngine


def sub_seed(seed: int, index: int) -> int:
    """Seed of sample `index` of a group: the group's seed for 0, a stable hash for the others."""
    if index == 0:
        return seed
    digest = hashlib.sha256(f"{seed}\x1fsample\x1f{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def answer_key(sample: Sample, text: str, scorer: AnswerScorer | None = None) -> str | None:
    """The extracted answer a vote or a probe compares: the task scorer's `extracted`, normalized.

    The scorer comes with the request (the runner puts the task's there), so strategies never look a
    task up; without one the answer tag is read.
    """
    extracted = scorer(sample, text).extracted if scorer is not None else extract_answer(text)
    if extracted is None:
        return None
    key = " ".join(str(extracted).split()).strip().lower()
    return key or None


def _is_embedded(backend: Backend) -> bool:
    from overthink.models.llamacpp import LlamaCppBackend

    return isinstance(backend, LlamaCppBackend)


def embedded_forced(backend: Backend, budgets: Sequence[Budget]) -> bool:
    """True when the shared-KV fast path applies: the embedded engine and only forced budgets."""
    return _is_embedded(backend) and all(b.mechanism is Mechanism.FORCED for b in budgets)


async def sample_k(
    backend: Backend, request: GenerationRequest, budgets: Sequence[Budget], k: int
) -> list[dict[str, Completion]]:
    """k independent completions per budget (one dict per sample, keyed by budget label)."""
    if k < 1:
        raise ValueError("k must be >= 1")
    if embedded_forced(backend, budgets):
        backend.require(budgets)
        return await asyncio.to_thread(_embedded_k, backend, request, list(budgets), k)
    out: list[dict[str, Completion]] = []
    for index in range(k):
        seeded = request.reseeded(sub_seed(request.seed, index))
        if backend.capabilities.nested and len(budgets) > 1:
            out.append(await backend.generate_nested(seeded, budgets))
            continue
        one: dict[str, Completion] = {}
        for budget in budgets:
            one[budget.label] = await backend.generate(seeded.at(budget))
        out.append(one)
    return out


def _embedded_k(backend: Any, request: GenerationRequest, budgets: list[Budget], k: int) -> list[dict[str, Completion]]:
    """k nested traces on the embedded engine; samples 2..k keep the prompt's KV cache."""
    from overthink.models.forcing import NATURAL
    from overthink.models.llamacpp import LlamaCppBackend

    sampling = request.sampling.resolve()
    points = [b.tokens for b in budgets if b.tokens is not None]
    want_natural = any(b.kind is BudgetKind.NATURAL for b in budgets)
    thinking = max([*points, sampling.natural_cap if want_natural else 0, 0])
    out: list[dict[str, Completion]] = []
    with forcer_session(backend, sampling, thinking) as (engine, forcer):
        prompt = backend.prompt_ids(engine, request)
        for index in range(k):
            seed = sub_seed(request.seed, index)
            if points:
                result = forcer.run(prompt, points, seed, natural=want_natural, fresh=index == 0)
            else:
                result = forcer.run(prompt, [], seed, force_minimum=False, natural=True,
                                    natural_cap=sampling.natural_cap, fresh=index == 0)
            one: dict[str, Completion] = {}
            for budget in budgets:
                key = NATURAL if budget.kind is BudgetKind.NATURAL else budget.tokens
                assert key is not None
                one[budget.label] = LlamaCppBackend.completion_from(engine, prompt, result, result.forks[key])
            out.append(one)
    return out


@contextmanager
def engine_session(backend: LlamaCppBackend, n_ctx: int) -> Iterator[LlamaEngine]:
    """The backend's engine, sized for at least `n_ctx` tokens, held exclusively for the block."""
    with backend.session(n_ctx) as engine:
        yield engine


@contextmanager
def forcer_session(
    backend: LlamaCppBackend, sampling: Sampling, max_thinking: int
) -> Iterator[tuple[LlamaEngine, Forcer]]:
    """Engine plus a Forcer configured from the request's sampling, as the backend itself builds them."""
    from overthink.models.forcing import Forcer
    from overthink.models.llamacpp_engine import Sampler

    n_ctx = backend.context_for(max_thinking, sampling.max_answer_tokens)
    with engine_session(backend, n_ctx) as engine:
        sampler = Sampler(sampling.temperature, sampling.top_p, sampling.top_k)
        yield engine, Forcer(engine, sampler, sampling.max_answer_tokens)
