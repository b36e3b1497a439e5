"""What can be run, looked up by name: the tasks, and the open registry's backends, strategies, verifiers.

Only the edges (cli/, and inspect/ which is Inspect's entry point) look names up here; they build the
objects a run needs once and hand them down, so the runner never asks the registry mid-run. Backends,
strategies and verifiers are registered through the hooks of overthink/plugins.py, by the built-ins
(overthink/builtin_plugins.py) and by any installed plugin's entry point, read the first time a name is
looked up.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ValidationError

from overthink.builtin_plugins import register_all
from overthink.errors import UserError, first_problem
from overthink.models.base import Backend
from overthink.plugins import (
    BACKENDS,
    STRATEGIES,
    VERIFIERS,
    BackendEntry,
    BackendFactory,
    BuildContext,
    load_entry_points,
)
from overthink.strategies.base import Strategy
from overthink.tasks import ai_risk, grades, misleading_math, misleading_python, paradoxes, refusal, zebra
from overthink.tasks.base import TaskSpec

TASKS: dict[str, TaskSpec] = {
    misleading_math.NAME: misleading_math.TASK,
    zebra.NAME: zebra.TASK,
    misleading_python.NAME: misleading_python.TASK,
    paradoxes.NAME: paradoxes.TASK,
    grades.NAME: grades.TASK,
    ai_risk.NAME: ai_risk.TASK,
    refusal.NAME: refusal.TASK,
}

__all__ = ["BACKENDS", "STRATEGIES", "TASKS", "VERIFIERS", "BackendFactory", "Loaded", "build_strategy",
           "get_backend_entry", "get_backend_factory", "get_backend_options", "get_strategy", "get_task",
           "parse_options"]

register_all()  # the built-ins, through the plugins' own hooks


def _entries() -> None:
    load_entry_points()  # once per process: every installed plugin registers itself


def _unknown(kind: str, name: str, names: Callable[[], list[str]]) -> UserError:
    return UserError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(names()))}")


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; choose one of: {', '.join(sorted(TASKS))}") from None


def get_backend_entry(name: str) -> BackendEntry:
    """A backend's registration (its factory and options model); unknown names list the backends."""
    if name not in BACKENDS:
        _entries()
    try:
        return BACKENDS[name]
    except KeyError:
        raise _unknown("backend", name, lambda: list(BACKENDS)) from None


def get_backend_factory(name: str) -> BackendFactory:
    return get_backend_entry(name).factory


def get_backend_options(name: str) -> type[BaseModel]:
    """The options model of a backend by name, for `overthink models options BACKEND`."""
    return get_backend_entry(name).options_model()


def parse_options(model: type[BaseModel], param: str | None, where: str) -> BaseModel:
    """"a,b" fills the model's fields in order, "k=v,..." by name; a mistake is a UserError naming `where`."""
    values: dict[str, str] = {}
    fields = list(model.model_fields)
    for index, part in enumerate(p.strip() for p in (param.split(",") if param else [])):
        key, sep, value = part.partition("=")
        if sep and key.strip() in fields:
            values[key.strip()] = value.strip()
        elif index < len(fields):
            values[fields[index]] = part
        else:
            raise UserError(f"{where}: takes {len(fields) or 'no'} parameter(s) ({', '.join(fields) or '-'})")
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        field, problem = first_problem(exc)
        raise UserError(f"{where}: {field + ': ' if field else ''}{problem}") from None


class Loaded:
    """A `BuildContext` for tools and tests: backends built on first use with default options."""

    def backend(self, backend: str, model: str) -> Callable[[], Backend]:
        factory = get_backend_factory(backend)
        built: list[Backend] = []

        def load() -> Backend:
            if not built:
                built.append(factory(model))
            return built[0]

        return load


def build_strategy(name: str, ctx: BuildContext) -> Strategy:
    """The strategy named "name[@param]", its judge's backends resolved through `ctx`."""
    base, _, param = name.partition("@")
    if base not in STRATEGIES:
        _entries()
    try:
        entry = STRATEGIES[base]
    except KeyError:
        raise _unknown("strategy", name, lambda: list(STRATEGIES)) from None
    return entry.factory(parse_options(entry.options_model, param or None, f"strategy {name!r}"), ctx)


def get_strategy(name: str) -> Strategy:
    """A strategy by name, outside a run (judge models built on first use, with default options)."""
    _entries()  # a verifier named by "best-of-n@4,NAME" may come from a plugin
    return build_strategy(name, Loaded())


def verifier_names() -> list[str]:
    _entries()
    return sorted(VERIFIERS)
