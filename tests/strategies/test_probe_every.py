"""`--probe-every M` / `probe_every:`: the probed cot strategy, its refusal elsewhere, and resume beside cot.

The scripted tracer (a ForcedTracer test double) runs through the real executor into real SQLite.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from scripted_tracer import ScriptedTracer

from overthink.config import validate_config
from overthink.errors import UserError
from overthink.models.generation import GenerationConfig
from overthink.models.scripted import ScriptedBackend
from overthink.registry import probed
from overthink.runner.execute import Executor
from overthink.runner.plan import plan_groups
from overthink.store import Store
from overthink.strategies.base import CotStrategy
from overthink.strategies.probes import ProbedCotStrategy
from overthink.strategies.vote import VoteStrategy
from overthink.tasks.misleading_math import TASK, generate
from overthink.types import Budget

BUDGETS = [Budget.parse(b) for b in ("0", "16", "48")]


def _sweep(path: Path, strategy: CotStrategy | ProbedCotStrategy) -> None:
    groups = plan_groups(experiment="p", model="scripted", task=TASK.name, task_version=TASK.version,
                         samples=generate(4, 2), budgets=BUDGETS, strategy=strategy.name, repeats=1, base_seed=0)
    with Store(path) as store:
        asyncio.run(Executor(ScriptedTracer(), TASK, store, GenerationConfig(temperature=0.0),
                             strategy=strategy).run(groups))


def test_the_config_key_probes_cot_and_nothing_else() -> None:
    assert validate_config({"probe_every": 16}).probe_every == 16
    assert validate_config({}).probe_every is None
    with pytest.raises(UserError):
        validate_config({"probe_every": 0})
    strategies = probed([CotStrategy(), VoteStrategy(3)], 16)
    assert [s.name for s in strategies] == ["cot+probes@16", "vote@3"]
    assert probed([CotStrategy()], None)[0].name == "cot"  # without probes, cot is untouched
    with pytest.raises(UserError, match="probes the cot strategy"):
        probed([VoteStrategy(3)], 16)


def test_backends_without_forced_traces_are_refused_up_front() -> None:
    reason = ProbedCotStrategy(16).unsupported_reason(ScriptedBackend(), BUDGETS)
    assert reason is not None and "forced trace" in reason
    assert ProbedCotStrategy(16).unsupported_reason(ScriptedTracer(), [Budget.parse("natural")]) is not None
    assert ProbedCotStrategy(16).unsupported_reason(ScriptedTracer(), BUDGETS) is None


def test_a_store_run_without_probes_then_with_them_keeps_both(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _sweep(path, CotStrategy())
    with Store(path, create=False) as store:
        before = sorted((r["key"], r["answer_text"], r["compute_tokens"]) for r in store.rows())
    _sweep(path, ProbedCotStrategy(16))
    with Store(path, create=False) as store:
        rows = list(store.rows())
        cot = sorted((r["key"], r["answer_text"], r["compute_tokens"]) for r in rows if r["strategy"] == "cot")
        probed_rows = {(r["sample_id"], r["budget"]): r for r in rows if r["strategy"] == "cot+probes@16"}
        probes = store.probes_of([r["key"] for r in rows])
    assert cot == before  # cot's records are untouched, and they have no probes
    assert not any(key in probes for key, _, _ in cot)
    assert len(probed_rows) == 4 * len(BUDGETS)
    for (_, budget), row in probed_rows.items():
        assert [p.at for p in probes.get(row["key"], [])] == list(range(0, int(budget), 16))
        assert all(p.score is not None for p in probes.get(row["key"], []))  # scored by the task's scorer


def test_merge_carries_the_probes_once(tmp_path: Path) -> None:
    from overthink.store.merge import merge_stores

    a, b = tmp_path / "a.db", tmp_path / "b.db"
    _sweep(a, ProbedCotStrategy(16))
    _sweep(b, ProbedCotStrategy(8))

    def probes_in(path: Path) -> dict[str, list[tuple[int, str]]]:
        with Store(path, create=False) as store:
            keys = [r["key"] for r in store.rows()]
            return {k: [(p.at, p.answer_text) for p in v] for k, v in store.probes_of(keys).items()}

    expected = {**probes_in(a), **probes_in(b)}
    merge_stores([a, b, a], tmp_path / "m.db")  # the same store twice adds nothing twice
    assert probes_in(tmp_path / "m.db") == expected and expected
