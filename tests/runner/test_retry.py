"""Errors are temporary: failed keys are retried on re-run up to a total limit; ok rows never change."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from overthink.models.base import GenerationRequest
from overthink.models.generation import GenerationConfig
from overthink.models.scripted import ScriptedBackend, default_script, oracle_of
from overthink.models.secrets import register_secret
from overthink.runner.execute import Executor
from overthink.runner.plan import WorkGroup, pending, plan_groups
from overthink.store import DEFAULT_MAX_ATTEMPTS, Store
from overthink.tasks.misleading_math import TASK, generate
from overthink.types import Budget, Completion, Record, Score, Status, TokenSource, Usage, WorkKey

KEY = WorkKey("exp", "scripted", "misleading_math", "1", "s1", "64", "forced", "cot", 0)


def _ok(answer: str = "<answer>3</answer>", at: float = 10.0) -> Record:
    completion = Completion(text=answer, reasoning="think", finish_reason="stop",
                            usage=Usage(10, 20, 64, TokenSource.TOKENIZER), total_generated=70)
    return Record(key=KEY, seed=5, status=Status.OK, budget_kind="tokens", requested_tokens=64, prompt="p",
                  target="3", metadata={}, completion=completion, score=Score(1.0, True, "3"), created_at=at)


def _error(message: str, at: float) -> Record:
    return Record(key=KEY, seed=5, status=Status.ERROR, budget_kind="tokens", requested_tokens=64, prompt="p",
                  target="3", metadata={}, error=message, created_at=at)


def test_an_error_row_is_replaced_by_its_retry_and_every_failure_is_kept(tmp_path: Path) -> None:
    digest = KEY.digest()
    with Store(tmp_path / "r.db") as store:
        assert store.write(_error("TimeoutError: slow", 1.0))
        assert store.done_keys() == set()  # one failure of three: retried
        assert store.write(_error("BackendError: HTTP 503: busy", 2.0))
        assert [r["error"] for r in store.rows()] == ["BackendError: HTTP 503: busy"]
        assert store.error_counts() == (1, 0)
        assert store.write(_ok(at=3.0))
        assert not store.write(_ok("<answer>9</answer>", at=4.0))  # ok is immutable
        assert not store.write(_error("TimeoutError: late duplicate", 5.0))
        rows = list(store.rows())
        assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["answer_text"] == "<answer>3</answer>"
        assert rows[0]["error"] is None and rows[0]["created_at"] == 3.0
        attempts = store.attempts(digest)
        # the failure after the ok row (a concurrent writer's) is history too, but changes no record
        assert [(a["attempt"], a["error_class"], a["at"]) for a in attempts] == [
            (1, "TimeoutError", 1.0), (2, "BackendError", 2.0), (3, "TimeoutError", 5.0)]
        assert store.done_keys() == {digest} and store.error_counts() == (0, 0)


def test_the_attempts_limit_counts_every_failure_of_a_key(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store:
        for attempt in range(DEFAULT_MAX_ATTEMPTS):
            assert store.done_keys() == set()
            store.write(_error("TimeoutError: slow", float(attempt)))
        assert store.done_keys() == {KEY.digest()}  # spent: a re-run skips it
        assert store.error_counts() == (0, 1)
        assert store.done_keys(max_attempts=DEFAULT_MAX_ATTEMPTS + 1) == set()  # a higher limit retries it
        assert store.error_counts(DEFAULT_MAX_ATTEMPTS + 1) == (1, 0)
        assert store.done_keys(experiment="other") == set()
        assert store.done_keys(experiment="exp", model="scripted", task="misleading_math") == {KEY.digest()}
        with pytest.raises(ValueError, match="at least 1"):
            store.done_keys(max_attempts=0)


def test_error_messages_are_scrubbed_before_they_reach_the_file(tmp_path: Path) -> None:
    secret = "sk-test-abcdefghijklmnopqrstuvwx"
    register_secret(secret)
    with Store(tmp_path / "r.db") as store:
        store.write(_error(f"AuthError: key {secret} rejected", 1.0))
    for path in tmp_path.iterdir():  # the database and any WAL or journal beside it
        assert secret.encode() not in path.read_bytes()
    with Store(tmp_path / "r.db") as store:
        assert store.attempts()[0]["message"] == "AuthError: key *** rejected"


class _Flaky:
    """A script failing the first `fails[sample]` calls of each budget of a sample (a server that recovers)."""

    def __init__(self, fails: dict[str, int]) -> None:
        self.fails = fails
        self.calls: Counter[tuple[str, str]] = Counter()  # by (sample, budget): each budget fails on its own
        self.ok = default_script(1.0)

    def __call__(self, request: GenerationRequest) -> tuple[str, str]:
        call = (oracle_of(request).item, request.budget.label)
        self.calls[call] += 1
        if self.calls[call] <= self.fails.get(oracle_of(request).item, 0):
            raise ConnectionError(f"reset while serving {oracle_of(request).item}")
        return self.ok(request)


def _groups() -> list[WorkGroup]:
    budgets = [Budget.parse("0"), Budget.parse("8")]
    return plan_groups(experiment="exp", model="scripted", task=TASK.name, task_version=TASK.version,
                       samples=generate(6, 3), budgets=budgets, strategy="cot", repeats=1, base_seed=0)


def _sweep(store: Store, script: _Flaky, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> int:
    todo = pending(_groups(), store.done_keys(max_attempts))
    executor = Executor(ScriptedBackend(script), TASK, store, GenerationConfig(temperature=0.0))
    asyncio.run(executor.run(todo))
    return sum(len(g.items) for g in todo)


def test_rerunning_a_sweep_retries_failures_until_ok_or_out_of_attempts(tmp_path: Path) -> None:
    samples = [g.sample.id for g in _groups()]
    script = _Flaky({samples[0]: 1, samples[1]: 2, samples[2]: 99})  # recovers after 1, 2, never
    with Store(tmp_path / "r.db") as store:
        assert _sweep(store, script) == 12
        first_ok = {r["key"]: r for r in store.rows(status=Status.OK)}
        assert len(first_ok) == 6 and store.error_counts() == (6, 0)
        assert _sweep(store, script) == 6  # only the error keys are run again
        assert _sweep(store, script) == 4  # samples 1 and 2 still failing
        assert _sweep(store, script) == 0  # sample 2 used its 3 attempts: not sent again
        assert script.calls[samples[2], "0"] == script.calls[samples[2], "8"] == DEFAULT_MAX_ATTEMPTS
        assert store.error_counts() == (0, 2)
        rows = {r["key"]: r for r in store.rows()}
        assert len(rows) == 12
        assert all(rows[key] == row for key, row in first_ok.items())  # ok rows untouched by re-runs
        by_sample = Counter(a["key"] for a in store.attempts())
        assert sorted(by_sample.values()) == [1, 1, 2, 2, 3, 3]
        assert {a["error_class"] for a in store.attempts()} == {"ConnectionError"}
        assert _sweep(store, script, max_attempts=4) == 2  # a higher limit gives it one more try
