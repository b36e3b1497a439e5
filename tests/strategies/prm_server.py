"""A loopback process reward model speaking vLLM's Pooling API, with a planted truth.

It serves `POST /pooling` the way vLLM serves Qwen2.5-Math-PRM: the chat comes as `messages`, the
assistant message holds the steps each followed by `<extra_0>`, and the reply has one
[p_bad, p_good] pair per separator plus `usage.prompt_tokens`. It knows each problem's answer (the
test gives it), reads the final step ("Final answer: X"), and rewards the steps of a right candidate
highly and those of a wrong one with a low final step -- noisy, seeded by the request's text, so a
verifier that read the wrong class, the wrong step or the wrong candidate would pick wrong ones.
Every request is answered with the token count it reports, kept in `reported` for the compute check.
The run's preflight question (a known two-step problem) is answered like a healthy PRM and not kept.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from loopback_server import Reply, Request, error
from overthink.models.remote.reward_preflight import PREFLIGHT_PROBLEM

SEPARATOR = "<extra_0>"


def pooling_reply(rewards: list[float], prompt_tokens: int) -> dict[str, Any]:
    """A vLLM Pooling API response with one [p_bad, p_good] pair per step."""
    return {"id": "pool-1", "object": "list", "created": 1, "model": "prm",
            "data": [{"index": 0, "object": "pooling", "data": [[1.0 - r, r] for r in rewards]}],
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens, "completion_tokens": 0}}


def chat_of(request: Request) -> tuple[str, list[str]]:
    """(the problem, the steps) of a pooling request."""
    messages = request.body["messages"]
    problem = next(m["content"] for m in messages if m["role"] == "user")
    assistant = next(m["content"] for m in messages if m["role"] == "assistant")
    steps = assistant.split(SEPARATOR)
    assert steps[-1] == "", "every step, the last one too, is followed by the separator"
    return problem, steps[:-1]


def tokens_of(request: Request) -> int:
    """What this server says it evaluated: the words of every message, plus one per separator."""
    return sum(len(m["content"].split()) + m["content"].count(SEPARATOR) + 2 for m in request.body["messages"])


@dataclass
class PlantedPRM:
    """Rewards right final answers highly (or, `inverted`, wrong ones: the negative control)."""

    truth: dict[str, str]  # problem text -> its answer
    inverted: bool = False
    status: int = 200  # anything else: every request fails with it
    reported: list[int] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # problems it was asked about and does not know
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != "/pooling":
            return error(404, f"no route {request.path}")
        if self.status != 200:
            return error(self.status, "the PRM is down")
        problem, steps = chat_of(request)
        if problem == PREFLIGHT_PROBLEM:  # the run's preflight: answered, not counted as the sweep's compute
            return Reply(200, pooling_reply([0.9] * len(steps), tokens_of(request)))
        if problem not in self.truth:
            self.unknown.append(problem)
            return error(400, "unknown problem")
        said = steps[-1].removeprefix("Final answer: ").strip()
        right = (said == self.truth[problem]) != self.inverted
        rng = random.Random(request.text)
        rewards = [rng.uniform(0.6, 0.95) if right else rng.uniform(0.3, 0.95) for _ in steps[:-1]]
        rewards.append(rng.uniform(0.8, 0.99) if right else rng.uniform(0.05, 0.4))
        tokens = tokens_of(request)
        with self.lock:
            self.reported.append(tokens)
        return Reply(200, pooling_reply(rewards, tokens))
