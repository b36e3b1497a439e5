"""Probed remote traces (`RemoteForcer.run_probed`, behind `forced_trace`) on the scripted server.

The scripted server's text depends only on what was already written, never on how the requests were
cut, so a trace generated in pieces ending at the probes must equal the plain trace at every point.
"""

from __future__ import annotations

import asyncio

import pytest
from test_compat_forcing import PREFIX, ScriptedServer

from overthink.models.forcing_spec import ANSWER_CUE, Fork, Trace
from overthink.models.remote.served_forcing import LOOKAHEAD, NoTokenizer, RemoteForcer


def _probed(server: ScriptedServer, points: list[int], stop_at: int | None = None) -> Trace:
    seen: list[int] = []

    def stop(fork: Fork) -> bool:
        seen.append(fork.budget)
        return fork.budget == stop_at

    trace = asyncio.run(RemoteForcer(server, max_answer_tokens=8).run_probed(PREFIX, points, 7, stop))
    assert seen == sorted(trace.forks)  # asked once per fork, in order
    return trace


@pytest.mark.parametrize("token_prompts", [False, True])
def test_pieces_ending_at_probes_give_the_plain_trace_at_every_point(token_prompts: bool) -> None:
    points = [4, 8, 12, 16, 20]
    probed = _probed(ScriptedServer([5, 3, 7], token_prompts=token_prompts), points)
    plain = asyncio.run(RemoteForcer(ScriptedServer([5, 3, 7]), max_answer_tokens=8).run(PREFIX, points, seed=7))
    assert probed.stopped_at is None and sorted(probed.forks) == points
    for point in points:
        assert probed.forks[point].thinking == plain.forks[point].thinking
        assert probed.forks[point].thinking_tokens == point
        assert probed.forks[point].wait_insertions == plain.forks[point].wait_insertions
    assert probed.natural_end == plain.natural_end == 5


def test_stop_when_ends_the_trace_and_nothing_is_asked_after_it() -> None:
    server = ScriptedServer([100])
    trace = _probed(server, [4, 8, 12, 16], stop_at=8)
    assert trace.stopped_at == 8 and sorted(trace.forks) == [4, 8]
    answers = [p for p in server.prompts if p.endswith(ANSWER_CUE)]
    assert len(answers) == 2  # no answer was forked after the stop
    thinking = [p for p in server.prompts if not p.endswith(ANSWER_CUE)]
    assert max(len(p) for p in thinking) <= len(PREFIX) + 4 + LOOKAHEAD  # never generated towards 16


def test_probe_compute_adds_up_to_what_the_server_sampled() -> None:
    trace = _probed(ScriptedServer([100]), [4, 8, 12, 30])
    # piece 1 asks for 4 + LOOKAHEAD tokens, which already hold 8 and 12; piece 2 continues from there to 30
    sampled_thinking = 30 + LOOKAHEAD
    answers = sum(f.answer_tokens for f in trace.forks.values())
    assert sum(f.generated for f in trace.forks.values()) == sampled_thinking + answers
    thinking = {at: f.generated - f.answer_tokens for at, f in trace.forks.items()}
    assert thinking == {4: 4 + LOOKAHEAD, 8: 0, 12: 0, 30: 30 - 4}


def test_probing_needs_the_server_tokenizer() -> None:
    with pytest.raises(NoTokenizer, match="tokenizer"):
        _probed(ScriptedServer([10], tokenizer=False), [4])
