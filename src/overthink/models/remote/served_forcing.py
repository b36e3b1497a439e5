"""Budget forcing over a raw-completion endpoint (`/v1/completions`), with nested budgets.

The semantics of forcing_spec.py (the embedded engine's too), expressed in requests instead of token
pushes: the close markers and end-of-sequence are the request's stop conditions; a close before N is
dropped and "\nWait" appended; the trace is cut at exactly N tokens and the answer cue appended.

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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from overthink.models.forcing_spec import ANSWER_CUE, ANSWER_STOP, CLOSE_STOPS, NATURAL, WAIT, Fork, Trace

# "\nWait" is two tokens in the common BPE vocabularies (used only without a tokenizer).
WAIT_TOKEN_ESTIMATE = 2
# Tokens asked for beyond the cut point, so a close marker that begins before N is always seen whole:
# otherwise a run cut at N keeps a partial "</th" that a longer run would have recognised and replaced
# by "Wait", and nested forks would differ from independent runs.
LOOKAHEAD = 8
StopWhen = Callable[[Fork], bool]


class NoTokenizer(Exception):
    """A probed trace was asked of a server without a tokenizer endpoint (no exact cut points)."""


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


def derive_seed(seed: int, stream: str) -> int:
    """A 31-bit seed per stream, the same on every machine (servers take signed or unsigned ints)."""
    return zlib.crc32(f"{seed}:{stream}".encode()) & 0x7FFFFFFF


@dataclass
class _Thinking:
    """A growing trace with exact token counts: its text, ids, forced "Wait" positions and cost."""

    prompt: str
    prompt_ids: list[int]
    seed: int
    force_minimum: bool
    text: str = ""
    ids: list[int] = field(default_factory=list)
    waits_at: list[int] = field(default_factory=list)
    natural_end: int | None = None
    natural_text: str | None = None
    generated: int = 0  # tokens the server sampled for the trace (lookahead and stop strings included)
    segment: int = 0
    done: bool = False  # closed in the natural regime, or the server stopped producing tokens
    started: float = field(default_factory=time.perf_counter)


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
    ) -> Trace:
        """One trace up to the largest budget (or the cap), forked at every budget and the natural end.

        A request that fails for good costs only the forks that needed it (`Trace.failed`): when the
        trace breaks off, every budget it had already reached is forked as a shorter run would have
        been, and each fork's answer is its own request.
        """
        prompt_ids = await self.server.tokenize(prompt)
        if prompt_ids is None:
            return await self._run_estimated(
                prompt, budgets, seed, natural=natural, force_minimum=force_minimum, natural_cap=natural_cap
            )
        points = sorted(set(budgets), reverse=True)
        limit = max(points[0] if points else 0, 0 if force_minimum else natural_cap)
        state = _Thinking(prompt, prompt_ids, seed, force_minimum)
        result = Trace(prompt_tokens=len(prompt_ids), exact=True)
        try:
            await self._think(state, limit)
        except Exception as exc:  # the trace broke off: the points it reached are still forked
            result.failed = {p: exc for p in points if p > len(state.ids)}
            if natural and state.natural_end is None:  # how it would have ended is unknown
                result.failed[NATURAL] = exc
            points = [p for p in points if p not in result.failed]
            limit = min(limit, len(state.ids))
        if state.natural_end is not None and state.natural_end > limit:  # seen only in the lookahead
            state.natural_end, state.natural_text = None, None
        result.natural_end = state.natural_end
        ids = state.ids[: max(limit, 0)]
        self._attribute(result, state, sorted(points), ids)
        for point in points:  # answers longest-first: each prompt extends the cached prefix
            await self._answered(result, point, self._answer_fork(state, result.forks[point], ids))
        if natural and NATURAL not in result.failed:
            await self._answered(result, NATURAL, self._natural_fork(result, state, ids))
        return result

    @staticmethod
    async def _answered(result: Trace, point: int, answer: Awaitable[None]) -> None:
        """Await one fork's answer; a failure drops that fork only (kept in `failed` with its reason)."""
        try:
            await answer
        except Exception as exc:  # the other forks' answers are separate requests: they still run
            result.forks.pop(point, None)
            result.failed[point] = exc

    async def run_probed(self, prompt: str, points: Sequence[int], seed: int, stop_when: StopWhen) -> Trace:
        """The trace generated in pieces that end at each point, answered there; `stop_when` may end it.

        The pieces are the same requests a plain run would make except that each point starts a new
        segment (with its own derived seed), so the trace equals the plain run's wherever decoding is
        deterministic. Needs the server's tokenizer: without exact counts there are no cut points.
        """
        prompt_ids = await self.server.tokenize(prompt)
        if prompt_ids is None:
            raise NoTokenizer("probing a trace needs the server's tokenizer endpoint (option tokenizer=true)")
        state = _Thinking(prompt, prompt_ids, seed, force_minimum=True)
        result = Trace(prompt_tokens=len(prompt_ids), exact=True)
        cut = 0
        ordered = sorted(set(points))
        for index, point in enumerate(ordered):
            try:
                await self._think(state, point, piecewise=True)
                ids = state.ids[:point]
                self._attribute(result, state, [point], ids, start=cut)
                await self._answer_fork(state, result.forks[point], ids)
            except Exception as exc:  # the forks before this point stand; this one and the rest cannot
                result.forks.pop(point, None)
                result.failed = {later: exc for later in ordered[index:]}
                break
            cut = min(point, len(ids))
            if stop_when(result.forks[point]):
                result.stopped_at = point
                break
        if state.natural_end is not None and state.natural_end <= cut:
            result.natural_end = state.natural_end
        return result

    async def _think(self, state: _Thinking, upto: int, *, piecewise: bool = False) -> None:
        """Extend the trace to at least `upto` tokens (plus lookahead), forcing "Wait" at every close.

        `piecewise`: the trace will be continued by later calls, so a piece that ran out of tokens in
        the middle of a close marker ("...</th") gives that partial marker back; the next piece
        regenerates it whole, where it is a stop, as one long request would have seen it.
        """
        server = self.server
        while len(state.ids) < upto and not state.done:
            ids_prompt = server.token_prompts
            request: str | list[int] = state.prompt_ids + state.ids if ids_prompt else state.prompt + state.text
            part = await server.complete(
                request,
                max_tokens=upto - len(state.ids) + LOOKAHEAD,
                stop=CLOSE_STOPS,
                seed=derive_seed(state.seed, f"think:{state.segment}"),
            )
            state.segment += 1
            state.generated += part.tokens
            state.text += part.text
            state.ids = await server.tokenize(state.text) or []
            if part.finish_reason == "length":
                state.done = part.tokens == 0
                if piecewise and _trim_partial_close(state):
                    state.ids = await server.tokenize(state.text) or []
                continue
            # the model closed its thinking (stop string or end-of-sequence): note it, then force "Wait"
            if state.natural_end is None:
                state.natural_end, state.natural_text = len(state.ids), state.text
            if not state.force_minimum:
                state.done = True
                continue
            state.waits_at.append(len(state.ids))
            state.text += WAIT
            state.ids = await server.tokenize(state.text) or []

    @staticmethod
    def _attribute(result: Trace, state: _Thinking, points: list[int], ids: list[int], start: int = 0) -> None:
        """Forks at `points` (ascending, after the cut `start`) with their share of the sampled thinking.

        Each fork owns the positions since the previous one; tokens sampled beyond them (lookahead,
        stop strings) go to the longest, so the forks' `generated` adds up to what the server sampled.
        """
        share = (time.perf_counter() - state.started) / max(1, len(ids))
        previous = start
        for point in points:
            cut = min(point, len(ids))
            own = max(0, cut - previous)
            previous = max(previous, cut)
            waits = sum(1 for w in state.waits_at if w < cut)
            result.forks[point] = Fork(point, cut, wait_insertions=waits, generated=own, wall_time_s=own * share)
        if points:
            thinking = sum(f.generated - f.answer_tokens for f in result.forks.values())
            longest = result.forks[points[-1]]
            longest.generated = max(0, longest.generated + state.generated - thinking)

    async def _answer_fork(self, state: _Thinking, fork: Fork, ids: list[int]) -> None:
        """The thinking text at the fork's cut, and the answer after it."""
        cut_ids = ids[: fork.thinking_tokens]
        thinking = await self.server.detokenize(cut_ids) if cut_ids else ""
        if self.server.token_prompts:
            begun = time.perf_counter()
            reply = await self.answer(state.prompt_ids, cut_ids, state.seed, fork.budget)
            realized = len(cut_ids)
        else:
            realized = len(await self.server.tokenize(thinking) or []) if thinking else 0
            begun = time.perf_counter()
            reply = await self.answer(state.prompt, thinking, state.seed, fork.budget)
        fork.thinking, fork.thinking_tokens = thinking, realized
        self._finish(fork, reply, time.perf_counter() - begun)

    async def _natural_fork(self, result: Trace, state: _Thinking, ids: list[int]) -> None:
        censored = state.natural_text is None
        text = await self.server.detokenize(ids) if ids else ""
        thinking = text if state.natural_text is None else state.natural_text
        thinking_ids = ids if state.natural_text is None else (await self.server.tokenize(state.natural_text) or [])
        begun = time.perf_counter()
        if self.server.token_prompts:
            reply = await self.answer(state.prompt_ids, thinking_ids, state.seed, NATURAL)
        else:
            reply = await self.answer(state.prompt, thinking, state.seed, NATURAL)
        fork = Fork(NATURAL, len(thinking_ids), thinking=thinking, censored=censored)
        self._finish(fork, reply, time.perf_counter() - begun)
        result.forks[NATURAL] = fork

    @staticmethod
    def _finish(fork: Fork, reply: Segment, seconds: float) -> None:
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
    ) -> Trace:
        """No tokenizer: each budget is its own trace, bounded by the server's token counts.

        The natural end is read off the first (longest) trace; a trace that fails costs its own budget
        (and the natural end, when it was the first), not the others.
        """
        result = Trace(exact=False)
        points = sorted(set(budgets), reverse=True)
        for index, point in enumerate(points or [natural_cap]):
            wanted = ([point] if points else []) + ([NATURAL] if natural and index == 0 else [])
            try:
                await self._estimated_forks(result, prompt, seed, point, wanted, force_minimum=force_minimum,
                                            natural_cap=natural_cap, alone=not points)
            except Exception as exc:  # this budget's own trace failed; the other budgets are other traces
                for fork in wanted:
                    result.forks.pop(fork, None)
                    result.failed[fork] = exc
        return result

    async def _estimated_forks(self, result: Trace, prompt: str, seed: int, point: int, wanted: list[int], *,
                               force_minimum: bool, natural_cap: int, alone: bool) -> None:
        """One estimated trace up to `point` and the forks `wanted` of it (the point, the natural end)."""
        limit = point if force_minimum else max(point, natural_cap)
        run = await self._estimated_trace(prompt, seed, limit, force_minimum)
        result.prompt_tokens = result.prompt_tokens or run.prompt_tokens
        if point in wanted:
            fork = Fork(point, min(run.count, limit), wait_insertions=run.waits, generated=run.generated,
                        wall_time_s=run.seconds, thinking=run.text)
            self._finish(fork, await self.answer(prompt, run.text, seed, point), 0.0)
            result.forks[point] = fork
        if NATURAL in wanted:
            ended = run.natural_text is not None
            thinking = run.natural_text if run.natural_text is not None else run.text
            fork = Fork(NATURAL, run.natural_count if ended else run.count, thinking=thinking,
                        generated=run.generated if alone else 0, censored=not ended)
            self._finish(fork, await self.answer(prompt, thinking, seed, NATURAL), 0.0)
            result.forks[NATURAL] = fork
            result.natural_end = run.natural_count if ended else None

    async def _estimated_trace(self, prompt: str, seed: int, limit: int, force_minimum: bool) -> _Estimated:
        """One trace counted with the server's `completion_tokens` ("Wait" estimated), up to `limit`."""
        run = _Estimated()
        started = time.perf_counter()
        while run.count < limit:
            part = await self.server.complete(
                prompt + run.text, max_tokens=limit - run.count, stop=CLOSE_STOPS,
                seed=derive_seed(seed, f"think:{run.segment}"),
            )
            run.prompt_tokens = run.prompt_tokens or part.prompt_tokens
            run.segment += 1
            run.generated += part.tokens
            run.text += part.text
            run.count += part.tokens
            if part.finish_reason == "length":
                if part.tokens == 0:
                    break
                continue
            if run.natural_text is None:
                run.natural_text, run.natural_count = run.text, run.count
            if not force_minimum:
                break
            run.waits += 1
            run.text += WAIT
            run.count += WAIT_TOKEN_ESTIMATE
        run.seconds = time.perf_counter() - started
        return run


def _trim_partial_close(state: _Thinking) -> bool:
    """Drop a trailing proper prefix of a close marker from the trace text; True when one was dropped."""
    for marker in CLOSE_STOPS:
        for size in range(len(marker) - 1, 0, -1):
            if state.text.endswith(marker[:size]):
                state.text = state.text[:-size]
                return True
    return False


@dataclass
class _Estimated:
    """A trace counted without a tokenizer."""

    text: str = ""
    count: int = 0
    waits: int = 0
    segment: int = 0
    generated: int = 0
    prompt_tokens: int = 0
    natural_text: str | None = None
    natural_count: int = 0
    seconds: float = 0.0
