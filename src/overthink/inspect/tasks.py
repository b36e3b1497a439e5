"""overthink's task families as Inspect tasks: `inspect eval overthink/<task> -T n=20 -T seed=1`.

Each family in `overthink.registry.TASKS` becomes one registered Inspect task whose `-T` arguments
are `n`, `seed` and the family's own generator parameters (read from its `generate` signature), so
an Inspect run asks the same questions, with the same answer keys, as `overthink run` would.

What crosses into Inspect, and why:
- the prompt carries overthink's wording for native budgets (the sample's system text, then "write
  the final answer inside <answer> tags"): in Inspect the budget is always the provider's own control
  (`reasoning_tokens`), and with this wording an Inspect log is scored exactly as an overthink record;
- `metadata["overthink_sample"]` is the whole overthink Sample as shown (JSON), so a log importer can
  re-score every completion with overthink's scorer without regenerating the task;
- per-repeat variants (`TaskSpec.for_repeat`, e.g. a fresh choice order) follow Inspect's epoch
  (epoch 1 = repeat 0), applied by a solver before generation and re-derived by the scorer.
"""

from __future__ import annotations

import inspect as pyinspect
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, cast

from inspect_ai import Task, task
from inspect_ai._util.error import PrerequisiteError
from inspect_ai.dataset import MemoryDataset
from inspect_ai.dataset import Sample as InspectSample
from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser
from inspect_ai.scorer import (
    Metric,
    SampleScore,
    Score,
    Scorer,
    Target,
    Value,
    accuracy,
    mean,
    metric,
    scorer,
    stderr,
    value_to_float,
)
from inspect_ai.solver import Choices, Generate, Solver, TaskState, generate, solver

from overthink.errors import UserError
from overthink.prompts.render import NO_THINKING_INSTRUCTION, user_prompt
from overthink.registry import TASKS
from overthink.tasks.base import TaskSpec
from overthink.tasks.metric import REFUSAL
from overthink.types import Sample

__all__ = [
    "REPEAT_KEY",
    "SAMPLE_KEY",
    "TaskArgumentError",
    "inspect_sample",
    "messages_for",
    "metrics_for",
    "overthink_scorer",
    "overthink_task",
    "overthink_variant",
    "refusal_by_label",
    "registered_task_names",
    "task_params",
]

PREFIX = "overthink/"  # Inspect's registry namespace of overthink (the entry point's name)
SAMPLE_KEY = "overthink_sample"  # metadata: the overthink Sample as shown (JSON), read by the log importer
REPEAT_KEY = "overthink_repeat"  # metadata: the repeat whose variant the solver put in the prompt
_FIXED = ("n", "seed")  # -T arguments every task takes before its generator's own


