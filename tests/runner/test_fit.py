"""Prompts that cannot fit the context are refused before anything is written; those that can, fit.

Grades items carry 8 or 16 worked examples; `--shots 2` adds two more such items, so prompts reach
4,000 tokens. The engine used to size its context as budget + answer + 2,048 and failed every record of
those items (ContextOverflow), then advised running the same command again.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from overthink.config import TaskConfig
from overthink.models.generation import GenerationConfig
from overthink.models.scripted import ScriptedBackend
from overthink.prompts.render import request_for
from overthink.prompts.shots import make_shots_of
from overthink.registry import get_task
from overthink.runner.fit import longest_thinking, refuse_overflow
from overthink.types import Budget, BudgetKind, Mechanism, Sample

CONFIG = """\
experiment: grades-shots
models:
  - name: tiny
    options: {{n_ctx: {n_ctx}}}
tasks:
  - name: grades
    n: 9
budgets: [0, 64]
shots: 2
store: {store}
"""


def _longest_grades_with_shots() -> tuple[Sample, tuple[tuple[str, str], ...]]:
    spec, config = get_task("grades"), TaskConfig(name="grades", n=9)
    shots_of = make_shots_of(spec, config.seed, 2, config.params)
    sample = max(spec.samples(9, config.seed, config.params),
                 key=lambda s: len(s.prompt) + sum(len(q) + len(a) for q, a in shots_of(s)))
    return sample, shots_of(sample)


@pytest.mark.model
def test_shots_that_overflow_n_ctx_exit_2_with_one_line_and_no_store(tmp_path: Path, tiny_backend: object) -> None:
    store = tmp_path / "g.db"
    config = tmp_path / "g.yaml"
    config.write_text(CONFIG.format(n_ctx=2048, store=store), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "overthink", "run", str(config)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "does not fit" in lines[0], result.stderr
    assert "with its shots" in lines[0] and "context of 2048" in lines[0] and "fewer --shots" in lines[0]
    assert not store.exists()


@pytest.mark.model
def test_a_long_few_shot_prompt_gets_a_context_that_holds_it() -> None:
    from overthink.models.llamacpp.backend import LlamaCppBackend

    backend = LlamaCppBackend.from_model_name("tiny")  # no n_ctx: the model's own window (32k)
    spec, config = get_task("grades"), TaskConfig(name="grades", n=9)
    shots_of = make_shots_of(spec, config.seed, 2, config.params)
    sampling = GenerationConfig(temperature=0.0, max_answer_tokens=8)
    requests = [request_for(s, Budget(BudgetKind.TOKENS, 0, Mechanism.FORCED), 0, sampling, shots_of(s))
                for s in spec.samples(9, config.seed, config.params)]
    # the shortest prompt beyond the old fixed room for the prompt (2,048 tokens): the cheapest to evaluate
    prompt, request = min(((p, r) for r in requests if (p := backend.prompt_tokens(r)) > 2048 + 64),
                          key=lambda pair: pair[0])
    assert backend.context_problem(request) is None
    assert backend.context_for(0, 8, prompt) >= prompt + 8
    try:
        completion = asyncio.run(backend.generate(request))  # raised ContextOverflow before
    finally:
        asyncio.run(backend.aclose())
    assert completion.usage.input_tokens == prompt
    assert completion.answer_tokens is not None and completion.answer_tokens > 0


def test_the_check_asks_the_longest_thinking_budget() -> None:
    forced = [Budget.parse(b) for b in ("0", "16384", "64")]
    assert longest_thinking([*forced, Budget(BudgetKind.NATURAL, None, Mechanism.FORCED)], 1024).tokens == 16384
    assert longest_thinking([forced[0], Budget(BudgetKind.NATURAL, None, Mechanism.FORCED)], 1024).tokens is None


def test_a_backend_that_cannot_count_is_not_refused() -> None:
    sample, _ = _longest_grades_with_shots()
    backend = ScriptedBackend()
    refuse_overflow(backend, "grades", [sample], [Budget.parse("0")], GenerationConfig(), None)
    assert backend.context_problem(request_for(sample, Budget.parse("0"), 0)) is None
