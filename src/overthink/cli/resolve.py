"""The edge of a run: every name of the config resolved through the registry once, then one event loop.

`overthink run` and `resume` (and the scripts, benchmarks and tests that run a config the same way)
come through `run_experiment`: `resolve` looks the tasks, the strategy, each model's backend and the
judges up in the registry and builds them, and `asyncio.run` runs the whole experiment
(runner/experiment.py `run_sweeps`) in one loop. Below this point nothing looks a name up, so a plugin's
backend or strategy is resolved exactly like a built-in one, and a bad name is a UserError before any
model is loaded or any store exists.

Judges reuse what the run already has: a judge naming exactly a model of the run is that model's
backend (one embedded model loaded once, one server connection), and a judge on the backend of a run
model takes that model's options and servers when it has none of its own (the rule documented on
`JudgeConfig`; an embedded llama.cpp judge is another model file and takes none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from overthink.config import ExperimentConfig, ModelConfig
from overthink.errors import UserError
from overthink.models.base import Backend
from overthink.registry import build_strategy, get_backend_factory, get_task
from overthink.runner.experiment import Components, ProgressFactory, run_sweeps
from overthink.runner.judging import judge_model_config
from overthink.runner.report import RunReport, SweepReport

__all__ = ["RunBuilder", "resolve", "run_experiment"]

EMBEDDED = "llamacpp"


def _build(model: ModelConfig) -> Backend:
    options = dict(model.options)
    if model.base_urls:
        options["base_urls"] = model.base_urls
    return get_backend_factory(model.backend)(model.name, **options)


class RunBuilder:
    """Builds the run's backends from its config; the `BuildContext` its strategy's judges are built in."""

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        self.models = list(config.models)
        self.backends: list[Backend] = []  # built by `build_models`, after the strategy's names were checked
        self.built: list[Backend] = []  # judge models built on demand, closed with the run

    def build_models(self) -> list[Backend]:
        self.backends = [_build(model) for model in self.models]
        return self.backends

    def _same(self, wanted: ModelConfig) -> Backend | None:
        for model, backend in zip(self.models, self.backends, strict=True):
            if model.model_dump(exclude={"concurrency"}) == wanted.model_dump(exclude={"concurrency"}):
                return backend
        return None

    def backend(self, backend: str, model: str) -> Callable[[], Backend]:
        """A judge model by backend and name: a run model's own backend, else built on first use."""
        get_backend_factory(backend)  # an unknown backend is refused now, before anything runs
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

    def refusal_judge(self) -> Backend | None:
        """The refusal judge's backend (runner/judging.py gives its model config), None without one."""
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


def resolve(config: ExperimentConfig) -> Components:
    """Every name of the config looked up and built: tasks, backends, the strategy, the judges."""
    tasks = [get_task(task.name) for task in config.tasks]
    builder = RunBuilder(config)
    strategy = build_strategy(config.strategy, builder)
    return Components(tasks=tasks, strategy=strategy, backends=builder.build_models(),
                      judge_backend=builder.refusal_judge(), extra=lambda: builder.built)


def run_experiment(
    config: ExperimentConfig,
    *,
    progress: ProgressFactory | None = None,
    on_sweep: Callable[[SweepReport], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunReport:
    """Run the config (resolved here) in one event loop: the only sync wrapper of a run."""
    built = resolve(config)
    return asyncio.run(run_sweeps(config, built, progress=progress, on_sweep=on_sweep, warn=warn))
