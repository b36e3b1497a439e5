"""Spending caps: the tracker's arithmetic, and `overthink run --max-tokens/--max-cost` end to end.

The end-to-end test serves chat completions from a tiny threaded HTTP server on loopback, so the
real CLI, backend, executor and store run exactly as they would against a vLLM deployment.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from overthink.models.base import Capabilities, GenerationRequest
from overthink.models.generation import GenerationConfig
from overthink.prompts.render import prompt_chars, request_for
from overthink.runner.limits import Bound, CostTracker, group_bound
from overthink.strategies.base import Spend
from overthink.types import Budget, Completion, Mechanism, Sample, Usage

SAMPLE = Sample(id="s", task="t", prompt="x" * 300, target="1")


def _completion(tokens: int, cost: float) -> Completion:
    return Completion(text="", reasoning="", usage=Usage(input_tokens=10, cost_usd=cost), finish_reason="stop",
                      total_generated=tokens)


def test_tracker_admits_only_what_fits_counting_reservations() -> None:
    tracker = CostTracker(max_tokens=1000, max_cost=1.0)
    first = tracker.admit(Bound(tokens=600, cost=0.1))
    assert first is not None
    assert tracker.admit(Bound(tokens=500, cost=0.1)) is None  # 600 reserved + 500 > 1000
    assert tracker.stopped_reason is not None and "--max-tokens 1000" in tracker.stopped_reason
    tracker.settle(first, [_completion(190, 0.05)])  # really spent 200 tokens
    second = tracker.admit(Bound(tokens=500, cost=0.1))
    assert second is not None and tracker.spent_tokens == 200
    tracker.settle(second, [_completion(90, 0.9)])
    assert tracker.admit(Bound(tokens=10, cost=0.1)) is None  # 0.95 spent + 0.1 > 1.0
    assert "--max-cost 1" in (tracker.stopped_reason or "")
    assert tracker.summary() == "spent 300 tokens, $0.9500"


class _Backend:
    """Enough of a backend for `group_bound`: a per-request cap and a price."""

    def __init__(self, nested: bool) -> None:
        self.nested = nested

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(mechanisms=frozenset({Mechanism.FORCED}), nested=self.nested)

    def max_output_tokens(self, request: GenerationRequest) -> int:
        tokens = request.budget.tokens
        return (100 if tokens is None else tokens) + 10

    def estimate_cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens + 2 * output_tokens) / 1e6


def test_group_bound_uses_the_backend_caps_and_shares_nested_traces() -> None:
    budgets = [Budget.parse(b) for b in ("0", "256", "1024")]
    request = request_for(SAMPLE, budgets[0], 1, GenerationConfig(max_answer_tokens=10))
    flat = group_bound(_Backend(nested=False), request, budgets, prompt_chars(SAMPLE))  # type: ignore[arg-type]
    shared = group_bound(_Backend(nested=True), request, budgets, prompt_chars(SAMPLE))  # type: ignore[arg-type]
    prompt = 3 * -(-(300 + 600) // 3)  # three records, each counting a prompt of >= 300 tokens
    assert flat.tokens == prompt + (10 + 266 + 1034)
    assert shared.tokens == prompt + 1034 + 3 * 10
    assert flat.cost == pytest.approx((prompt + 2 * (10 + 266 + 1034)) / 1e6)


def test_group_bound_covers_what_the_strategy_spends_beyond_one_chain() -> None:
    budgets = [Budget.parse(b) for b in ("0", "64")]
    request = request_for(SAMPLE, budgets[0], 1, GenerationConfig(max_answer_tokens=10))
    backend = _Backend(nested=True)
    cot = group_bound(backend, request, budgets, prompt_chars(SAMPLE))  # type: ignore[arg-type]
    vote = group_bound(backend, request, budgets, prompt_chars(SAMPLE), Spend(traces=3))  # type: ignore[arg-type]
    best = group_bound(backend, request, budgets, prompt_chars(SAMPLE),  # type: ignore[arg-type]
                       Spend(traces=3, verified=True))
    probed = group_bound(backend, request, budgets, prompt_chars(SAMPLE), Spend(probe_answers=4))  # type: ignore[arg-type]
    assert vote.tokens == 3 * cot.tokens  # k traces, each with its prompt
    assert best.tokens == 2 * vote.tokens  # the verifier reads every candidate and its prompt once more
    assert probed.tokens == cot.tokens + 4 * 10  # each probe forks one more answer
    assert vote.cost == pytest.approx(3 * cot.cost)


def test_every_strategy_declares_its_spend() -> None:
    from overthink.strategies.base import CotStrategy
    from overthink.strategies.best_of_n import BestOfNStrategy
    from overthink.strategies.probes import ProbedCotStrategy
    from overthink.strategies.scheduler import SchedulerStrategy
    from overthink.strategies.vote import VoteStrategy

    budgets = [Budget.parse(b) for b in ("0", "32", "64")]
    assert CotStrategy().spend(budgets) == Spend()
    assert VoteStrategy(5).spend(budgets) == Spend(traces=5)
    assert BestOfNStrategy(4).spend(budgets) == Spend(traces=4, verified=True)
    assert SchedulerStrategy(16, 2).spend(budgets) == Spend(probe_answers=4)  # probes at 16, 32, 48, 64
    assert ProbedCotStrategy(16).spend(budgets) == Spend(probe_answers=5)  # and one at 0


class _ChatHandler(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        if self.path.endswith("/chat/completions") and sent.get("max_tokens") != 1:  # not tokenizer or preflight
            type(self).calls += 1
        body = json.dumps({
            "id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "<think>\nhm\n</think>\n<answer>3</answer>"}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def chat_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _ChatHandler.calls = 0
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("strategy", ["cot", "vote@3"])
def test_run_stops_before_a_request_that_could_exceed_max_tokens(tmp_path: Path, chat_server: str,
                                                                  strategy: str) -> None:
    store = tmp_path / "capped.db"
    k = 3 if strategy == "vote@3" else 1
    env = dict(os.environ, COLUMNS="200", OPENAI_COMPAT_API_KEY="")
    # a request's worst case is ~1056 output tokens (natural cap 1024 + answer 32) plus its prompt bound, while
    # each really spends 70; a cap of 1700 admits a few requests, then stops before the worst case could cross it
    cap = 1700 * k  # a vote's worst case is k chains': the same cap per chain admits as many groups
    args = ["run", "--backend", "openai-compat", "--model", "m", "--base-url", chat_server, "--mode", "prompt",
            "--budgets", "64", "--n", "6", "--max-tokens", str(cap), "--concurrency", "1", "--store", str(store),
            "--strategy", strategy, "--quiet"]
    result = subprocess.run([sys.executable, "-m", "overthink", *args], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    message = " ".join(result.stderr.split())
    assert "Stopped before a request that could exceed the cap" in message, message
    rows = sqlite3.connect(store).execute("SELECT status, input_tokens, total_generated FROM records").fetchall()
    assert 0 < len(rows) < 6 and k * len(rows) == _ChatHandler.calls  # nothing sent that was not recorded
    assert all(status == "ok" for status, _, _ in rows)
    spent = sum(i + g for _, i, g in rows)
    match = re.search(r"could use up to (\d+) tokens and (\d+) are spent", message)
    assert match is not None, message
    worst, reported = int(match.group(1)), int(match.group(2))
    assert reported == spent <= cap < spent + worst  # stopped exactly when the next worst case would cross
    assert worst >= k * (1024 + 32)  # k chains' natural cap and answer allowance: the strategy's spend counts
    assert f"spent {spent} tokens" in message


def test_yaml_config_sweeps_several_remote_models_with_base_urls_and_caps(tmp_path: Path, chat_server: str) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text(
        "experiment: remote\n"
        "mode: prompt\n"
        "budgets: [0, 64]\n"
        "max_cost: 5.0\n"
        "tasks: [{name: misleading_math, n: 2}, {name: zebra, n: 1}]\n"
        "models:\n"
        f"  - {{backend: openai-compat, name: model-a, base_urls: ['{chat_server}'], concurrency: 2,\n"
        "      options: {tokenizer: false}}\n"
        f"  - {{backend: openai-compat, name: model-b, base_urls: ['{chat_server}'], options: {{max_attempts: 2}}}}\n"
    )
    store = tmp_path / "remote.db"
    result = subprocess.run(
        [sys.executable, "-m", "overthink", "run", str(config), "--store", str(store), "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"), timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = sqlite3.connect(store).execute("SELECT model, budget, status, reasoning_source FROM records").fetchall()
    assert sorted({(m, b) for m, b, _, _ in rows}) == [("model-a", "0"), ("model-a", "64"), ("model-b", "0"),
                                                       ("model-b", "64")]
    # two tasks: the same backend serves a second event loop after being closed at the end of the first
    assert len(rows) == 12 and all(status == "ok" for _, _, status, _ in rows)
    assert {source for _, _, _, source in rows} == {"estimate"}  # the stub server has no tokenizer endpoint
    bad = config.read_text().replace("max_attempts", "max_atempts")
    config.write_text(bad)
    typo = subprocess.run(
        [sys.executable, "-m", "overthink", "run", str(config), "--store", str(tmp_path / "x.db"), "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"), timeout=120,
    )
    assert typo.returncode == 2 and "max_atempts" in typo.stderr and "Traceback" not in typo.stderr


def test_a_verifiers_tokens_are_spent_tokens() -> None:
    from overthink.types import SampleAnswer

    judged = [SampleAnswer(index=i, seed=i, text="", answer="1", reasoning_tokens=40, answer_tokens=5,
                           verifier_score=0.5, verifier_tokens=120 + i, verifier_generated=2) for i in range(3)]
    record = Completion(text="", reasoning="", usage=Usage(input_tokens=10), finish_reason="stop",
                        total_generated=135, samples=tuple(judged))
    tracker = CostTracker(max_tokens=10_000)
    tracker.settle(tracker.admit(Bound(tokens=500, cost=0.0)) or 0, [record])
    assert tracker.spent_tokens == 10 + 135 + (120 + 121 + 122) + 3 * 2  # prompt, candidates, the verifier
