"""The whole bridge in one loop: `overthink.inspect.sweep` runs an overthink task in Inspect at three
budgets (mockllm answering with a planted decline), `overthink import inspect` reads the logs back,
and overthink's own analysis calls the curve inverse and the gate fails it.

The answers are re-scored by overthink's scorer on import, so the planted rates only come back if the
task, its samples (`overthink_sample`), the budgets and the scorer survive the trip.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

pytest.importorskip("inspect_ai")

from inspect_ai.model import ChatMessage, ChatMessageUser, GenerateConfig, ModelOutput, ModelUsage, get_model
from mock_logs import overthink_cli

from overthink.inspect.sweep import sweep
from overthink.registry import TASKS

N_ITEMS = 30
CORRECT = {0: 27, 256: 21, 1024: 15}  # items answered right, of 30: 90% -> 70% -> 50% as thinking grows


def _planted_model(targets: dict[str, str]) -> object:
    """mockllm answering the first CORRECT[budget] items (in a fixed order) right and the rest wrong."""
    order = {prompt: rank for rank, prompt in enumerate(sorted(targets))}

    def reply(messages: list[ChatMessage], tools: object, choice: object, config: GenerateConfig) -> ModelOutput:
        prompt = next(str(m.text) for m in messages if isinstance(m, ChatMessageUser))
        budget = config.reasoning_tokens or 0
        right = order[prompt] < CORRECT[budget]
        answer = targets[prompt] if right else str(int(float(targets[prompt])) + 1000)
        result = ModelOutput.from_content(model="mockllm", content=f"<answer>{answer}</answer>")
        result.usage = ModelUsage(input_tokens=40, output_tokens=budget + 6, total_tokens=budget + 46,
                                  reasoning_tokens=budget)
        return result

    return get_model("mockllm/model", custom_outputs=reply)


@pytest.mark.slow
def test_an_inspect_sweep_with_a_planted_decline_comes_back_inverse_and_fails_the_gate(tmp_path: Path) -> None:
    samples = TASKS["misleading_math"].samples(N_ITEMS, 0)
    targets = {s.prompt: s.target for s in samples}
    assert len(targets) == N_ITEMS  # prompts tell the items apart, so the planted script can
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # mockllm ignores reasoning_tokens: sweep says so
        paths = sweep("overthink/misleading_math", list(CORRECT), [_planted_model(targets)],
                      log_dir=tmp_path / "logs", task_args={"n": N_ITEMS, "seed": 0}, display="none")
    assert len(paths) == 3
    store = tmp_path / "s.db"
    imported = overthink_cli("import", "inspect", str(tmp_path / "logs"), "--store", str(store), "--json")
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(imported.stdout)
    assert summary["records"] == {"ok": 3 * N_ITEMS, "error": 0} and summary["rescored"] == 3 * N_ITEMS
    assert summary["budgets"] == ["0", "256", "1024"]

    analyzed = overthink_cli("analyze", "--store", str(store), "--boot", "400", "--json")
    assert analyzed.returncode == 0, analyzed.stderr
    (curve,) = [c for c in json.loads(analyzed.stdout)["curves"] if c["main"]]
    assert (curve["task"], curve["mechanism"]) == ("misleading_math", "native")
    assert [round(p["value"], 2) for p in curve["points"]] == [0.9, 0.7, 0.5]  # overthink's scorer agrees
    assert curve["verdict"]["verdict"] == "inverse"

    gate = overthink_cli("gate", "--store", str(store), "--boot", "400")
    assert gate.returncode == 1, gate.stdout + gate.stderr
