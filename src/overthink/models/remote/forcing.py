"""Budget forcing over a raw-completion endpoint (`/v1/completions`), with nested budgets.

The same semantics as the embedded engine (forcing.py), expressed in requests instead of token pushes:
- maximum: the thinking trace is cut at exactly N tokens, then "\n</think>\n\n<answer>" is appended and a
  bounded answer is generated;
- minimum: when the model closes thinking (`</think>`, `<answer>` or end-of-sequence, all stop conditions
  of the request) before N, the close is dropped, "\nWait" is appended and generation continues;
- budget 0 is an empty think block; `natural` stops at the first close (or the cap) without forcing.

Token counts come from the server's own tokenizer endpoint when it has one (source `tokenizer`): the
trace is re-tokenized after every segment, cut at N ids and, where the server accepts token-id prompts,
sent back as ids so the model sees exactly N thinking tokens. Without a tokenizer the server's
`usage.completion_tokens` bounds each segment and "Wait" is estimated, so counts are an `estimate` and
each budget is run on its own (no cut points exist to fork at).

Every segment uses a seed derived from (seed, segment index) and every answer one derived from
(seed, budget): a longer run therefore replays a shorter run's requests exactly, which is why the
longest trace can be generated once and forked at each smaller budget. Forks are made longest-first,
so each fork's prompt is a prefix of the previous request and the server's prefix cache does the rest.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

ANSWER_CUE = "\n</think>\n\n<answer>"
WAIT = "\nWait"
CLOSE_STOPS = ("</think>", "<answer>")
ANSWER_STOP = "</answer>"
NATURAL = -1
# "\nWait" is two tokens in the common BPE vocabularies (used only without a tokenizer).
WAIT_TOKEN_ESTIMATE = 2
# Tokens asked for beyond the cut point, so a close marker that begins before N is always seen whole:
# otherwise a run cut at N keeps a partial "</th" that a longer run would have recognised and replaced
# by "Wait", and nested forks would differ from independent runs.
LOOKAHEAD = 8


@dataclass(frozen=True)
class Segment:
    """One raw completion: its text, why it ended ("length" or "stop"), and the server's token counts."""

    text: str
    finish_reason: str
    tokens: int
    prompt_tokens: int


class CompletionServer(Protocol):
    """What forcing needs from the server (implemented by the OpenAI-compatible backend)."""

    token_prompts: bool

    async def complete(
        self, prompt: str | list[int], *, max_tokens: int, stop: Sequence[str], seed: int
    ) -> Segment: ...

    async def tokenize(self, text: str) -> list[int] | None: ...

    async def detokenize(self, ids: list[int]) -> str: ...


@dataclass
class RemoteFork:
    budget: int  # NATURAL for the natural end
    thinking: str
    thinking_tokens: int
    answer: str
    answer_tokens: int
    finish_reason: str
    wait_insertions: int
    generated: int
    wall_time_s: float
    censored: bool = False


@dataclass
class RemoteTrace:
    forks: dict[int, RemoteFork] = field(default_factory=dict)
    natural_end: int | None = None
    prompt_tokens: int = 0
    exact: bool = True  # counts from the model's own tokenizer


def derive_seed(seed: int, stream: str) -> int:
    """A 31-bit seed per stream, the same on every machine (servers take signed or unsigned ints)."""
    return zlib.crc32(f"{seed}:{stream}".encode()) & 0x7FFFFFFF


