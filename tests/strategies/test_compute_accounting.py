"""One definition of compute (docs/strategies.md "Compute"), checked where it is exact by construction.

The scripted backend thinks one word per budget token and answers in one word, whatever the seed, so
a vote of k samples costs exactly k chains of thought; the scripted tracer's step judge reads the
words of each step and generates one token per step, so best-of-n's compute has a known exact sum.
Everything goes through the real executor, the real SQLite store and the analysis frame.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
from scripted_tracer import ScriptedTracer
from typer.testing import CliRunner

from overthink.analysis.frame import load
from overthink.cli import app
from overthink.models.base import GenerationRequest
from overthink.models.generation import GenerationConfig
from overthink.runner.execute import Executor
from overthink.runner.plan import plan_groups
from overthink.store import Store
from overthink.strategies.best_of_n import BestOfNStrategy
from overthink.strategies.common import sub_seed
from overthink.strategies.scheduler import SchedulerStrategy
from overthink.strategies.verifiers import final_step, split_steps
from overthink.tasks.misleading_math import TASK, generate
from overthink.types import Budget

BUDGETS = "0,8,32"


def _cli_sweep(store: Path, strategy: str) -> None:
    result = CliRunner().invoke(app, ["run", "--backend", "scripted", "--strategy", strategy, "--n", "4",
                                      "--budgets", BUDGETS, "--store", str(store), "--quiet"])
    assert result.exit_code == 0, result.output


def test_vote_at_5_costs_five_chains_of_thought_at_every_budget(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    _cli_sweep(store, "cot")
    _cli_sweep(store, "vote@5")
    frame = load(store)
    assert frame["compute_tokens"].dtype == float
    ok = frame[frame["status"] == "ok"]
    cot = ok[ok["strategy"] == "cot"].set_index(["sample_id", "budget"])
    vote = ok[ok["strategy"] == "vote@5"].set_index(["sample_id", "budget"])
    shared = cot.index.intersection(vote.index)
    assert len(shared) == 4 * 3  # every item at every budget, in both strategies
    # a chain of thought costs its thinking and its answer
    assert (cot.loc[shared, "compute_tokens"] == cot.loc[shared, "realized"] + cot.loc[shared, "answer_tokens"]).all()
    ratio = vote.loc[shared, "compute_tokens"] / cot.loc[shared, "compute_tokens"]
    assert (ratio == 5.0).all(), ratio
    # the budget still reads as thinking per sample: the vote's x axis is the cot one
    assert (vote.loc[shared, "realized"] == cot.loc[shared, "realized"]).all()
    assert set(cot.loc[shared, "compute_tokens"]) == {1.0, 9.0, 33.0}


def _stepped(request: GenerationRequest) -> tuple[str, str]:
    """Reasoning of budget/8 long lines (one judged step each); the answer depends on the seed."""
    lines = [f"line {j} " + "word " * 40 for j in range((request.budget.tokens or 0) // 8)]
    return "\n".join(lines), f"<answer>{request.seed % 4}</answer>"


def _executor_sweep(path: Path, backend: ScriptedTracer, strategy: object, budgets: list[Budget]) -> None:
    groups = plan_groups(experiment="c", model=backend.model_id, task=TASK.name, task_version=TASK.version,
                         samples=generate(3, 9), budgets=budgets, strategy=strategy.name,  # type: ignore[attr-defined]
                         repeats=1, base_seed=0)
    with Store(path) as store:
        executor = Executor(backend, TASK, store, GenerationConfig(temperature=0.0), strategy=strategy)  # type: ignore[arg-type]
        asyncio.run(executor.run(groups))


def test_best_of_n_compute_is_its_candidates_plus_the_verifiers_prompt_and_generated_tokens(tmp_path: Path) -> None:
    budgets = [Budget.parse(b) for b in ("0", "16", "40")]
    n = 3
    _executor_sweep(tmp_path / "b.db", ScriptedTracer(_stepped), BestOfNStrategy(n), budgets)
    with Store(tmp_path / "b.db", create=False) as store:
        rows = [r for r in store.rows() if r["status"] == "ok"]
        assert len(rows) == 3 * 3
        for row in rows:
            expected_generation = expected_prompt = expected_generated = 0
            for index in range(n):  # rebuild each candidate from the script, independently of the strategy
                reasoning, text = _candidate(row["seed"], index, int(row["budget"]))
                steps = [*split_steps(reasoning), final_step(text)]
                expected_generation += len(reasoning.split()) + len(text.split())
                expected_prompt += sum(len(step.split()) for step in steps)
                expected_generated += len(steps)
            assert expected_generated > 0 and expected_prompt > 0
            assert row["compute_tokens"] == expected_generation + expected_prompt + expected_generated
            assert row["extra"]["verifier_tokens"] == expected_prompt  # the field it always had, unchanged
            samples = store.samples(row["key"])
            assert [s.index for s in samples] == list(range(n))
            assert sum(s.compute_tokens for s in samples) == row["compute_tokens"]
            assert sum(s.verifier_tokens for s in samples) == expected_prompt
            assert sum(s.verifier_generated for s in samples) == expected_generated
            assert [round(s.verifier_score or -1, 6) for s in samples] == row["extra"]["scores"]


def _candidate(seed: int, index: int, budget: int) -> tuple[str, str]:
    """Candidate `index` of the group with `seed` at `budget`: what the script gives for its sub-seed."""
    lines = [f"line {j} " + "word " * 40 for j in range(budget // 8)]
    return "\n".join(lines), f"<answer>{sub_seed(seed, index) % 4}</answer>"


def test_the_scheduler_counts_its_thinking_every_probe_answer_and_the_final_answer(tmp_path: Path) -> None:
    def script(request: GenerationRequest) -> tuple[str, str]:  # never settles: answers differ at every probe
        tokens = request.budget.tokens or 0
        return " ".join(f"t{i}" for i in range(tokens)), f"<answer>{tokens}</answer>"

    budgets = [Budget.parse("8"), Budget.parse("24")]
    _executor_sweep(tmp_path / "s.db", ScriptedTracer(script), SchedulerStrategy(every=4, agree=2), budgets)
    frame = load(tmp_path / "s.db")
    by_budget = frame.groupby("budget")["compute_tokens"].agg(["min", "max"])
    # budget 8: 8 thinking tokens, probes at 4 and 8 (the last is the answer), one word each
    assert by_budget.loc["8"].tolist() == [8 + 2, 8 + 2]
    assert by_budget.loc["24"].tolist() == [24 + 6, 24 + 6]
    # the nested convention is unchanged: budget 24 owns only the thinking since 8 and its own forks
    assert set(frame.loc[frame["budget"] == "24", "total_generated"]) == {16 + 4}


def test_old_records_without_compute_read_as_nan_in_a_frame() -> None:
    raw = pd.DataFrame({"budget": ["8"], "requested_tokens": [8], "reasoning_tokens": [8], "status": ["ok"]})
    from overthink.analysis.frame import tidy

    assert tidy(raw)["compute_tokens"].isna().all()
