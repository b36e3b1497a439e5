"""Remote budget forcing against a scripted server whose tokenizer is one token per character.

The scripted "model" closes its thinking after a fixed number of characters per segment, so every
step of the algorithm (cut at N, "Wait" below N, natural end, censoring, nested forks) has a known
right answer that does not depend on a real model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from overthink.models.forcing_spec import ANSWER_CUE, NATURAL, WAIT, Trace
from overthink.models.remote.served_forcing import RemoteForcer, Segment

PREFIX = "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n"


class ScriptedServer:
    """Segment k of thinking is `letters[k] * lengths[k]` followed by "</think>"."""

    def __init__(
        self, lengths: Sequence[int], *, tokenizer: bool = True, token_prompts: bool = False
    ) -> None:
        self.lengths = list(lengths)
        self.has_tokenizer = tokenizer
        self.token_prompts = token_prompts
        self.prompts: list[str] = []

    def _segment(self, k: int) -> str:
        length = self.lengths[k] if k < len(self.lengths) else 10_000
        return "abcdefghij"[k % 10] * length + "</think>"

    async def complete(
        self, prompt: str | list[int], *, max_tokens: int, stop: Sequence[str], seed: int
    ) -> Segment:
        text = prompt if isinstance(prompt, str) else "".join(map(chr, prompt))
        self.prompts.append(text)
        assert text.startswith(PREFIX)
        if text.endswith(ANSWER_CUE):
            stream = f"{len(text)}</answer>"
        else:
            thinking = text[len(PREFIX) :]
            parts = thinking.split(WAIT)
            stream = self._segment(len(parts) - 1)[len(parts[-1]) :]
        out = stream[:max_tokens]
        cuts = [out.find(s) for s in stop if s in out]
        if cuts:
            return Segment(out[: min(cuts)], "stop", min(cuts) + 1, len(text))
        return Segment(out, "length" if len(out) == max_tokens else "stop", len(out), len(text))

    async def tokenize(self, text: str) -> list[int] | None:
        return [ord(c) for c in text] if self.has_tokenizer else None

    async def detokenize(self, ids: list[int]) -> str:
        return "".join(map(chr, ids))


def _run(server: ScriptedServer, budgets: list[int], **kwargs: object) -> Trace:
    forcer = RemoteForcer(server, max_answer_tokens=8)
    return asyncio.run(forcer.run(PREFIX, budgets, seed=7, **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize("token_prompts", [False, True])
def test_minimum_and_maximum_forcing_realize_budgets_exactly(token_prompts: bool) -> None:
    server = ScriptedServer([5, 3], token_prompts=token_prompts)
    trace = _run(server, [0, 4, 16], natural=True)
    assert trace.natural_end == 5 and trace.exact
    expected = ("aaaaa" + WAIT + "bbb" + WAIT)[:16]
    assert trace.forks[16].thinking == expected and trace.forks[16].thinking_tokens == 16
    assert trace.forks[16].wait_insertions == 2  # closes at 5 and at 13, both before 16
    assert trace.forks[4].thinking == "aaaa" and trace.forks[4].wait_insertions == 0
    assert trace.forks[0].thinking == "" and trace.forks[0].thinking_tokens == 0
    natural = trace.forks[NATURAL]
    assert natural.thinking == "aaaaa" and natural.thinking_tokens == 5 and not natural.censored
    # every answer was asked after the cue, and the close marker never reached a prompt
    answers = [p for p in server.prompts if p.endswith(ANSWER_CUE)]
    assert len(answers) == 4
    assert all("</think>" not in p[len(PREFIX) :].replace(ANSWER_CUE, "") for p in server.prompts)


def test_nested_forks_equal_independent_runs() -> None:
    budgets = [0, 4, 9, 16, 30]
    nested = _run(ScriptedServer([5, 3, 7]), budgets, natural=True)
    for budget in budgets:
        alone = _run(ScriptedServer([5, 3, 7]), [budget])
        assert alone.forks[budget].thinking == nested.forks[budget].thinking
        assert alone.forks[budget].answer == nested.forks[budget].answer


def test_forks_are_made_longest_first_so_prompts_extend_the_cache() -> None:
    server = ScriptedServer([100])
    _run(server, [4, 16, 30])
    answers = [p for p in server.prompts if p.endswith(ANSWER_CUE)]
    lengths = [len(p) for p in answers]
    assert lengths == sorted(lengths, reverse=True)


def test_natural_regime_stops_at_first_close_and_censors_at_cap() -> None:
    ended = _run(ScriptedServer([6]), [], natural=True, force_minimum=False, natural_cap=50)
    assert ended.forks[NATURAL].thinking == "aaaaaa" and not ended.forks[NATURAL].censored
    capped = _run(ScriptedServer([500]), [], natural=True, force_minimum=False, natural_cap=20)
    assert capped.forks[NATURAL].censored and capped.forks[NATURAL].thinking_tokens == 20
    assert capped.natural_end is None


def test_without_tokenizer_counts_are_estimates_within_the_budget() -> None:
    trace = _run(ScriptedServer([5, 3], tokenizer=False), [16], natural=True)
    assert not trace.exact
    fork = trace.forks[16]
    assert fork.thinking.startswith("aaaaa" + WAIT) and 0 < fork.thinking_tokens <= 16
    assert trace.forks[NATURAL].thinking == "aaaaa"


def test_generated_tokens_add_up_to_what_the_server_sampled() -> None:
    server = ScriptedServer([100])
    trace = _run(server, [4, 16, 30])
    thinking_sampled = 30 + 8  # the trace up to the largest budget plus the lookahead
    answers = sum(f.answer_tokens for f in trace.forks.values())
    assert sum(f.generated for f in trace.forks.values()) == thinking_sampled + answers
