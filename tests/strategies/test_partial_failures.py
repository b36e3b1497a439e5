"""A failure costs only its own budget, through every strategy and into the store (issue 16).

The scripted backends fail the requests a test names (by budget, and by sample seed for k-sample
strategies); the records then go through the real executor and a real SQLite store. Before issue 16 any
one failure made every budget of the (item, repeat) an error record with that failure's message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from scripted_tracer import ScriptedTracer

from overthink.models.base import BackendError, FailureKind, GenerationRequest, PartialFailure
from overthink.models.generation import GenerationConfig
from overthink.models.scripted import ScriptedBackend, default_script
from overthink.prompts.render import request_for
from overthink.runner.execute import Executor
from overthink.runner.plan import plan_groups
from overthink.store import Store
from overthink.strategies.base import CotStrategy, Strategy
from overthink.strategies.best_of_n import BestOfNStrategy
from overthink.strategies.common import item_for, sub_seed
from overthink.strategies.scheduler import SchedulerStrategy
from overthink.strategies.verifiers import OutcomeVerifier
from overthink.strategies.vote import VoteStrategy
from overthink.tasks.misleading_math import TASK, generate, score
from overthink.types import Budget

SAMPLE = generate(1, 4)[0]
BUDGETS = [Budget.parse("0"), Budget.parse("8"), Budget.parse("64")]
ok = default_script(1.0)


def _failing(when: Callable[[GenerationRequest], bool]) -> Callable[[GenerationRequest], tuple[str, str]]:
    def script(request: GenerationRequest) -> tuple[str, str]:
        if when(request):
            raise BackendError(f"gave up after 6 attempts: HTTP 504 at {request.budget.label}",
                               kind=FailureKind.TIMEOUT)
        return ok(request)

    return script


def _sweep(tmp_path: Path, backend: ScriptedBackend, strategy: Strategy) -> dict[str, tuple[str, str | None]]:
    groups = plan_groups(experiment="p", model=backend.model_id, task=TASK.name, task_version=TASK.version,
                         samples=[SAMPLE], budgets=BUDGETS, strategy=strategy.name, repeats=1, base_seed=0)
    with Store(tmp_path / "p.db") as store:
        executor = Executor(backend, TASK, store, GenerationConfig(temperature=0.0), strategy=strategy)
        stats = asyncio.run(executor.run(groups))
        rows = {r["budget"]: (r["status"], r["error"]) for r in store.rows()}
        kinds = {a["error_class"] for a in store.attempts()}
    assert stats.error_classes == ({"timeout": 1} if kinds else {})
    assert kinds <= {"timeout"}
    return rows


def test_the_default_nested_call_keeps_every_budget_that_came_back() -> None:
    backend = ScriptedBackend(_failing(lambda r: r.budget.label == "8"))
    with pytest.raises(PartialFailure) as raised:
        asyncio.run(backend.generate_nested(request_for(SAMPLE, BUDGETS[0], 1), BUDGETS))
    assert sorted(raised.value.completions) == ["0", "64"] and list(raised.value.failures) == ["8"]
    assert raised.value.kind is FailureKind.TIMEOUT
    assert [r.budget.label for r in backend.calls] == ["0", "8", "64"]  # the failure stopped nothing


def test_cot_stores_the_failed_budget_alone_with_its_own_reason(tmp_path: Path) -> None:
    rows = _sweep(tmp_path, ScriptedBackend(_failing(lambda r: r.budget.label == "64")), CotStrategy())
    assert {b: s for b, (s, _) in rows.items()} == {"0": "ok", "8": "ok", "64": "error"}
    assert rows["64"][1] == "BackendError: gave up after 6 attempts: HTTP 504 at 64"


def test_a_vote_fails_only_at_the_budget_where_one_of_its_samples_failed(tmp_path: Path) -> None:
    seeds: list[int] = []  # the sample seeds in the order first asked: sub_seed(group seed, 0), (.., 1), ...

    def fails(request: GenerationRequest) -> bool:
        if request.seed not in seeds:
            seeds.append(request.seed)
        return request.budget.label == "8" and request.seed == sub_seed(seeds[0], 1)

    rows = _sweep(tmp_path, ScriptedBackend(_failing(fails)), VoteStrategy(3))
    assert {b: s for b, (s, _) in rows.items()} == {"0": "ok", "8": "error", "64": "ok"}
    assert "HTTP 504 at 8" in str(rows["8"][1])


def test_best_of_n_fails_only_at_the_budget_its_candidates_could_not_fill(tmp_path: Path) -> None:
    verifier = OutcomeVerifier("length", lambda sample, text: float(len(text)))
    seeds: list[int] = []

    def fails(request: GenerationRequest) -> bool:  # the second candidate, at budget 0
        if request.seed not in seeds:
            seeds.append(request.seed)
        return request.budget.label == "0" and request.seed != seeds[0]

    backend = ScriptedBackend(_failing(fails))
    rows = _sweep(tmp_path, backend, BestOfNStrategy(2, verifier=verifier))
    assert {b: s for b, (s, _) in rows.items()} == {"0": "error", "8": "ok", "64": "ok"}


def test_the_scheduler_keeps_the_budgets_its_trace_reached_before_it_broke(tmp_path: Path) -> None:
    tracer = ScriptedTracer(_failing(lambda r: (r.budget.tokens or 0) > 8))  # probes past 8 fail
    request = request_for(SAMPLE, BUDGETS[1], 0)
    budgets = [Budget.parse("4"), Budget.parse("8"), Budget.parse("64")]
    with pytest.raises(PartialFailure) as raised:
        asyncio.run(SchedulerStrategy(every=2, agree=99).run(tracer, request, budgets, item_for(SAMPLE, score)))
    assert sorted(raised.value.completions) == ["4", "8"] and list(raised.value.failures) == ["64"]
    assert raised.value.completions["8"].extra["max_tokens"] == 8
