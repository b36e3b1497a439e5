"""Servers that fail the way real sweeps do, for tests/runner/test_messy_sweeps.py and benchmarks/messy_sweeps.py.

Both are `respond` functions for the real loopback HTTP server (tests/loopback_server.py):

* `ForcingModel`: a deterministic "model" behind an OpenAI-compatible raw-completions endpoint with a
  character-level tokenizer (`/extras/tokenize`, `/extras/detokenize`, as llama-cpp-python's server has),
  so the openai-compat backend forces budgets exactly as against a real server: it thinks a filler text,
  closes its thinking every `period` characters (the backend drops the close and appends "Wait"), and
  answers after the answer cue. It can fail, while `broken` is set, the requests that serve only the
  longest budget for a chosen share of the items: a long budget that times out on hard items.
* `FlakyChat`: a chat endpoint that fails every request of a chosen share of (item, budget) pairs, so
  retries cannot heal them (a failure a retry heals never reaches the store or the breaker).

Which items or requests fail is a hash of the prompt and a seed, the same on every run and machine.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from loopback_server import Reply, Request, chat_ok, error

THINK_OPEN = "<think>\n"
ANSWER_CUE = "</think>\n\n<answer>"
FILLER = "so we count the apples again and "


def unit(*parts: object) -> float:
    """A number in [0, 1) from a stable hash of the parts."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _completion(text: str, finish: str, tokens: int) -> Reply:
    return Reply(200, {"id": "t", "object": "text_completion", "created": 1, "model": "m",
                       "choices": [{"index": 0, "text": text, "finish_reason": finish}],
                       "usage": {"prompt_tokens": 20, "completion_tokens": tokens, "total_tokens": 20 + tokens}})


@dataclass
class ForcingModel:
    """Raw completions with exact (character) token counts; see the module docstring.

    A request serves only the longest budget when it extends a trace already longer than `long_after`
    thinking characters (a thinking segment that starts there, or the answer forked beyond it): the
    shorter budgets' forks were all made before it, so a failure there must cost the longest budget only.
    """

    period: int = 1500  # characters of thinking between two closes
    long_after: int = 4096  # the second-largest budget: requests beyond it serve only the largest
    fail_share: float = 0.3  # share of items whose long requests fail while `broken`
    seed: int = 0
    broken: bool = True
    counts: Counter[str] = field(default_factory=Counter)  # requests by kind: think, answer, failed, tokenize
    items: Counter[str] = field(default_factory=Counter)  # generation requests by item (the user's question)
    failed: set[str] = field(default_factory=set)  # the items whose long requests were failed
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fails(self, question: str) -> bool:
        """Whether this item's long requests fail while the server is broken."""
        return unit(self.seed, question) < self.fail_share

    def __call__(self, request: Request) -> Reply:
        body = request.body
        if request.path.endswith("/extras/tokenize"):
            self._count("tokenize")
            return Reply(200, {"tokens": [ord(c) for c in str(body.get("input", ""))]})
        if request.path.endswith("/extras/detokenize"):
            return Reply(200, {"text": "".join(chr(int(t)) for t in body.get("tokens", []))})
        if not request.path.endswith("/completions"):
            return error(404, f"no route {request.path}")
        prompt = str(body.get("prompt", ""))
        head, _, thinking = prompt.partition(THINK_OPEN)
        answering = thinking.endswith(ANSWER_CUE)
        if answering:
            thinking = thinking[: -len(ANSWER_CUE)].removesuffix("\n")
        question = head.rsplit("user\n", 1)[-1]
        if THINK_OPEN in prompt:  # not preflight's "Hi"
            with self._lock:
                self.items[question] += 1
        if self.broken and len(thinking) > self.long_after - (0 if answering else 1) and self.fails(question):
            self._count("failed")
            with self._lock:
                self.failed.add(question)
            return error(500, "the long budget timed out")
        if answering:
            self._count("answer")
            return _completion("1", "stop", 2)
        self._count("think")
        return self._think(thinking, int(body.get("max_tokens", 1)))

    def _think(self, thinking: str, max_tokens: int) -> Reply:
        start = len(thinking)
        since = start - (thinking.rfind("\nWait") + len("\nWait") if "\nWait" in thinking else 0)
        until_close = max(1, self.period - since)
        text = "".join(FILLER[(start + i) % len(FILLER)] for i in range(min(until_close, max_tokens)))
        if max_tokens < until_close:
            return _completion(text, "length", len(text))
        return _completion(text, "stop", len(text) + 1)  # the close "</think>" is the stop string

    def _count(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1


@dataclass
class FlakyChat:
    """Chat completions; a `fail_share` of (item, budget) requests always get a 500 (see the module docstring)."""

    fail_share: float = 0.1
    seed: int = 0
    fail_delay: float = 0.0  # seconds before a failure is sent: a gateway timing out is slow to fail
    sent: Counter[str] = field(default_factory=Counter)
    failing: set[str] = field(default_factory=set)  # the (item, budget) requests that were failed
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Reply:
        if not request.path.endswith("/chat/completions"):
            return error(404, f"no route {request.path}")
        messages = request.body.get("messages") or []
        text = "\x1f".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
        failing = request.body.get("max_tokens") != 1 and unit(self.seed, text) < self.fail_share  # not preflight
        with self._lock:
            self.sent["failed" if failing else "ok"] += 1
            if failing:  # keyed with the request's seed: two items may ask the very same question
                self.failing.add(f"{text}\x1f{request.body.get('seed')}")
        if failing:
            time.sleep(self.fail_delay)
            return error(500, "injected failure")
        return Reply(200, chat_ok())
