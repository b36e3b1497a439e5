"""The refusal judge's runner side: build its backend from the config, read its agreement from a store.

scoring/judge.py holds the rubric and the `Judge`; it must not import the registry, so the backend is
built here, once per run, through the same registry factories as the run's own models, during `prepare`
(a bad judge is a UserError before any store exists). A judge that names exactly a model of the run is
that model's backend, not a second copy of it: one embedded model loaded once, one server connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from overthink.config import ExperimentConfig, JudgeConfig, ModelConfig
from overthink.errors import UserError
from overthink.models.base import Backend
from overthink.registry import get_backend_factory
from overthink.scoring.judge import Agreement, Judge, agreement
from overthink.store import Store


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


def build_judge(config: ExperimentConfig, backends: list[Backend]) -> Judge | None:
    """The run's judge (None without one); `backends` are the run's built models, in config order."""
    model = judge_model_config(config)
    if model is None:
        return None
    for run_model, backend in zip(config.models, backends, strict=True):
        if run_model.model_dump(exclude={"concurrency"}) == model.model_dump(exclude={"concurrency"}):
            return Judge(backend, concurrency=model.concurrency)
    options = dict(model.options)
    if model.base_urls:
        options["base_urls"] = model.base_urls
    try:
        backend = get_backend_factory(model.backend)(model.name, **options)
    except UserError as exc:
        raise UserError(f"judge '{model.backend}:{model.name}': {exc}") from None
    return Judge(backend, concurrency=model.concurrency)


def store_agreement(store: Store | Path, tasks: Iterable[str] | None = None) -> list[Agreement]:
    """Rules vs judge over a store's ok records that hold a judge verdict (an empty list when none do).

    `tasks` narrows the search to those tasks (the refusal ones: no other kind is ever judged); a store
    holding none of them is answered from its index, without scanning every record's details. An open
    `Store` is read as it is (a command opens its store once); a path is opened for this one read.
    """
    if not isinstance(store, Store):
        with Store(store, create=False) as opened:
            return store_agreement(opened, tasks)
    names = None if tasks is None else sorted(store.tasks_present().intersection(tasks))
    if names is not None and not names:
        return []
    return agreement(store.judged_details(names))
