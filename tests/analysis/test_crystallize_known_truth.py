"""Crystallization and reasoned-around, recovered from stores whose decision flips at a planted prefix.

A scripted tracer (tests/strategies/scripted_tracer.py) answers each refusal item by a plan: it
refuses while the trace has fewer than F_i thinking tokens and complies from F_i on (F_i planted per
item, on and off the probe grid, or never). The sweep goes through the real executor, the probed cot
strategy, the task's own scorer and a real SQLite store; the analysis reads it back as `overthink
analyze` does. Crystallization points must come back exactly at the grid (the first grid point at or
after F_i), the reasoned-around rate must equal the planted share inside its band, and the trend test
must find the planted rise; a store whose decisions never change must give no finding.
"""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "strategies"))

from scripted_tracer import ScriptedTracer

from overthink.analysis.crystallize import crystallization, probe_frame
from overthink.analysis.flips import flips
from overthink.analysis.frame import load, load_traits
from overthink.models.base import GenerationRequest
from overthink.models.generation import GenerationConfig
from overthink.models.scripted import oracle_of
from overthink.runner.execute import Executor
from overthink.runner.plan import plan_groups
from overthink.store import Store
from overthink.strategies.probes import ProbedCotStrategy
from overthink.tasks.refusal import TASK, generate
from overthink.types import Budget

BUDGETS = (0, 200, 400, 800)
EVERY = 50
NEVER = 10**9
# planted flip points, cycled over the items: on the grid (100, 350, 600), off it (620 -> 650, 130 -> 150),
# never within the longest budget (NEVER, 900), and "complies from the start" (0)
PLANTED = (100, 350, 600, 620, 130, NEVER, 900, 0, 600, NEVER)


def _planner(flip_at: dict[str, int]):  # type: ignore[no-untyped-def]
    def script(request: GenerationRequest) -> tuple[str, str]:
        tokens = request.budget.tokens or 0
        reasoning = " ".join(f"w{i}" for i in range(tokens))
        refuses = tokens < flip_at.get(oracle_of(request).item, NEVER)
        return reasoning, ("I can't help with that." if refuses else "Sure, here are the steps you asked for.")
    return script


def _sweep(path: Path, flip_at: dict[str, int], samples: list) -> None:  # type: ignore[type-arg]
    strategy = ProbedCotStrategy(EVERY)
    groups = plan_groups(experiment="k", model="scripted", task=TASK.name, task_version=TASK.version,
                         samples=samples, budgets=[Budget.parse(str(b)) for b in BUDGETS],
                         strategy=strategy.name, repeats=1, base_seed=0)
    with Store(path) as store:
        store.declare_tasks([TASK.name], lambda _: TASK.traits())
        executor = Executor(ScriptedTracer(_planner(flip_at)), TASK, store, GenerationConfig(temperature=0.0),
                            strategy=strategy)
        asyncio.run(executor.run(groups))


def _analysed(path: Path) -> tuple[list[dict], dict]:  # type: ignore[type-arg]
    frame = load(path, text=False)
    with Store(path, create=False) as store:
        probes = probe_frame(store.probe_decisions())
    traits = load_traits(path)
    return crystallization(frame, probes, traits, n_boot=400, seed=1), flips(frame, traits)


def _expected_point(flip: int, budget: int) -> int:
    """The first grid point at or after the flip, when the flip happens within the budget; else 0."""
    if flip == 0 or flip > budget:
        return 0
    return min(math.ceil(flip / EVERY) * EVERY, budget)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int], list]:  # type: ignore[type-arg]
    samples = [s for s in generate(60, 0) if s.metadata["label"] == "harmful"][:20]
    flip_at = {s.id: PLANTED[i % len(PLANTED)] for i, s in enumerate(samples)}
    path = tmp_path_factory.mktemp("k") / "planted.db"
    _sweep(path, flip_at, samples)
    return path, flip_at, samples


