"""Real Inspect logs built offline: inspect_ai's mockllm model with scripted outputs, written as .eval or .json.

Helpers of the Inspect tests, which skip without inspect_ai before importing this module.

Every output carries its usage: mockllm without usage counts tokens with a tokenizer it downloads, which
fails offline. A scripted output is a function of the prompt and the call's generate config, so one
task can answer differently at each budget (the planted decline of the end-to-end test).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task, eval
from inspect_ai.dataset import Sample as InspectSample
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessageAssistant,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.scorer import match
from inspect_ai.solver import Solver, generate

REPO = Path(__file__).resolve().parents[2]
MODEL = "mockllm/model"

Script = Callable[[str, GenerateConfig], ModelOutput]


def output(answer: str, reasoning: str = "", reasoning_tokens: int | None = None, *, stop: str = "stop",
           redacted_summary: str | None = None) -> ModelOutput:
    """One assistant turn: reasoning block(s) then the answer, with usage (always: see the module doc)."""
    content: list[ContentReasoning | ContentText] = []
    if redacted_summary is not None:
        content.append(ContentReasoning(reasoning="opaque-encrypted-blob", summary=redacted_summary, redacted=True))
    elif reasoning:
        content.append(ContentReasoning(reasoning=reasoning))
    content.append(ContentText(text=answer))
    message = ChatMessageAssistant(content=content, model=MODEL)
    generated = (reasoning_tokens or 0) + 5
    usage = ModelUsage(input_tokens=12, output_tokens=generated, total_tokens=generated + 12,
                       reasoning_tokens=reasoning_tokens)
    return ModelOutput(model=MODEL, choices=[ChatCompletionChoice(message=message, stop_reason=stop)],
                       usage=usage)


def prompt_of(messages: Sequence[Any]) -> str:
    return "\n".join(m.text for m in messages if m.role == "user")


def run_eval(log_dir: Path, samples: list[InspectSample], script: Script, *, name: str = "toy",
             log_format: str = "eval", solver: Solver | list[Solver] | None = None, scorer: Any = None,
             task: Task | None = None, **eval_args: Any) -> Path:
    """Run one eval on mockllm and return the path of the log it wrote."""

    def outputs(messages: Any, tools: Any, tool_choice: Any, config: GenerateConfig) -> ModelOutput:
        return script(prompt_of(messages), config)

    task = task or Task(dataset=samples, solver=solver or generate(), scorer=scorer or match(), name=name)
    logs = eval(task, model=MODEL, model_args={"custom_outputs": outputs}, log_dir=str(log_dir),
                log_format=log_format, display="none", **eval_args)
    assert logs and logs[0].location, "inspect wrote no log"
    return Path(logs[0].location)


def overthink_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The console script in a subprocess, importing this checkout (PYTHONPATH=src)."""
    env = dict(os.environ, COLUMNS="220", PYTHONPATH=os.pathsep.join(
        [str(REPO / "src"), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]))
    return subprocess.run([sys.executable, "-m", "overthink", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)