class TaskArgumentError(PrerequisiteError):
    """A bad `-T` argument: Inspect's command line prints it as one line, without a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.message)


def messages_for(sample: Sample) -> list[ChatMessage]:
    """System (the sample's own text + the answer format) and user messages, as overthink sends them
    to a model whose budget is a native control (models/hosted/base.py `messages_for`)."""
    system = "\n\n".join([*([sample.system] if sample.system else []), NO_THINKING_INSTRUCTION])
    return [ChatMessageSystem(content=system), ChatMessageUser(content=user_prompt(sample))]


def inspect_sample(sample: Sample) -> InspectSample:
    """One overthink Sample as an Inspect Sample: same id, target, choices, metadata + the sample itself."""
    metadata = {**dict(sample.metadata), SAMPLE_KEY: sample.to_json()}
    choices = list(sample.choices) if sample.choices is not None else None
    return InspectSample(input=messages_for(sample), target=sample.target, id=sample.id, choices=choices,
                         metadata=metadata)


REFUSAL_RATES = REFUSAL.per_label  # (item label, the metric it gives), as the task declares them


@metric(name="overthink/refusal_by_label")
def refusal_by_label() -> Metric:
    """Refusal rate on harmful prompts and over-refusal rate on benign ones, each with its standard
    error, and never one number over both (a refusal of a harmful prompt is good, of a benign one bad;
    their pool depends only on the mix of prompts). A label with no samples gives no entry."""

    def compute(scores: list[SampleScore]) -> Value:
        to_float = value_to_float()
        out: dict[str, float] = {}
        for label, name in REFUSAL_RATES:
            values = [to_float(s.score.value) for s in scores if (s.sample_metadata or {}).get("label") == label]
            if not values:
                continue
            rate = sum(values) / len(values)
            out[name] = rate
            if len(values) > 1:
                spread = sum((v - rate) ** 2 for v in values) / (len(values) - 1)
                out[f"{name}_stderr"] = math.sqrt(spread / len(values))
        return cast(Value, out)

    return compute


def metrics_for(spec: TaskSpec) -> list[Metric]:
    """Rates (accuracy, matching behaviour) as accuracy; errors (abs_error) as their mean; refusal as
    two rates by label (`refusal_by_label`), never pooled."""
    if spec.metric.rmse:
        return [mean(), stderr()]
    if spec.metric.per_label:
        return [refusal_by_label()]
    return [accuracy(), stderr()]


def _spec(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise TaskArgumentError(f"unknown overthink task {name!r}; choose one of: {', '.join(sorted(TASKS))}") from None


def shown_sample(spec: TaskSpec, state: TaskState) -> Sample:
    """The item as shown at this epoch: the solver's variant, or derived here when it did not run."""
    sample = Sample.from_dict(_json(state.metadata[SAMPLE_KEY]))
    repeat = state.epoch - 1
    if spec.for_repeat is not None and state.metadata.get(REPEAT_KEY) != repeat:
        sample = spec.for_repeat(sample, repeat)
    return sample


def _json(text: Any) -> dict[str, Any]:
    data = json.loads(str(text))
    assert isinstance(data, dict)
    return data


@solver
def overthink_variant(task: str) -> Solver:
    """Swap prompt and choices for this epoch's variant of the item (a no-op for tasks without one)."""
    spec = _spec(task)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if spec.for_repeat is None or state.metadata.get(REPEAT_KEY) == state.epoch - 1:
            return state
        variant = shown_sample(spec, state)
        state.messages = messages_for(variant)
        state.choices = Choices(list(variant.choices or ()))
        state.metadata[SAMPLE_KEY] = variant.to_json()
        state.metadata[REPEAT_KEY] = state.epoch - 1
        return state

    return solve


@scorer(metrics=[accuracy(), stderr()])
def overthink_scorer(task: str) -> Scorer:
    """overthink's own scorer of the task on the answer text (reasoning excluded, as overthink scores).

    The metrics given here suit rates; `overthink_task` sets the task's metrics by its metric type.
    """
    spec = _spec(task)

    async def score(state: TaskState, target: Target) -> Score:
        sample = shown_sample(spec, state)
        result = spec.score(sample, state.output.completion)
        return Score(value=result.value, answer=result.extracted,
                     metadata={"correct": result.correct, "target": sample.target, "details": dict(result.details)})

    return score


def task_params(spec: TaskSpec) -> list[pyinspect.Parameter]:
    """The generator's own keyword parameters (beyond n and seed), with their defaults and types."""
    params = pyinspect.signature(spec.generate).parameters.values()
    own = [p for p in params if p.name not in _FIXED and p.kind is not pyinspect.Parameter.VAR_KEYWORD]
    return [p.replace(kind=pyinspect.Parameter.KEYWORD_ONLY) for p in own]


def overthink_task(name: str, n: int | None = None, seed: int = 0, params: Mapping[str, Any] | None = None) -> Task:
    """The Inspect Task of one overthink family (n defaults to the family's default_n)."""
    spec = _spec(name)
    try:
        samples = spec.samples(spec.default_n if n is None else int(n), int(seed), dict(params or {}))
    except (UserError, TypeError, ValueError) as exc:
        message = str(exc).removeprefix(f"{name}: ")  # overthink's task errors name the task already
        raise TaskArgumentError(f"{PREFIX}{name}: {message}") from None
    return Task(
        dataset=MemoryDataset([inspect_sample(s) for s in samples], name=spec.name),
        solver=[overthink_variant(spec.name), generate()],
        scorer=overthink_scorer(spec.name),
        metrics=list(metrics_for(spec)),
        version=spec.version,
        metadata={"overthink_task": spec.name, "overthink_traits": spec.traits().to_json()},
    )


def _factory(spec: TaskSpec) -> Callable[..., Task]:
    """A function named after the task whose signature lists its -T arguments (what `@task` reads)."""

    def factory(n: int = spec.default_n, seed: int = 0, **params: Any) -> Task:
        return overthink_task(spec.name, n=n, seed=seed, params=params)

    fixed = [pyinspect.Parameter("n", pyinspect.Parameter.KEYWORD_ONLY, default=spec.default_n, annotation=int),
             pyinspect.Parameter("seed", pyinspect.Parameter.KEYWORD_ONLY, default=0, annotation=int)]
    # **params stays in the signature so that an unknown -T reaches the generator, which names it in an
    # error; without it Inspect would only log a warning and run with the argument silently dropped
    rest = pyinspect.Parameter("params", pyinspect.Parameter.VAR_KEYWORD)
    factory.__signature__ = pyinspect.Signature([*fixed, *task_params(spec), rest],  # type: ignore[attr-defined]
                                                return_annotation=Task)
    factory.__name__ = factory.__qualname__ = spec.name
    factory.__doc__ = f"{spec.description}\n\nTask arguments: n, seed, " + \
        ", ".join(p.name for p in task_params(spec))
    return factory


def _register() -> dict[str, Callable[..., Task]]:
    """Every task as `overthink/<task>`, however overthink was put on the path.

    Inspect prefixes a name with its package only when it finds the package installed (site-packages,
    or an editable install it can see); run from a source tree on PYTHONPATH (a checkout with a stale
    egg-info, a test) it would register the bare name, and `inspect eval overthink/zebra` would find
    nothing. So the prefix is added here whenever Inspect would not add it.
    """
    from inspect_ai._util.registry import registry_name

    out: dict[str, Callable[..., Task]] = {}
    for name, spec in TASKS.items():
        factory = _factory(spec)
        prefixed = registry_name(factory, name) != name
        out[name] = task(name=name if prefixed else f"{PREFIX}{name}")(factory)
    return out


REGISTERED = _register()


def registered_task_names() -> list[str]:
    """The Inspect registry names of overthink's tasks ("overthink/<task>")."""
    from inspect_ai._util.registry import registry_info

    return [registry_info(fn).name for fn in REGISTERED.values()]
