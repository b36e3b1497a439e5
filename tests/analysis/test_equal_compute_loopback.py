"""Known truth over real HTTP: a loopback server whose every sample is right with probability p(budget).

Each chat request's answer is right when a hash of (seed, question, budget) falls below p(budget), and
wrong with one fixed wrong answer otherwise, so a majority of 5 is right with probability
P(Binomial(5, p) >= 3). The sweep runs through the real `overthink run` (openai-compat backend, prompt
budgets, cot and vote@5 in one store) and the real analysis reads it back. The truth at matched compute is
computed here from p alone: a vote at budget b costs 5 (b + 4) tokens, CoT at budget c costs c + 4.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from loopback_server import Reply, Request, chat_ok, error, serve
from overthink.analysis.equal_compute import MATCH_RATIO

P = {0: 0.2, 16: 0.45, 64: 0.75, 256: 0.75, 1024: 0.75}  # rises, then plateaus: voting pays only on the plateau
ANSWER_TOKENS = 4
N_ITEMS = 400


def _unit(*parts: object) -> float:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big") / 2**64


def _respond(request: Request) -> Reply:
    if not (request.method == "POST" and request.path.endswith("/chat/completions")):
        return error(404, f"no route {request.path}")
    messages = request.body["messages"]
    system = " ".join(m["content"] for m in messages if m["role"] == "system")
    user = " ".join(m["content"] for m in messages if m["role"] == "user")
    found = re.search(r"thinking budget of about (\d+) tokens", system)
    budget = int(found.group(1)) if found else 0
    planted = re.search(r"planted answer is (\d+)", user)
    target = int(planted.group(1)) if planted else 1  # preflight's "Hi"
    right = _unit(request.body.get("seed"), user, budget) < P.get(budget, 0.5)
    body = chat_ok(f"<think>\n{'w ' * budget}</think>\n<answer>{target if right else target + 1}</answer>")
    body["usage"] = {"prompt_tokens": 30, "completion_tokens": budget + ANSWER_TOKENS, "total_tokens": budget + 34,
                     "completion_tokens_details": {"reasoning_tokens": budget}}
    return Reply(200, body)


def _majority(p: float, k: int = 5) -> float:
    return sum(math.comb(k, j) * p**j * (1 - p) ** (k - j) for j in range(k // 2 + 1, k + 1))


def _true_cot_at(compute: float) -> float | None:
    """CoT's true accuracy at this compute, matched exactly as the analysis matches (log compute)."""
    xs = [(math.log1p(b + ANSWER_TOKENS), P[b]) for b in sorted(P)]
    x = math.log1p(compute)
    for (x0, y0), (x1, y1) in itertools.pairwise(xs):
        if x0 <= x <= x1:
            return y0 + (x - x0) / (x1 - x0) * (y1 - y0)
    end = xs[-1] if x > xs[-1][0] else xs[0]
    ratio = max(compute, math.expm1(end[0])) / min(compute, math.expm1(end[0]))
    return end[1] if ratio <= MATCH_RATIO else None


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("known-truth")
    samples = folder / "items.jsonl"
    with samples.open("w", encoding="utf-8") as handle:
        for i in range(N_ITEMS):
            target = 3 + i % 7
            handle.write(json.dumps({"id": f"kt-{i}", "task": "misleading_math", "target": str(target),
                                     "prompt": f"Question {i}: the planted answer is {target}. How many?",
                                     "metadata": {"num_distractors": 0}}) + "\n")
    path = folder / "kt.db"
    env = {**os.environ, "OPENAI_COMPAT_API_KEY": ""}
    with serve(_respond) as server:
        ran = subprocess.run(
            [sys.executable, "-m", "overthink", "run", "--backend", "openai-compat", "--model", "m", "--base-url",
             server.url, "--mode", "prompt", "--task", "misleading_math", "--samples", str(samples),
             "--budgets", ",".join(map(str, P)), "--strategy", "cot", "--strategy", "vote@5", "--temperature",
             "0.7", "--concurrency", "16", "--store", str(path), "--quiet"],
            cwd=folder, capture_output=True, text=True, env=env, timeout=600)
    assert ran.returncode == 0, ran.stderr[-2000:]
    return path


