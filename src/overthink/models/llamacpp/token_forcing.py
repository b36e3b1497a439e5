"""Budget forcing on token ids (the semantics are in forcing_spec.py), with nested budgets forked off
one trace.

One thinking trace is generated per (sample, seed) up to the largest requested budget. Forced tokens
("Wait") are queued rather than re-tokenized, and thinking and answers draw from separate seeded RNG
streams, so the trace for budget N is a prefix of the trace for any larger budget: forking at each
budget gives the same records as independent runs, for a fraction of the tokens. `Forcer.run` is a
loop over small named steps that share one `_Run` state: fork where a budget is due, feed a queued
forced token, or sample one token and handle a close.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from overthink.models.forcing_spec import (
    ANSWER_CUE,
    ANSWER_STOP,
    CLOSE_STOPS,
    NATURAL,
    WAIT,
    Fork,
    Trace,
    answer_stream,
)
from overthink.models.llamacpp.engine import LlamaEngine, Sampler

CLOSE_MARKERS = tuple(marker.encode() for marker in CLOSE_STOPS)
ANSWER_END = ANSWER_STOP.encode()
StopWhen = Callable[[Fork], bool]


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, stream & 0xFFFFFFFF])


@dataclass
class _Run:
    """Everything one `Forcer.run` call changes while the trace grows."""

    prompt: list[int]
    seed: int
    points: list[int]  # budgets to fork at, ascending
    limit: int
    natural: bool
    force_minimum: bool
    stop_when: StopWhen | None
    rng: np.random.Generator
    result: Trace = field(default_factory=Trace)
    pieces: list[bytes] = field(default_factory=list)  # bytes of each trace token, to spot close markers
    pending: deque[int] = field(default_factory=deque)  # forced tokens still to feed
    waits: int = 0
    next_point: int = 0
    segment_clock: float = field(default_factory=time.perf_counter)
    segment_generated: int = 0  # tokens sampled since the last budget fork

    @property
    def trace(self) -> list[int]:
        return self.result.trace


class Forcer:
    """Runs forced traces on one engine; delimiter token ids are computed once per engine."""

    def __init__(self, engine: LlamaEngine, sampler: Sampler, max_answer_tokens: int) -> None:
        self.engine = engine
        self.sampler = sampler
        self.max_answer_tokens = max_answer_tokens
        self.cue_ids = engine.tokenize(ANSWER_CUE)
        self.wait_ids = engine.tokenize(WAIT)

    def _close_start(self, pieces: list[bytes]) -> int | None:
        """Index of the first token of a close marker ending at the last token, or None."""
        tail = b""
        for back in range(1, min(len(pieces), 12) + 1):
            tail = pieces[-back] + tail
            for marker in CLOSE_MARKERS:
                position = tail.find(marker)
                if position < 0:
                    continue
                # walk forward from the tail start to the token holding byte `position`
                offset, index = 0, len(pieces) - back
                while offset + len(pieces[index]) <= position:
                    offset += len(pieces[index])
                    index += 1
                return index
        return None

    def answer(self, prefix: list[int], seed: int, budget: int) -> tuple[list[int], str]:
        """Fork an answer after `prefix` (prompt + thinking), then leave the cache rewound to `prefix`."""
        engine = self.engine
        saved_logits = engine.logits
        rewind_to = len(engine.tokens) if engine.tokens == prefix else None
        engine.sync(prefix + self.cue_ids)
        rng = _rng(seed, answer_stream(budget))
        answer: list[int] = []
        text = b""
        finish = "length"
        while len(answer) < self.max_answer_tokens:
            token = self.sampler.pick(engine.logits, rng)
            engine.sampled += 1
            if token in engine.eos_ids:
                finish = "stop"
                break
            answer.append(token)
            text += engine.piece(token)
            if ANSWER_END in text:
                finish = "stop"
                break
            if len(answer) < self.max_answer_tokens:
                engine.push(token)
        if rewind_to is not None:
            engine.rewind(rewind_to, saved_logits)
        return answer, finish

    def run(
        self,
        prompt: list[int],
        budgets: Sequence[int],
        seed: int,
        *,
        force_minimum: bool = True,
        natural: bool = False,
        natural_cap: int = 2048,
        fresh: bool = True,
        stop_when: StopWhen | None = None,
    ) -> Trace:
        """Generate one trace and fork an answer at each budget (and at the natural end if asked).

        `force_minimum=False` is the natural regime: no "Wait", the trace stops at its first close or
        at `natural_cap`. `fresh=False` reuses a cached prompt (k samples of one prompt, as in voting):
        cheaper, reproducible, but not bit-identical to a fresh run (different batch shapes).
        `stop_when(fork)` is asked after every budget fork; True ends the trace there (early stopping:
        the trace up to that point is exactly the trace an uninterrupted run would have made).
        """
        points = sorted(set(budgets))
        limit = points[-1] if points else 0
        if not force_minimum:
            limit = max(limit, natural_cap)
        run = _Run(prompt, seed, points, limit, natural, force_minimum, stop_when, _rng(seed, 0))
        if fresh:
            self.engine.reset()
        self.engine.sync(prompt)
        while not self._fork_due(run) and len(run.trace) < limit:
            if run.pending:
                self._feed(run, run.pending.popleft())
            elif self._sample(run) and not force_minimum:
                break
        if natural and NATURAL not in run.result.forks:
            # never ended by itself within the trace: the natural record is censored at its length
            self._fork(run, NATURAL, len(run.trace), censored=True)
        return run.result

    def _fork_due(self, run: _Run) -> bool:
        """Fork every budget the trace has reached; True when `stop_when` ends the trace here."""
        while run.next_point < len(run.points) and run.points[run.next_point] == len(run.trace):
            fork = self._fork(run, run.points[run.next_point], len(run.trace))
            run.next_point += 1
            if run.stop_when is not None and run.stop_when(fork):
                run.result.stopped_at = len(run.trace)
                return True
        return False

    def _fork(self, run: _Run, budget: int, length: int, censored: bool = False) -> Fork:
        """Answer at `length` thinking tokens; a budget fork owns the thinking sampled since the last one."""
        started = time.perf_counter()
        answer, finish = self.answer(run.prompt + run.trace[:length], run.seed, budget)
        # a natural fork shares its thinking with the budget forks, which own it; alone, it owns it
        shared = budget == NATURAL and bool(run.points)
        own = 0 if shared else run.segment_generated
        fork = Fork(
            budget=budget, thinking_tokens=length, answer_ids=answer, answer_tokens=len(answer),
            finish_reason=finish, wait_insertions=run.waits, generated=own + len(answer),
            wall_time_s=(time.perf_counter() - started) + (0.0 if shared else started - run.segment_clock),
            censored=censored,
        )
        run.result.forks[budget] = fork
        if budget != NATURAL:
            run.segment_clock, run.segment_generated = time.perf_counter(), 0
        return fork

    def _feed(self, run: _Run, token: int) -> None:
        """Append a token to the trace and the cache (a forced one, or a sampled one that closes nothing)."""
        run.trace.append(token)
        run.pieces.append(self.engine.piece(token))
        self.engine.push(token)

    def _sample(self, run: _Run) -> bool:
        """Sample one thinking token; True when it closed the thinking (then handled by `_closed`)."""
        engine = self.engine
        token = self.sampler.pick(engine.logits, run.rng)
        engine.sampled += 1
        run.segment_generated += 1
        if token in engine.eos_ids:
            self._closed(run, len(run.trace))
            return True
        run.trace.append(token)
        run.pieces.append(engine.piece(token))
        close_at = self._close_start(run.pieces)
        if close_at is None:
            engine.push(token)
            return False
        self._closed(run, close_at)
        return True

    def _closed(self, run: _Run, close_at: int) -> None:
        """The model closed its thinking: drop the close, note the natural end, queue "Wait"."""
        del run.trace[close_at:]
        del run.pieces[close_at:]
        self.engine.rewind(len(run.prompt) + close_at, self.engine.logits)
        if run.result.natural_end is None:
            run.result.natural_end = close_at
            if run.natural:
                self._fork(run, NATURAL, close_at)
        if run.force_minimum:
            # Queued, not inserted at once: a fork point inside the queued tokens still forks at
            # exactly its budget, as an independent run with that budget would.
            run.waits += 1
            run.pending.extend(self.wait_ids)
