"""The streamed plan: chunks checked against the store give exactly what the whole-plan path gave, and
memory follows the chunk size, not the sweep (issue 10: a million records must not be held at once)."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from overthink.models.base import GenerationRequest
from overthink.models.generation import GenerationConfig
from overthink.models.scripted import ScriptedBackend, default_script
from overthink.runner.execute import CircuitBreaker, Executor
from overthink.runner.plan import WorkGroup, iter_groups, pending, plan_groups
from overthink.runner.resume import StreamedSweep, census, chunk_size, keys_of, todo_chunks
from overthink.runner.run_plans import sweep_chunks as _sweep
from overthink.store import Store
from overthink.tasks.misleading_math import TASK, generate
from overthink.types import Budget, Record, Status

BUDGETS = [Budget.parse(b) for b in ("0", "8", "64")]


def _plan(n: int = 40, repeats: int = 2, experiment: str = "exp") -> Iterator[WorkGroup]:
    return iter_groups(experiment=experiment, model="scripted", task=TASK.name, task_version=TASK.version,
                       samples=generate(n, 3), budgets=BUDGETS, strategy="cot", repeats=repeats, base_seed=0)


def _error(group: WorkGroup, index: int, at: float) -> Record:
    item = group.items[index]
    return Record(key=item.key, seed=item.seed, status=Status.ERROR, budget_kind=item.budget.kind.value,
                  requested_tokens=item.budget.tokens, prompt="p", target="t", metadata={},
                  error="TimeoutError: slow", created_at=at)


def _half_done_store(path: Path) -> Store:
    """A store holding ok records, retryable errors and spent errors of the plan, and another plan's rows."""
    store = Store(path)
    groups = list(_plan())
    executor = Executor(ScriptedBackend(default_script(1.0)), TASK, store, GenerationConfig(temperature=0.0))
    asyncio.run(executor.run(groups[::3]))  # every third group ok
    for number, group in enumerate(groups[1::5]):
        for attempt in range(1 + number % 3):  # 1, 2 or 3 failed attempts: the last ones are spent
            store.write(_error(group, number % len(group.items), float(attempt)))
    asyncio.run(executor.run(list(_plan(n=5, experiment="other"))))  # not this plan: never counted
    return store


def test_todo_chunks_are_bounded_and_give_what_the_whole_plan_gave(tmp_path: Path) -> None:
    with _half_done_store(tmp_path / "s.db") as store:
        whole = pending(plan_groups(experiment="exp", model="scripted", task=TASK.name, task_version=TASK.version,
                                    samples=generate(40, 3), budgets=BUDGETS, strategy="cot", repeats=2,
                                    base_seed=0), store.done_keys(3))
        chunks = list(todo_chunks(store, _plan(), max_attempts=3, size=7))
        assert chunks and all(0 < len(chunk) <= 7 for chunk in chunks)
        streamed = [group for chunk in chunks for group in chunk]
        assert [(g.sample.id, g.repeat, g.seed) for g in streamed] == [(g.sample.id, g.repeat, g.seed) for g in whole]
        assert keys_of(streamed) == keys_of(whole)
        raised = [group for chunk in todo_chunks(store, _plan(), max_attempts=4, size=7) for group in chunk]
        assert len(keys_of(raised)) > len(keys_of(whole))  # a higher limit retries the spent errors too


def test_census_counts_this_plan_only(tmp_path: Path) -> None:
    with _half_done_store(tmp_path / "s.db") as store:
        keys = set(keys_of(_plan()))
        rows = list(store._conn.execute(
            "SELECT r.key, r.status, (SELECT COUNT(*) FROM attempts a WHERE a.key = r.key) FROM records r"))
        mine = [(status, attempts) for key, status, attempts in rows if key in keys]
        assert len(mine) < len(rows)  # the other plan's records are in the file
        counts = census(store, _plan(), max_attempts=3, size=11)
        assert counts["planned"] == 40 * 2 * len(BUDGETS)
        assert counts["ok"] == sum(status == "ok" for status, _ in mine) > 0
        assert counts["error"] == sum(status == "error" for status, _ in mine) > 0
        assert counts["exhausted"] == sum(status == "error" and n >= 3 for status, n in mine) > 0
        assert counts["done"] == len(store.done_keys(3) & keys)
        assert census(store, _plan(), max_attempts=3, size=4096) == counts  # chunking changes nothing


