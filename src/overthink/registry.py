"""Plain dictionaries of what can be run, filled by explicit imports (no registry magic).

Adding a task or backend means adding one import and one line here, which keeps what exists in one
readable place.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from overthink.errors import UserError
from overthink.models.base import Backend
from overthink.models.capabilities import StepScorer
from overthink.strategies.base import CotStrategy, Strategy
from overthink.tasks import ai_risk, grades, misleading_math, misleading_python, paradoxes, refusal, zebra
from overthink.tasks.base import TaskSpec
from overthink.tasks.catalog import families

TASKS: dict[str, TaskSpec] = {
    misleading_math.NAME: misleading_math.TASK,
    zebra.NAME: zebra.TASK,
    misleading_python.NAME: misleading_python.TASK,
    paradoxes.NAME: paradoxes.TASK,
    grades.NAME: grades.TASK,
    ai_risk.NAME: ai_risk.TASK,
    refusal.NAME: refusal.TASK,
}
TASKS.update({name: item.task for name, item in families().items() if name not in TASKS})  # plugin families

# name -> factory(model, options) building a backend; options are the backend's own validated settings.
BackendFactory = Callable[..., Backend]


def _llamacpp(model: str, **options: object) -> Backend:
    from overthink.models.llamacpp.backend import LlamaCppBackend

    return LlamaCppBackend.from_model_name(model, **options)


def _openai_compat(model: str, **options: object) -> Backend:
    from overthink.models.remote.openai_compat import OpenAICompatBackend

    return OpenAICompatBackend.from_options(model, **options)


def _anthropic(model: str, **options: object) -> Backend:
    from overthink.models.hosted.anthropic import AnthropicBackend

    return AnthropicBackend.from_options(model, **options)


def _openai(model: str, **options: object) -> Backend:
    from overthink.models.hosted.openai import OpenAIBackend

    return OpenAIBackend.from_options(model, **options)


def _scripted(model: str, **options: object) -> Backend:
    from overthink.models.scripted import ScriptedBackend

    return ScriptedBackend.from_options(model, **options)


BACKENDS: dict[str, BackendFactory] = {
    "llamacpp": _llamacpp,
    "scripted": _scripted,  # deterministic test/dry-run backend; its model id is always "scripted"
    "openai-compat": _openai_compat,
    "anthropic": _anthropic,
    "openai": _openai,
}


def _options_model(backend: str) -> type[BaseModel]:
    """The pydantic model of a backend's options (imported only when asked: SDK backends are extras)."""
    if backend == "llamacpp":
        from overthink.models.llamacpp.backend import LlamaCppOptions

        return LlamaCppOptions
    if backend == "openai-compat":
        from overthink.models.remote.openai_compat import OpenAICompatOptions

        return OpenAICompatOptions
    if backend == "anthropic":
        from overthink.models.hosted.anthropic import AnthropicOptions

        return AnthropicOptions
    if backend == "openai":
        from overthink.models.hosted.openai import OpenAIOptions

        return OpenAIOptions
    from overthink.models.scripted import ScriptedOptions

    return ScriptedOptions


def get_backend_options(name: str) -> type[BaseModel]:
    """The options model of a backend by name, for `overthink models options BACKEND`."""
    get_backend_factory(name)  # an unknown name is a UserError listing the backends
    return _options_model(name)


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; choose one of: {', '.join(sorted(TASKS))}") from None


def get_backend_factory(name: str) -> BackendFactory:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UserError(f"unknown backend {name!r}; choose one of: {', '.join(sorted(BACKENDS))}") from None


# Strategy names may carry a parameter after "@" (e.g. "vote@5"); the factory receives it (or None).
StrategyFactory = Callable[[str | None], Strategy]


def _cot(param: str | None) -> Strategy:
    if param is not None:
        raise UserError("strategy 'cot' takes no parameter")
    return CotStrategy()


def _vote(param: str | None) -> Strategy:
    from overthink.strategies.vote import VoteStrategy, parse_k

    return VoteStrategy(parse_k(param, "vote"))


def _embedded_judge(name: str | None) -> StepScorer:
    """The step judge of best-of-n when the generating backend cannot score steps: an embedded model."""
    from overthink.models.llamacpp.backend import LlamaCppBackend
    from overthink.models.llamacpp.gguf import DEFAULT_MODEL

    return LlamaCppBackend.from_model_name(name or DEFAULT_MODEL)


def _best_of_n(param: str | None) -> Strategy:
    from overthink.strategies.best_of_n import BestOfNStrategy

    return BestOfNStrategy.from_param(param, load_judge=_embedded_judge)


def _scheduler(param: str | None) -> Strategy:
    from overthink.strategies.scheduler import SchedulerStrategy

    return SchedulerStrategy.from_param(param)


STRATEGIES: dict[str, StrategyFactory] = {
    "cot": _cot,
    "vote": _vote,  # vote@k: majority of k samples per budget
    "best-of-n": _best_of_n,  # best-of-n@n: n samples reranked by a step judge
    "scheduler": _scheduler,  # scheduler@m,s: probe every m tokens, stop when s probes agree
}


def get_strategy(name: str) -> Strategy:
    base, _, param = name.partition("@")
    try:
        factory = STRATEGIES[base]
    except KeyError:
        raise UserError(f"unknown strategy {name!r}; choose one of: {', '.join(sorted(STRATEGIES))}") from None
    return factory(param or None)
