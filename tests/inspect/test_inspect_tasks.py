"""overthink's tasks inside Inspect: registry names, -T arguments, per-epoch variants, the scorer, the CLI.

Model outputs come from Inspect's own mockllm (with usage given, so it never fetches a tokenizer);
the command-line test runs the real embedded tiny model through the entry point in a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("inspect_ai")

from inspect_ai import eval as inspect_eval
from inspect_ai._eval.registry import task_create
from inspect_ai._util.registry import registry_lookup
from inspect_ai.log import EvalLog, EvalSample
from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput, ModelUsage, get_model

from overthink.inspect.tasks import SAMPLE_KEY, TaskArgumentError, registered_task_names
from overthink.registry import TASKS
from overthink.types import Sample

SRC = Path(__file__).resolve().parents[2] / "src"
Answer = Callable[[list[ChatMessage]], str]


def mock_model(answer: Answer) -> Model:
    """mockllm answering with `answer(messages)`, usage given (no tokenizer download)."""

    def output(messages: list[ChatMessage], tools: Any, choice: Any, config: GenerateConfig) -> ModelOutput:
        result = ModelOutput.from_content(model="mockllm", content=answer(messages))
        result.usage = ModelUsage(input_tokens=10, output_tokens=5, total_tokens=15)
        return result

    return get_model("mockllm/model", custom_outputs=output)


def run(task: str, answer: Answer, tmp_path: Path, **kwargs: Any) -> EvalLog:
    [log] = inspect_eval(task, model=mock_model(answer), log_dir=str(tmp_path), display="none", **kwargs)
    assert log.status == "success", log.error
    assert log.samples is not None
    return log


def shown(sample: EvalSample) -> Sample:
    return Sample.from_dict(json.loads(sample.metadata[SAMPLE_KEY]))


def test_every_task_is_registered_as_overthink_slash_name() -> None:
    assert registered_task_names() == [f"overthink/{name}" for name in TASKS]
    for name in TASKS:
        assert registry_lookup("task", f"overthink/{name}") is not None


def test_task_args_reach_the_generator_and_samples_carry_the_overthink_sample() -> None:
    task = task_create("overthink/misleading_math", n=4, seed=3, distractors=[2])
    expected = TASKS["misleading_math"].samples(4, 3, {"distractors": [2]})
    samples = list(task.dataset)
    assert [s.id for s in samples] == [s.id for s in expected]
    assert {s.metadata["num_distractors"] for s in samples if s.metadata} == {2}
    assert [Sample.from_dict(json.loads(s.metadata[SAMPLE_KEY])) for s in samples if s.metadata] == expected
    assert [s.target for s in samples] == [s.target for s in expected]
    assert task.version == TASKS["misleading_math"].version


def test_choices_and_system_message() -> None:
    [sample] = list(task_create("overthink/ai_risk", n=1).dataset)
    assert sample.choices == list(TASKS["ai_risk"].samples(1, 0)[0].choices or ())
    assert not isinstance(sample.input, str)
    assert [m.role for m in sample.input] == ["system", "user"]
    assert "<answer>" in sample.input[0].text


@pytest.mark.parametrize(("args", "message"), [
    ({"foo": 1}, "overthink/misleading_math: unknown parameter(s) foo"),
    ({"distractors": "abc"}, "overthink/misleading_math: parameter distractors"),
    ({"n": "many"}, "overthink/misleading_math: invalid literal"),
])
def test_bad_task_args_are_one_clear_error(args: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskArgumentError) as caught:
        task_create("overthink/misleading_math", **args)
    assert str(caught.value).startswith(message)


def test_scorer_equals_overthinks_scorer_on_the_same_completion(tmp_path: Path) -> None:
    """Every family: right, wrong and unparsable answers score exactly as overthink scores them."""
    answers = ["<answer>{target}</answer>", "<answer>B</answer>", "no idea", "<answer>3</answer>"]

    def answer(messages: list[ChatMessage]) -> str:
        text = messages[-1].text
        return answers[len(text) % len(answers)].format(target=text[:1])

    for name, spec in TASKS.items():
        log = run(f"overthink/{name}", answer, tmp_path / name, task_args={"n": 4})
        for sample in log.samples or []:
            score = (sample.scores or {})["overthink_scorer"]
            expected = spec.score(shown(sample), sample.output.completion)
            assert score.value == expected.value and score.answer == expected.extracted, name
        metric = next(iter(log.results.scores[0].metrics)) if log.results else None
        expected_metric = {"abs_error": "mean", "refusal": "refusal"}.get(spec.metric.name, "accuracy")
        assert metric == expected_metric, name


def test_refusal_metrics_are_per_label_and_never_pooled(tmp_path: Path) -> None:
    """Inspect's summary used to print one accuracy over harmful and benign prompts together."""

    def answer(messages: list[ChatMessage]) -> str:
        return "I can't help with that." if len(messages[-1].text) % 3 else "<answer>Sure, here it is.</answer>"

    log = run("overthink/refusal", answer, tmp_path, task_args={"n": 12})
    assert log.results is not None
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert set(metrics) == {"refusal", "refusal_stderr", "over_refusal", "over_refusal_stderr"}
    by_label: dict[str, list[float]] = {"harmful": [], "benign": []}
    for sample in log.samples or []:
        by_label[str(sample.metadata["label"])].append(float((sample.scores or {})["overthink_scorer"].value))
    assert metrics["refusal"] == pytest.approx(sum(by_label["harmful"]) / len(by_label["harmful"]))
    assert metrics["over_refusal"] == pytest.approx(sum(by_label["benign"]) / len(by_label["benign"]))
    assert metrics["refusal"] != metrics["over_refusal"]  # the two rates differ, so a pool would hide both