class RemoteForcer:
    """Forced traces over one server."""

    def __init__(self, server: CompletionServer, max_answer_tokens: int) -> None:
        self.server = server
        self.max_answer_tokens = max_answer_tokens

    async def answer(self, prefix: str | list[int], thinking: str | list[int], seed: int, budget: int) -> Segment:
        """A bounded answer after `prefix + thinking + cue` (ids when the server takes token prompts)."""
        if isinstance(prefix, list):
            assert isinstance(thinking, list)
            cue = await self.server.tokenize(ANSWER_CUE) or []
            prompt: str | list[int] = prefix + thinking + cue
        else:
            assert isinstance(thinking, str)
            prompt = prefix + thinking + ANSWER_CUE
        return await self.server.complete(
            prompt,
            max_tokens=self.max_answer_tokens,
            stop=(ANSWER_STOP,),
            seed=derive_seed(seed, f"answer:{budget}"),
        )

    async def run(
        self,
        prompt: str,
        budgets: Sequence[int],
        seed: int,
        *,
        natural: bool = False,
        force_minimum: bool = True,
        natural_cap: int = 2048,
    ) -> RemoteTrace:
        """One trace up to the largest budget (or the cap), forked at every budget and the natural end."""
        prompt_ids = await self.server.tokenize(prompt)
        if prompt_ids is None:
            return await self._run_estimated(
                prompt, budgets, seed, natural=natural, force_minimum=force_minimum, natural_cap=natural_cap
            )
        points = sorted(set(budgets), reverse=True)
        limit = points[0] if points else 0
        if not force_minimum:
            limit = max(limit, natural_cap)
        result = RemoteTrace(prompt_tokens=len(prompt_ids), exact=True)
        text, ids = "", list[int]()
        waits_at: list[int] = []
        natural_text: str | None = None
        generated, segment = 0, 0
        started = time.perf_counter()
        while len(ids) < limit:
            request: str | list[int] = prompt_ids + ids if self.server.token_prompts else prompt + text
            part = await self.server.complete(
                request,
                max_tokens=limit - len(ids) + LOOKAHEAD,
                stop=CLOSE_STOPS,
                seed=derive_seed(seed, f"think:{segment}"),
            )
            segment += 1
            generated += part.tokens
            text += part.text
            ids = await self.server.tokenize(text) or []
            if part.finish_reason == "length":
                if part.tokens == 0:
                    break
                continue
            # the model closed its thinking (stop string or end-of-sequence): note it, then force "Wait"
            if result.natural_end is None:
                result.natural_end = len(ids)
                natural_text = text
            if not force_minimum:
                break
            waits_at.append(len(ids))
            text += WAIT
            ids = await self.server.tokenize(text) or []
        if result.natural_end is not None and result.natural_end > limit:  # seen only in the lookahead
            result.natural_end, natural_text = None, None
        ids = ids[: max(limit, 0)]
        text = await self.server.detokenize(ids) if ids else ""
        think_time = time.perf_counter() - started
        share = think_time / max(1, len(ids))
        previous = 0
        for point in sorted(points):  # generated-token attribution goes in ascending order
            cut = min(point, len(ids))
            own = max(0, cut - previous)
            previous = max(previous, cut)
            result.forks[point] = RemoteFork(
                point, "", cut, "", 0, "", sum(1 for w in waits_at if w < cut), own, own * share
            )
        if points:  # sampled tokens beyond the attributed positions (lookahead, stop strings) go to the longest
            longest = result.forks[points[0]]
            longest.generated = max(0, longest.generated + generated - sum(f.generated for f in result.forks.values()))
        for point in points:  # answers longest-first: each prompt extends the cached prefix
            fork = result.forks[point]
            cut_ids = ids[: fork.thinking_tokens]
            thinking = await self.server.detokenize(cut_ids) if cut_ids else ""
            realized = len(await self.server.tokenize(thinking) or []) if thinking else 0
            begun = time.perf_counter()
            if self.server.token_prompts:
                reply = await self.answer(prompt_ids, cut_ids, seed, point)
                realized = len(cut_ids)
            else:
                reply = await self.answer(prompt, thinking, seed, point)
            fork.thinking, fork.thinking_tokens = thinking, realized
            self._finish(fork, reply, time.perf_counter() - begun)
        if natural:
            await self._natural_fork(result, prompt, prompt_ids, seed, natural_text, text, ids)
        return result

    async def _natural_fork(
        self,
        result: RemoteTrace,
        prompt: str,
        prompt_ids: list[int],
        seed: int,
        natural_text: str | None,
        text: str,
        ids: list[int],
    ) -> None:
        censored = natural_text is None
        thinking = text if natural_text is None else natural_text
        thinking_ids = ids if natural_text is None else (await self.server.tokenize(natural_text) or [])
        begun = time.perf_counter()
        if self.server.token_prompts:
            reply = await self.answer(prompt_ids, thinking_ids, seed, NATURAL)
        else:
            reply = await self.answer(prompt, thinking, seed, NATURAL)
        fork = RemoteFork(NATURAL, thinking, len(thinking_ids), "", 0, "", 0, 0, 0.0, censored=censored)
        self._finish(fork, reply, time.perf_counter() - begun)
        result.forks[NATURAL] = fork

    @staticmethod
    def _finish(fork: RemoteFork, reply: Segment, seconds: float) -> None:
        fork.answer = reply.text
        fork.answer_tokens = reply.tokens
        fork.finish_reason = reply.finish_reason
        fork.generated += reply.tokens
        fork.wall_time_s += seconds

    async def _run_estimated(
        self,
        prompt: str,
        budgets: Sequence[int],
        seed: int,
        *,
        natural: bool,
        force_minimum: bool,
        natural_cap: int,
    ) -> RemoteTrace:
        """No tokenizer: each budget is its own trace, bounded by the server's token counts."""
        result = RemoteTrace(exact=False)
        points = sorted(set(budgets), reverse=True)
        if not points and not force_minimum:
            points = []
        runs = points or [natural_cap]
        for point in runs:
            limit = point if force_minimum else max(point, natural_cap)
            text, count, waits, segment, generated = "", 0, 0, 0, 0
            natural_text: str | None = None
            natural_count = 0
            started = time.perf_counter()
            while count < limit:
                part = await self.server.complete(
                    prompt + text,
                    max_tokens=limit - count,
                    stop=CLOSE_STOPS,
                    seed=derive_seed(seed, f"think:{segment}"),
                )
                result.prompt_tokens = result.prompt_tokens or part.prompt_tokens
                segment += 1
                generated += part.tokens
                text += part.text
                count += part.tokens
                if part.finish_reason == "length":
                    if part.tokens == 0:
                        break
                    continue
                if natural_text is None:
                    natural_text, natural_count = text, count
                if not force_minimum:
                    break
                waits += 1
                text += WAIT
                count += WAIT_TOKEN_ESTIMATE
            if points:
                reply = await self.answer(prompt, text, seed, point)
                fork = RemoteFork(
                    point, text, min(count, limit), "", 0, "", waits, generated, time.perf_counter() - started
                )
                self._finish(fork, reply, 0.0)
                result.forks[point] = fork
            if natural and NATURAL not in result.forks:
                thinking = text if natural_text is None else natural_text
                reply = await self.answer(prompt, thinking, seed, NATURAL)
                fork = RemoteFork(
                    NATURAL,
                    thinking,
                    count if natural_text is None else natural_count,
                    "",
                    0,
                    "",
                    0,
                    0 if points else generated,
                    0.0,
                    censored=natural_text is None,
                )
                self._finish(fork, reply, 0.0)
                result.forks[NATURAL] = fork
                result.natural_end = None if natural_text is None else natural_count
        return result
