"""What can be run, looked up by name: the tasks, and the open registry's backends, strategies, verifiers.

Only the edges (cli/, and inspect/ which is Inspect's entry point) look names up here; they build the
objects a run needs once and hand them down, so the runner never asks the registry mid-run. Backends,
strategies and verifiers are registered through the hooks of overthink/plugins.py, by the built-ins
(overthink/builtin_plugins.py) and by any installed plugin's entry point, read the first time a name is
looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from overthink.builtin_plugins import register_all
from overthink.config import ExperimentConfig, JudgeConfig, ModelConfig
from overthink.errors import UserError, first_problem
from overthink.models.base import Backend
from overthink.plugins import (
    BACKENDS,
    STRATEGIES,
    VERIFIERS,
    BackendEntry,
    BackendFactory,
    BuildContext,
    VerifierEntry,
    load_entry_points,
)
from overthink.runner.components import Closable, Components
from overthink.strategies.base import CotStrategy, Strategy
from overthink.strategies.probes import ProbedCotStrategy
from overthink.strategies.verifiers import Verifier
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

__all__ = ["BACKENDS", "STRATEGIES", "TASKS", "VERIFIERS", "BackendFactory", "Loaded", "build_strategy",
           "build_verifier", "get_backend_entry", "get_backend_factory", "get_backend_options", "get_strategy",
           "get_task", "get_verifier_entry", "parse_options", "resolve_run"]

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


def build_verifier(name: str, options: dict[str, Any], ctx: BuildContext) -> Verifier | None:
    """The registered verifier `name` built with `options` (a typo or a missing value is a UserError naming
    the key and where to set it); None when no verifier has that name."""
    entry = get_verifier_entry(name)
    if entry is None:
        return None
    try:
        chosen = entry.options_model.model_validate(options)
    except ValidationError as exc:
        field, problem = first_problem(exc)
        raise UserError(f"verifier {name!r}: {field + ': ' if field else ''}{problem} (set it under `verifiers: "
                        f"{name}:` of the config or with --verifier-option {name}.{field or 'KEY'}=VALUE; "
                        f"overthink verifiers {name} lists its options)") from None
    return entry.factory(chosen, ctx)


class Loaded:
    """A `BuildContext` for tools and tests: backends built on first use (default options unless given),
    verifiers with the options given here."""

    def __init__(self, verifiers: dict[str, dict[str, Any]] | None = None) -> None:
        self.verifiers = dict(verifiers or {})

    def backend(self, backend: str, model: str, options: dict[str, Any] | None = None) -> Callable[[], Backend]:
        factory = get_backend_factory(backend)
        built: list[Backend] = []

        def load() -> Backend:
            if not built:
                built.append(factory(model, **(options or {})))
            return built[0]

        return load

    def verifier(self, name: str) -> Verifier | None:
        return build_verifier(name, self.verifiers.get(name, {}), self)


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


def get_verifier_entry(name: str) -> VerifierEntry | None:
    """A verifier's registration (its factory and options model), None for an unknown name."""
    if name not in VERIFIERS:
        _entries()
    return VERIFIERS.get(name)


def judge_model_config(config: ExperimentConfig) -> ModelConfig | None:
    """The judge as a model config, with the options and servers of the run's first model of the same
    backend when it has none of its own (documented on `JudgeConfig`)."""
    judge: JudgeConfig | None = config.judge
    if judge is None:
        return None
    options, base_urls = dict(judge.options), list(judge.base_urls)
    if not options and not base_urls:
        same = next((m for m in config.models if m.backend == judge.backend), None)
        if same is not None:
            options, base_urls = dict(same.options), list(same.base_urls)
    return ModelConfig(backend=judge.backend, name=judge.name, options=options, base_urls=base_urls,
                       concurrency=judge.concurrency)


EMBEDDED = "llamacpp"


def _build(model: ModelConfig) -> Backend:
    options = dict(model.options)
    if model.base_urls:
        options["base_urls"] = model.base_urls
    return get_backend_entry(model.backend).factory(model.name, **options)