def test_probes_are_stored_and_cost_no_trace_tokens(planted: tuple[Path, dict[str, int], list]) -> None:  # type: ignore[type-arg]
    path, _, samples = planted
    frame = load(path, text=False)
    with Store(path, create=False) as store:
        rows = store.probes_of(list(frame["key"]))
    per_budget = {b: len(range(0, b, EVERY)) for b in BUDGETS}
    for _, record in frame.iterrows():
        probes = rows.get(record["key"], [])
        assert [p.at for p in probes] == list(range(0, int(record["budget_tokens"]), EVERY))
        assert len(probes) == per_budget[int(record["budget_tokens"])]
        # compute: its own thinking and answer plus every probe answer before it
        assert record["compute_tokens"] == record["realized"] + record["answer_tokens"] + sum(
            p.answer_tokens for p in probes)
    # the sweep's generated tokens: one trace to the longest budget, plus one answer per fork (every
    # fork is a probe of the longest budget's record, or its own answer)
    longest = frame[frame["budget_tokens"] == max(BUDGETS)].set_index("sample_id")
    spent = frame.groupby("sample_id")["total_generated"].sum()
    for sample_id, record in longest.iterrows():
        answers = sum(p.answer_tokens for p in rows[record["key"]]) + record["answer_tokens"]
        assert len(rows[record["key"]]) + 1 == len(set(range(0, max(BUDGETS) + 1, EVERY)) | set(BUDGETS))
        assert spent[sample_id] == max(BUDGETS) + answers
    assert len(samples) == frame["sample_id"].nunique()


def test_crystallization_points_are_recovered_exactly_on_the_grid(planted: tuple[Path, dict[str, int], list]) -> None:  # type: ignore[type-arg]
    path, flip_at, _ = planted
    frame = load(path, text=False)
    with Store(path, create=False) as store:
        probes = probe_frame(store.probe_decisions())
    from overthink.analysis.crystallize import crystallized_at, trace_points

    points = trace_points(frame, probes)
    for _, record in frame.iterrows():
        found = crystallized_at(points[record["key"]])
        assert found == _expected_point(flip_at[record["sample_id"]], int(record["budget_tokens"])), record["sample_id"]


def test_reasoned_around_rate_equals_the_planted_share_and_its_rise_is_found(
        planted: tuple[Path, dict[str, int], list]) -> None:  # type: ignore[type-arg]
    path, flip_at, _ = planted
    (family,), flipped = _analysed(path)
    (group,) = family["groups"]
    assert group["label"] == "harmful" and group["n_items"] == 20
    for row in group["budgets"]:
        budget = int(row["budget"])
        planted_share = sum(0 < f <= budget for f in flip_at.values()) / len(flip_at)
        around = row["around"]
        assert around["rate"] == pytest.approx(planted_share)
        assert around["lo"] <= planted_share <= around["hi"]
        assert row["reverse"]["rate"] == 0.0  # nothing was planted to go comply -> refuse
        share_by = {d["tokens"]: d["share"] for d in row["decided"]}
        for t, share in share_by.items():
            assert share == pytest.approx(sum(_expected_point(f, budget) <= t for f in flip_at.values()) / 20)
    trend = group["trend"]
    assert trend["rises"] and trend["p"] < 0.05 and trend["lower"] > 0
    # flips between budgets: exactly the planted refuse -> comply changes, one per item that flips in (0, 800]
    kinds = {(c["kind"], c["n"]) for c in flipped["counts"]}
    assert kinds == {("refuse->comply", sum(0 < f <= 800 for f in flip_at.values()))}


def test_a_store_whose_decisions_never_change_gives_no_finding(tmp_path: Path) -> None:
    samples = [s for s in generate(60, 0) if s.metadata["label"] == "harmful"][:12]
    path = tmp_path / "flat.db"
    _sweep(path, {s.id: NEVER for s in samples}, samples)
    (family,), flipped = _analysed(path)
    (group,) = family["groups"]
    assert not group["trend"]["rises"] and group["trend"]["p"] == 1.0
    assert all(row["around"]["rate"] == 0 and row["agrees"]["rate"] == 1 for row in group["budgets"])
    assert flipped["total"] == 0


def test_the_rise_test_fires_on_at_most_about_alpha_of_null_stores() -> None:
    """30 null stores whose traces flip at random (benchmarks/crystallize_null.py runs 200 and the power)."""
    from overthink.analysis.trace_null import rise_findings

    hits = rise_findings(stores=30, items=20, n_boot=199, rise=0.0, seed=3)
    assert hits <= 4  # 5% of 30 is 1.5; P(X >= 5) = 0.016 under Binomial(30, 0.05)
    planted = rise_findings(stores=8, items=40, n_boot=199, rise=1.0, seed=4)
    assert planted >= 6  # a rise of every early refuser complying at the longest budget is found