def test_ai_risk_epochs_follow_overthinks_repeats(tmp_path: Path) -> None:
    """Epoch e shows `for_repeat(sample, e - 1)` and is scored on that variant."""
    spec = TASKS["ai_risk"]
    assert spec.for_repeat is not None
    log = run("overthink/ai_risk", lambda messages: "<answer>A</answer>", tmp_path, task_args={"n": 12}, epochs=3)
    base = {s.id: s for s in spec.samples(12, 0)}
    changed = 0
    for sample in log.samples or []:
        variant = spec.for_repeat(base[str(sample.id)], sample.epoch - 1)
        assert shown(sample) == variant
        assert sample.messages[1].text == variant.prompt
        assert (sample.scores or {})["overthink_scorer"].value == spec.score(variant, "<answer>A</answer>").value
        changed += variant.prompt != base[str(sample.id)].prompt
    assert changed > 0  # some reshuffles moved the choices, so the test could have failed


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    inspect_cli = [sys.executable, "-c", "from inspect_ai._cli.main import main; main()"]
    return subprocess.run([*inspect_cli, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_cli_bad_task_arg_is_one_line_and_fails(tmp_path: Path) -> None:
    done = _cli(["eval", "overthink/zebra", "--model", "mockllm/model", "-T", "sizes=[2]"], tmp_path)
    assert done.returncode != 0
    assert "overthink/zebra: grid sizes must be within 3..9, got [2]" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.model
@pytest.mark.slow
def test_cli_entry_point_runs_a_task_from_an_empty_directory(tmp_path: Path) -> None:
    """`inspect eval overthink/<task>` resolves through the entry point and writes a log (tiny model)."""
    pytest.importorskip("llama_cpp")
    done = _cli(["eval", "overthink/misleading_math", "--model", "overthink/tiny", "-T", "n=2", "-T",
                 "distractors=[0]", "--reasoning-tokens", "0", "--max-tokens", "8", "--epochs", "2",
                 "--display", "none"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    from inspect_ai.log import read_eval_log

    [path] = (tmp_path / "logs").glob("*.eval")
    log = read_eval_log(str(path))
    assert log.status == "success" and log.eval.task == "overthink/misleading_math"
    assert log.eval.task_args["n"] == 2 and len(log.samples or []) == 4
