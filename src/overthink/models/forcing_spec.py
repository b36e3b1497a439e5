"""What budget forcing means, shared by the embedded forcer (llamacpp/token_forcing.py) and the remote one
(remote/served_forcing.py), so the two can only differ in how they reach the model, never in semantics.

s1-style forcing of one thinking trace per (sample, seed), forked at every requested budget N:
- maximum: the trace is cut at exactly N thinking tokens, `ANSWER_CUE` (end-of-thinking delimiter plus
  the answer tag) is appended and a bounded answer is generated;
- minimum: when the model closes its thinking (`</think>`, `<answer>` or end-of-sequence) before N,
  the close is dropped and `WAIT` is appended; the first such point is the trace's natural end;
- budget 0 is an empty think block; the `natural` regime never forces and stops at the first close.
Thinking and every answer draw from separate seeded streams (`answer_stream`), so the trace for budget
N is a prefix of the trace for any larger budget and forking gives the same records as independent runs.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from overthink.types import Budget, BudgetKind

THINK_OPEN = "<think>\n"  # appended to the rendered chat prompt: the assistant turn opens thinking
ANSWER_CUE = "\n</think>\n\n<answer>"
WAIT = "\nWait"
CLOSE_STOPS = ("</think>", "<answer>")  # a model writing either has ended its thinking
ANSWER_STOP = "</answer>"
NATURAL = -1  # fork label of the natural end in `Fork.budget` and `Trace.forks`


def fork_key(budget: Budget) -> int:
    """The fork a forced budget's record is read from: its token count, or NATURAL."""
    if budget.kind is BudgetKind.NATURAL:
        return NATURAL
    assert budget.tokens is not None, f"budget {budget.label} is not a token budget"
    return budget.tokens


@dataclass(frozen=True)
class TracePlan:
    """How to run one trace for a set of forced budgets (the dispatch every forcing caller shares)."""

    points: list[int]  # token budgets to fork at
    natural: bool  # also fork at the natural end
    force_minimum: bool  # False: the natural regime (no "Wait", stop at the first close or the cap)
    natural_cap: int

    @classmethod
    def of(cls, budgets: Sequence[Budget], natural_cap: int) -> TracePlan:
        points = [b.tokens for b in budgets if b.tokens is not None]
        if not points:  # natural only: no forcing, stop at the first close or the cap
            return cls([], True, False, natural_cap)
        return cls(points, any(b.kind is BudgetKind.NATURAL for b in budgets), True, natural_cap)

    @property
    def max_thinking(self) -> int:
        """The longest the trace can grow (sizes the embedded engine's context)."""
        return max([*self.points, self.natural_cap if self.natural else 0, 0])


def answer_stream(budget: int) -> int:
    """The RNG stream (embedded) or seed suffix (remote) of the answer forked at `budget`."""
    return zlib.crc32(f"answer:{budget}".encode())


@dataclass
class Fork:
    """One answer forked off the trace, with what it cost.

    `generated` attributes every sampled token to one record: its own thinking segment (the tokens
    since the previous, smaller fork) plus its answer, so summing a group's records gives the real
    compute. The embedded engine fills `answer_ids`; a remote server fills the texts.
    """

    budget: int  # thinking tokens requested (NATURAL for the natural end)
    thinking_tokens: int
    finish_reason: str = ""
    wait_insertions: int = 0
    generated: int = 0
    wall_time_s: float = 0.0
    censored: bool = False  # a natural fork of a trace that never ended by itself
    answer_tokens: int = 0
    answer_ids: list[int] = field(default_factory=list)
    thinking: str = ""
    answer: str = ""


@dataclass
class Trace:
    """One forced trace and its forks, keyed by budget (NATURAL for the natural end)."""

    forks: dict[int, Fork] = field(default_factory=dict)
    trace: list[int] = field(default_factory=list)  # thinking token ids (embedded engine)
    natural_end: int | None = None
    stopped_at: int | None = None  # trace length where `stop_when` ended the trace early
    prompt_tokens: int = 0
    exact: bool = True  # counts come from the model's own tokenizer (False: estimates)
    # forks that could not be made, with the failure (a remote request that ran out of retries): the
    # forks made before it stay valid, they are exactly what a shorter run would have produced
    failed: dict[int, Exception] = field(default_factory=dict)