@pytest.fixture(scope="module")
def table(store: Path) -> dict:  # type: ignore[type-arg]
    ran = subprocess.run([sys.executable, "-m", "overthink", "compute", "--store", str(store), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    (only,) = json.loads(ran.stdout)
    assert only["reference"] == "cot" and only["strategies"] == ["cot", "vote@5"] and only["n_items"] == N_ITEMS
    return only  # type: ignore[no-any-return]


def _points(table: dict, strategy: str) -> dict[int, dict]:  # type: ignore[type-arg]
    return {int(p["budget"]): p for p in table["points"] if p["strategy"] == strategy}


def _widened(point: dict, z: float) -> tuple[float, float]:  # type: ignore[type-arg]
    """The point's 95% interval stretched to level z (percentile intervals here are near-symmetric)."""
    half = (point["ci"][1] - point["ci"][0]) / 2 * z / 1.96
    return point["value"] - half, point["value"] + half


@pytest.mark.slow
def test_vote_accuracy_is_the_majority_probability_and_costs_five_chains(store: Path, table: dict) -> None:  # type: ignore[type-arg]
    """Ten 95% intervals (two strategies x five budgets) would miss one of ten true values 40% of the time
    by chance, so each must hold it at the Bonferroni level for ten (z = 2.81), and most at 95%."""
    from overthink.store import Store

    cot, vote = _points(table, "cot"), _points(table, "vote@5")
    inside = 0
    for budget, p in P.items():
        truth = _majority(p)
        for point, value in ((cot[budget], p), (vote[budget], truth)):
            low, high = _widened(point, 2.81)
            assert low <= value <= high, (budget, value, point)
            inside += point["ci"][0] <= value <= point["ci"][1]
        assert cot[budget]["compute"] == budget + ANSWER_TOKENS
        assert vote[budget]["compute"] == pytest.approx(5 * cot[budget]["compute"])
        assert vote[budget]["compute_ci"] == [5 * cot[budget]["compute"]] * 2
    assert inside >= 8
    with Store(store, create=False) as opened:  # and each vote is the majority of its five stored samples
        for row in opened.rows():
            if row["strategy"] == "vote@5":
                rights = sum(bool(s.correct) for s in opened.samples(row["key"]))
                assert bool(row["correct"]) == (rights >= 3)


@pytest.mark.slow
def test_the_matched_test_says_where_voting_beats_longer_thinking(table: dict) -> None:  # type: ignore[type-arg]
    vote = _points(table, "vote@5")
    seen = {"better": 0, "worse": 0}
    for budget, point in vote.items():
        truth = _true_cot_at(point["compute"])
        matched = point["matched"]
        if truth is None:
            assert matched["kind"] == "none" and matched["p"] is None
            continue
        true_difference = _majority(P[budget]) - truth
        assert matched["ci"][0] <= true_difference <= matched["ci"][1], (budget, true_difference, matched)
        if abs(true_difference) >= 0.12:  # over 4.5 standard errors at 400 problems: the test must see it
            expected = "better" if true_difference > 0 else "worse"
            assert matched["call"] == expected, (budget, true_difference, matched)
            seen[expected] += 1
        assert (matched["p"] < table["alpha"]) == (matched["ci"][0] > 0 or matched["ci"][1] < 0)
    assert seen["better"] >= 1 and seen["worse"] >= 1  # the design has both: the verdict is mixed
    assert {v["strategy"]: v["verdict"] for v in table["verdicts"]} == {"vote@5": "mixed"}
    assert np.isfinite([p["compute_ci"][0] for p in table["points"]]).all()