class RunBuilder:
    """Builds the run's backends from its config; the `BuildContext` its strategy's judges are built in."""

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        self.models = list(config.models)
        self.backends: list[Backend] = []  # built by `build_models`, after the strategy's names were checked
        self.built: list[Closable] = []  # judge models built on demand and served verifiers, closed with the run
        self.verifiers: dict[str, Verifier | None] = {}  # by name, built once however many strategies name it

    def build_models(self) -> list[Backend]:
        self.backends = [_build(model) for model in self.models]
        return self.backends

    def _same(self, wanted: ModelConfig) -> Backend | None:
        for model, backend in zip(self.models, self.backends, strict=True):
            if model.model_dump(exclude={"concurrency"}) == wanted.model_dump(exclude={"concurrency"}):
                return backend
        return None

    def backend(self, backend: str, model: str, options: dict[str, Any] | None = None) -> Callable[[], Backend]:
        """A judge model by backend and name: a run model's own backend, else built on first use (with
        `options` when given, else those of the run's model of the same backend, as for `--judge`)."""
        get_backend_entry(backend)  # an unknown backend is refused now, before anything runs
        if options is not None:
            own = dict(options)
            urls = own.pop("base_urls", [])
            wanted = ModelConfig(backend=backend, name=model, options=own,
                                 base_urls=[urls] if isinstance(urls, str) else list(urls))
        else:
            same = next((m for m in self.models if m.backend == backend), None)
            borrow = same is not None and backend != EMBEDDED
            wanted = ModelConfig(backend=backend, name=model, options=dict(same.options) if borrow and same else {},
                                 base_urls=list(same.base_urls) if borrow and same else [])
        box: list[Backend] = []

        def load() -> Backend:
            if not box:
                reused = self._same(wanted)
                box.append(reused if reused is not None else _build(wanted))
                if reused is None:
                    self.built.append(box[0])
            return box[0]

        return load

    def verifier(self, name: str) -> Verifier | None:
        """The verifier `name` with the options of `verifiers:` (built once per run; closed with it)."""
        if name not in self.verifiers:
            built = build_verifier(name, self.config.verifiers.get(name, {}), self)
            self.verifiers[name] = built
            if isinstance(built, Closable):
                self.built.append(built)
        return self.verifiers[name]

    def check_verifiers(self) -> None:
        """Every configured verifier exists and a strategy uses it: options no strategy reads are a mistake."""
        for name in self.config.verifiers:
            if name not in self.verifiers and get_verifier_entry(name) is None:
                raise _unknown("verifier", name, lambda: list(VERIFIERS))
            if self.verifiers.get(name) is None:
                raise UserError(f"verifiers: {name!r} is configured but no strategy uses it; name it as best-of-n's "
                                f"judge, e.g. --strategy best-of-n@4,{name}")

    def refusal_judge(self) -> Backend | None:
        """The refusal judge's backend, None without one."""
        model = judge_model_config(self.config)
        if model is None:
            return None
        reused = self._same(model)
        if reused is not None:
            return reused
        try:
            return _build(model)
        except UserError as exc:
            raise UserError(f"judge '{model.backend}:{model.name}': {exc}") from None


def refuse_probes_without_cot(strategies: list[Strategy], every: int | None) -> None:
    """Probes fork cot's trace, so a run with --probe-every and no cot strategy is refused with one line."""
    if every is not None and not any(isinstance(s, CotStrategy) for s in strategies):
        names = ", ".join(s.name for s in strategies)
        raise UserError(f"--probe-every probes the cot strategy's trace; this run has {names} (add --strategy cot)")


def probed(strategies: list[Strategy], every: int | None) -> list[Strategy]:
    """The run's strategies with `cot` probed every `every` thinking tokens (`--probe-every`)."""
    refuse_probes_without_cot(strategies, every)
    if every is None:
        return strategies
    return [ProbedCotStrategy(every) if isinstance(s, CotStrategy) else s for s in strategies]


def resolve_run(config: ExperimentConfig) -> Components:
    """Every name of the config looked up and built: tasks, backends, the strategies, the judges.

    Every check comes before anything is built; cot is wrapped in its probes last, once the backends
    exist (so following the config through the run never comes back here)."""
    tasks = [get_task(task.name) for task in config.tasks]
    builder = RunBuilder(config)
    strategies = [build_strategy(name, builder) for name in config.strategies]
    refuse_probes_without_cot(strategies, config.probe_every)
    builder.check_verifiers()
    return Components(tasks=tasks, backends=builder.build_models(), judge_backend=builder.refusal_judge(),
                      extra=lambda: builder.built, strategies=probed(strategies, config.probe_every))
