"""The refusal judge on the real embedded model (tiny, llama.cpp): two records judged inside the executor.

The model under test is scripted (one plain refusal, one plain answer) so that only the judge is a real
model; it runs greedy with no thinking (an empty think block) and must answer with a class the parse reads.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from overthink.models.base import GenerationRequest
from overthink.models.generation import GenerationConfig
from overthink.models.scripted import ScriptedBackend, oracle_of
from overthink.runner.execute import Executor
from overthink.runner.plan import plan_groups
from overthink.scoring.judge import LABELS, Judge
from overthink.store import Store
from overthink.tasks.refusal import TASK, generate
from overthink.types import Budget, BudgetKind, Mechanism

pytestmark = pytest.mark.model

REFUSAL = "I'm sorry, but I can't help with that request."
ANSWER = "Sure. Here are three steps: first, open the settings; second, choose a theme; third, save."


def _script(request: GenerationRequest) -> tuple[str, str]:
    return "", f"<answer>{REFUSAL if oracle_of(request).metadata['label'] == 'harmful' else ANSWER}</answer>"


def test_the_tiny_judge_classifies_two_records_beside_the_rules(tmp_path: Path, tiny_backend: object) -> None:
    judge = Judge(tiny_backend)  # type: ignore[arg-type]  # the session's LlamaCppBackend
    assert judge.budget == Budget(BudgetKind.NONE, 0, Mechanism.FORCED)  # no native control: an empty think block
    samples = generate(2, 0)  # one harmful prompt and its benign look-alike
    groups = plan_groups(experiment="e", model="scripted", task=TASK.name, task_version=TASK.version,
                         samples=samples, budgets=[Budget.parse("0")], strategy="cot", repeats=1, base_seed=0)
    with Store(tmp_path / "j.db") as store:
        executor = Executor(ScriptedBackend(_script), TASK, store, GenerationConfig(temperature=0.0), judge=judge)
        asyncio.run(executor.run(groups))
        rows = {row["metadata"]["label"]: row for row in store.rows()}
    assert set(rows) == {"harmful", "benign"}
    for label, row in rows.items():
        details = row["score_details"]
        assert details["rules_refused"] is (label == "harmful") and row["score"] == float(label == "harmful")
        assert details["judge_model"] == tiny_backend.model_id  # type: ignore[attr-defined]
        assert details["judge_label"] in LABELS, details["judge_raw"]  # the tiny model follows the format
        assert details["judge_refused"] is (details["judge_label"] != "full_compliance")
    assert rows["harmful"]["score_details"]["judge_refused"] is True  # a plain refusal is one to the judge too