def _values(store: Store) -> set[str]:
    """Every stored record without its timing columns (those differ between any two runs)."""
    return {json.dumps({k: v for k, v in row.items() if k not in ("created_at", "wall_time_s")}, sort_keys=True)
            for row in store.rows()}


def test_a_sweep_fed_in_small_chunks_writes_what_one_run_writes(tmp_path: Path) -> None:
    backend = ScriptedBackend(default_script(0.5))
    with Store(tmp_path / "one.db") as one, Store(tmp_path / "chunked.db") as chunked:
        asyncio.run(Executor(backend, TASK, one, GenerationConfig(temperature=0.0), concurrency=4).run(list(_plan())))
        executor = Executor(backend, TASK, chunked, GenerationConfig(temperature=0.0), concurrency=4)
        sweep = StreamedSweep(chunked, _plan(), max_attempts=3, size=3)
        stats = asyncio.run(_sweep(executor, sweep.chunks()))
        assert stats.written == 40 * 2 * len(BUDGETS) and _values(one) == _values(chunked)
        expected = {"planned": 240, "ok": 240, "done": 240, "exhausted": 0}
        assert sweep.finish() == census(chunked, _plan(), max_attempts=3) == expected


def test_a_stopped_sweep_plans_no_further_chunk(tmp_path: Path) -> None:
    pulled: list[int] = []

    def failing(request: GenerationRequest) -> tuple[str, str]:
        raise ConnectionError("connection refused")

    def chunks() -> Iterator[list[WorkGroup]]:
        for chunk in sweep.chunks():
            pulled.append(len(chunk))
            yield chunk

    with Store(tmp_path / "s.db") as store:
        store.write_many(_error(group, 0, 1.0) for group in list(_plan())[-3:])  # stored before, never reached
        sweep = StreamedSweep(store, _plan(), max_attempts=3, size=5)
        executor = Executor(ScriptedBackend(failing), TASK, store, GenerationConfig(temperature=0.0),
                            breaker=CircuitBreaker(limit=20))  # records: a chunk holds 15
        stats = asyncio.run(_sweep(executor, chunks()))
        assert stats.broken and pulled == [5, 5]  # tripped in the second chunk: the third is never built
        counts = sweep.finish()  # the chunk in flight and every chunk after it, counted as stored
        assert counts == census(store, _plan(), max_attempts=3)
        assert counts["planned"] == 240 and 0 < counts["error"] < 240 and counts["ok"] == 0


def test_counting_a_plan_holds_one_chunk_not_the_plan(tmp_path: Path) -> None:
    """30,000 records: the materialized plan measured ~10 MB of Python objects, counting it chunk by chunk ~1 MB."""
    samples = generate(2500, 1)

    def plan() -> Iterator[WorkGroup]:
        return iter_groups(experiment="e", model="m", task=TASK.name, task_version=TASK.version, samples=samples,
                           budgets=[*BUDGETS, Budget.parse("512")], strategy="cot", repeats=3, base_seed=0)

    with Store(tmp_path / "s.db") as store:
        tracemalloc.start()
        try:
            counts = census(store, plan(), max_attempts=3, size=256)
            _, streamed = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            kept = list(plan())
            _, whole = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert counts["planned"] == len(kept) * 4 == 30_000
    assert streamed * 5 < whole, (streamed, whole)


def test_chunks_grow_with_concurrency_to_keep_workers_busy() -> None:
    assert chunk_size(1) == chunk_size(64) == 4096
    assert chunk_size(1024) == 32 * 1024
