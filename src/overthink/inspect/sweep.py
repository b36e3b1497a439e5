"""A reasoning-budget sweep in Inspect: one `eval_set` per budget, one log directory per budget.

`sweep("overthink/misleading_math", ["0", "64", "natural"], ["overthink/tiny"])` runs the task at
each budget and returns the log paths; `overthink import inspect` turns them into a store. Each
budget gets its own directory because `eval_set` keeps one directory per set of task configurations
and refuses to reuse it for another; a directory per budget also makes a rerun of the same sweep
resume exactly where it stopped (eval_set skips finished logs).

Budgets use overthink's syntax (`Budget.parse`: a token count, 0, `natural`, `effort:high`) and are
mapped per provider onto Inspect's `GenerateConfig`: tokens onto `reasoning_tokens`, efforts onto
`reasoning_effort`; budget 0 becomes `reasoning_effort="none"` on providers whose only off switch
that is (OpenAI). Inspect's providers differ in which of these they honour, and a budget that a
provider silently ignores would make a flat curve look like a finding, so such budgets warn.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task, eval_set, task_with
from inspect_ai._eval.registry import task_create
from inspect_ai.model import GenerateConfig, Model
from pydantic import ValidationError

from overthink.inspect.tasks import PREFIX
from overthink.types import Budget, BudgetKind

__all__ = ["HONOURS_TOKENS", "OFF_IS_EFFORT_NONE", "budget_config", "parse_budgets", "sweep"]

# Inspect providers that map `reasoning_tokens` onto a thinking budget of the model (inspect_ai 0.3.x).
HONOURS_TOKENS = frozenset({"overthink", "anthropic", "google", "bedrock", "grok", "openrouter", "litellm-proxy"})
# Providers whose reasoning models turn thinking off only with reasoning_effort="none".
OFF_IS_EFFORT_NONE = frozenset({"openai", "azureai"})

TaskLike = str | Task | Callable[[], Task]


def parse_budgets(budgets: Sequence[str | int | Budget]) -> list[Budget]:
    """Budgets in overthink's syntax, each once; a bad one is a ValueError naming it."""
    parsed = [b if isinstance(b, Budget) else Budget.parse(str(b)) for b in budgets]
    labels = [b.label for b in parsed]
    if not parsed:
        raise ValueError("no budgets to sweep; give e.g. [0, 256, 1024] or ['natural']")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"budget(s) given twice: {', '.join(repeated)}")
    return parsed


def provider_of(model: str | Model) -> str:
    """The Inspect provider name of a model ("openai" for "openai/o4-mini")."""
    return str(model).split("/", 1)[0]


def budget_config(budget: Budget, model: str | Model) -> GenerateConfig:
    """Inspect's generate settings for one budget on one model's provider (warns when ignored)."""
    provider = provider_of(model)
    if budget.kind is BudgetKind.NATURAL:
        return GenerateConfig()
    if budget.kind is BudgetKind.EFFORT:
        if provider == "overthink":
            raise ValueError(f"{model}: the embedded engine has no effort levels; give token budgets")
        try:
            return GenerateConfig(reasoning_effort=budget.value)  # type: ignore[arg-type]
        except ValidationError:
            raise ValueError(f"budget {budget.label}: Inspect knows no effort level {budget.value!r}") from None
    if budget.kind is BudgetKind.NONE and provider in OFF_IS_EFFORT_NONE:
        return GenerateConfig(reasoning_effort="none")
    if provider not in HONOURS_TOKENS:
        warnings.warn(f"{model}: Inspect's {provider} provider ignores reasoning_tokens, so budget {budget.label} "
                      "will not limit its thinking (use effort:LEVEL budgets, or overthink/<model> for exact "
                      "budgets)", stacklevel=3)
    return GenerateConfig(reasoning_tokens=budget.tokens)


def _fresh(task: TaskLike, task_args: Mapping[str, Any]) -> Task:
    """A new Task for each (budget, model): `task_with` changes the task it is given in place."""
    if isinstance(task, Task):
        return copy.deepcopy(task)
    if isinstance(task, str):
        name = task if "/" in task else f"{PREFIX}{task}"
        return task_create(name, **dict(task_args))
    return task()


def budget_dir(log_dir: str | Path, budget: Budget) -> str:
    """The log directory of one budget: `<log_dir>/budget-<label>` ("effort:high" -> "effort-high")."""
    return str(Path(log_dir) / ("budget-" + re.sub(r"[^A-Za-z0-9_.-]", "-", budget.label)))


def sweep(task: TaskLike, budgets: Sequence[str | int | Budget], models: str | Model | Sequence[str | Model],
          epochs: int = 1, log_dir: str | Path = "logs/overthink-sweep", task_args: Mapping[str, Any] | None = None,
          **eval_set_args: Any) -> list[str]:
    """Run `task` on every model at every budget; return the log paths (budgets in the order given).

    `task` is a registered name ("overthink/zebra", or just "zebra"), a Task (copied per budget) or a
    function returning one; `task_args` are its -T arguments when it is a name. Other keyword
    arguments go to `inspect_ai.eval_set` (limit, max_samples, display, ...). A budget whose set did
    not finish raises RuntimeError after its logs are written; running the same sweep again resumes it.
    """
    parsed = parse_budgets(budgets)
    model_list = [models] if isinstance(models, (str, Model)) else list(models)
    if not model_list:
        raise ValueError("no models to sweep; give e.g. ['overthink/tiny']")
    paths: list[str] = []
    for budget in parsed:
        tasks = []
        for model in model_list:
            fresh = _fresh(task, task_args or {})
            metadata = {**(fresh.metadata or {}), "overthink_budget": budget.label}
            config = fresh.config.merge(budget_config(budget, model))  # the task's own settings stay
            tasks.append(task_with(fresh, config=config, model=model, metadata=metadata))
        directory = budget_dir(log_dir, budget)
        success, logs = eval_set(tasks, log_dir=directory, epochs=epochs, **eval_set_args)
        paths.extend(log.location.removeprefix("file://") for log in logs)  # a rerun reports file:// URIs
        if not success:
            raise RuntimeError(f"budget {budget.label}: the eval set in {directory} did not finish; "
                               "run the same sweep again to resume it")
    return paths
