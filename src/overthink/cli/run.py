"""`overthink run`, `resume` and `models list`: the sweep commands.

Everything a user can get wrong (names, budgets, paths) is validated before the store is opened, so
a bad command writes nothing. The sweep itself is resumable: running the same command again skips the
records already stored.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from overthink.cli.common import stderr_console, stdout_console
from overthink.cli.progress import SweepProgress
from overthink.config import ExperimentConfig, TaskConfig, load_config, validate_config
from overthink.errors import UserError
from overthink.mitigations.shots import make_shots_for, strategy_label
from overthink.models.base import Backend
from overthink.models.budget import parse_budgets
from overthink.registry import get_backend_factory, get_strategy, get_task
from overthink.runner.execute import Executor, RunStats
from overthink.runner.limits import CostTracker
from overthink.runner.plan import pending, plan_groups, sweep_budgets
from overthink.runner.store import Store
from overthink.runner.summary import summarize
from overthink.tasks.base import TaskSpec
from overthink.types import Budget, BudgetKind, Mechanism, Sample

MODES = {"forced": Mechanism.FORCED, "prompt": Mechanism.PROMPT, "native": Mechanism.NATIVE,
         "natural": Mechanism.FORCED}


def _apply_overrides(config: ExperimentConfig, overrides: dict[str, Any]) -> ExperimentConfig:
    data = config.model_dump()
    task_keys = {"task": "name", "n": "n", "task_seed": "seed"}
    model_keys = {"model": "name", "backend": "backend", "concurrency": "concurrency", "base_urls": "base_urls"}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in task_keys:
            for task in data["tasks"]:
                task[task_keys[key]] = value
        elif key in model_keys:
            for model in data["models"]:
                model[model_keys[key]] = value
        else:
            data[key] = value
    return validate_config(data, source="command line")


def _budgets(config: ExperimentConfig) -> list[Budget]:
    mechanism = MODES[config.mode]
    if config.mode == "natural":
        return [Budget(BudgetKind.NATURAL, None, mechanism)]
    try:
        return parse_budgets(config.budgets, mechanism)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _samples(task: TaskSpec, config: TaskConfig) -> list[Sample]:
    if config.samples is not None:
        return load_samples(Path(config.samples), task.name)
    return task.samples(config.n, config.seed, config.params)  # parameters checked, TaskError is a UserError


def load_samples(path: Path, task: str | None) -> list[Sample]:
    """Samples from a JSONL file (one `Sample.to_json()` per line); errors name the file and line."""
    if not path.is_file():
        raise UserError(f"samples file {path} not found")
    samples: list[Sample] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                sample = Sample.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise UserError(f"{path}:{number}: not a sample ({type(exc).__name__}: {exc})") from None
            if task is not None and sample.task != task:
                raise UserError(f"{path}:{number}: sample of task {sample.task!r}, expected {task!r}")
            samples.append(sample)
    if not samples:
        raise UserError(f"samples file {path} holds no samples")
    return samples


def _build_backend(config: ExperimentConfig, index: int, budgets: list[Budget]) -> Backend:
    model = config.models[index]
    factory = get_backend_factory(model.backend)
    options = dict(model.options)
    if model.base_urls:
        options["base_urls"] = model.base_urls
    backend = factory(model.name, **options)
    refused = backend.first_unsupported(budgets)
    if refused is not None:
        budget, reason = refused
        raise UserError(f"budget {budget.label} ({budget.mechanism.value}): {reason}")
    return backend


async def _sweep(executor: Executor, groups: list[Any]) -> RunStats:
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, executor.stop)
        loop.add_signal_handler(signal.SIGTERM, executor.stop)
    except (NotImplementedError, RuntimeError):  # not the main thread (tests) or no signals
        pass
    try:
        return await executor.run(groups)
    finally:
        try:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
        except (NotImplementedError, RuntimeError):
            pass
        await executor.backend.aclose()


def run_experiment(config: ExperimentConfig, *, quiet: bool = False) -> int:
    """Run every (model, task) of the config; returns the exit code."""
    budgets = _budgets(config)
    tasks = [(get_task(t.name), t) for t in config.tasks]
    plans = [(spec, _samples(spec, t)) for spec, t in tasks]
    sampling = config.generation()
    strategy = get_strategy(config.strategy)
    recorded = sweep_budgets(budgets, add_natural=config.mode == "forced" and strategy.name == "cot")
    label = strategy_label(strategy.name, config.shots)  # k-shot records get their own curve ("cot+3shot")
    shots = [make_shots_for(spec, t.seed, config.shots, t.params) if config.shots else None for spec, t in tasks]
    backends = [_build_backend(config, i, recorded) for i in range(len(config.models))]
    for backend in backends:  # a strategy that cannot run on this backend is refused before any write
        reason = strategy.unsupported_reason(backend, recorded)
        if reason:
            raise UserError(f"strategy {strategy.name}: {reason}")
    store = Store(config.store)  # opened only after every input was validated
    limits = CostTracker(max_cost=config.max_cost, max_tokens=config.max_tokens)  # shared by the whole run
    try:
        store.set_meta("last_experiment", config.experiment)
        store.set_meta("last_config", config.model_dump_json())  # what `overthink resume` runs again
        for backend, model in zip(backends, config.models, strict=True):
            for (spec, samples), shots_for in zip(plans, shots, strict=True):
                groups = plan_groups(
                    experiment=config.experiment, model=backend.model_id, task=spec.name,
                    task_version=spec.version, samples=samples, budgets=recorded,
                    strategy=label, repeats=config.repeats, base_seed=config.seed,
                    for_repeat=spec.for_repeat,
                )
                todo = pending(groups, store.existing_keys())
                total = sum(len(g.items) for g in groups)
                done_before = total - sum(len(g.items) for g in todo)
                title = f"{backend.model_id} · {spec.name}"
                with SweepProgress(title, total, done_before, disable=quiet,
                                   live_tokens=backend.live_tokens) as progress:
                    executor = Executor(backend, spec, store, sampling, concurrency=model.concurrency,
                                        progress=progress.advance, strategy=strategy, limits=limits,
                                        shots_for=shots_for)
                    stats = asyncio.run(_sweep(executor, todo))
                if stats.interrupted:
                    stderr_console.print(
                        f"Interrupted: {store.count()} records are safe in {config.store}. "
                        "Run the same command again to resume where it stopped.",
                        soft_wrap=True,
                    )
                    return 130
                _print_summary(store, config, backend.model_id, spec, stats, label)
                if stats.capped:
                    stderr_console.print(
                        f"Stopped before a request that could exceed the cap ({stats.capped}); "
                        f"{limits.summary()} in this run. Raise the cap and run the same command again to "
                        "continue where it stopped.", markup=False,
                    )
                    return 0
    finally:
        store.close()
    return 0


def _print_summary(store: Store, config: ExperimentConfig, model: str, spec: TaskSpec, stats: RunStats,
                   strategy: str) -> None:
    from rich.table import Table

    rows = list(store.rows("WHERE experiment=? AND model=? AND task=? AND strategy=?",
                           (config.experiment, model, spec.name, strategy)))
    table = Table(title=f"{model} · {spec.name} · {config.mode} budgets ({spec.metric}, 95% CI by problem)")
    for column in ("budget", "requested", "realized (mean)", spec.metric, "n"):
        table.add_column(column, justify="right")
    groups = sorted({g for row in summarize(rows) for g in row.by_group})
    for name in groups:
        table.add_column(name, justify="right")
    table.add_column("looping", justify="right")
    for row in summarize(rows):
        cells = [
            row.budget,
            "-" if row.requested is None else str(row.requested),
            f"{row.mean_realized:.0f}",
            f"{row.metric:.2f} [{row.low:.2f}, {row.high:.2f}]",
            str(row.n_items) + (f" ({row.errors} err)" if row.errors else ""),
        ]
        for name in groups:
            value = row.by_group.get(name)
            cells.append("-" if value is None else f"{value[0]:.2f} [{value[1]:.2f}, {value[2]:.2f}] n={value[3]}")
        cells.append(f"{row.looping:.0%}")
        table.add_row(*cells)
    stdout_console.print(table)
    rate = stats.generated_tokens / stats.elapsed if stats.elapsed > 0 else 0.0
    stdout_console.print(
        f"{stats.written} new records ({stats.errors} errors), {stats.generated_tokens} tokens generated "
        f"in {stats.elapsed:.0f}s ({rate:.1f} tok/s). Store: {config.store}"
    )


def run(
    config_path: Annotated[Optional[Path], typer.Argument(metavar="[CONFIG]", help="YAML/TOML experiment file")] = None,  # noqa: UP045
    task: Annotated[Optional[str], typer.Option("--task", help="task name (overthink tasks list)")] = None,  # noqa: UP045
    model: Annotated[Optional[str], typer.Option("--model", help="model name, 'tiny', or PATH.gguf")] = None,  # noqa: UP045
    backend: Annotated[Optional[str], typer.Option("--backend", help="llamacpp (default), openai-compat, ...")] = None,  # noqa: UP045
    mode: Annotated[Optional[str], typer.Option("--mode", help="forced | prompt | native | natural")] = None,  # noqa: UP045
    budgets: Annotated[Optional[str], typer.Option("--budgets", help="comma list, e.g. 0,256,1024")] = None,  # noqa: UP045
    n: Annotated[Optional[int], typer.Option("--n", help="items per task")] = None,  # noqa: UP045
    repeats: Annotated[Optional[int], typer.Option("--repeats", help="samples per item and budget")] = None,  # noqa: UP045
    strategy: Annotated[Optional[str], typer.Option("--strategy", help="cot (default), vote@K, best-of-n@N, scheduler@M,S")] = None,  # noqa: UP045, E501
    store: Annotated[Optional[str], typer.Option("--store", help="SQLite results file")] = None,  # noqa: UP045
    temperature: Annotated[Optional[float], typer.Option("--temperature", help="0 = greedy")] = None,  # noqa: UP045
    seed: Annotated[Optional[int], typer.Option("--seed", help="base seed of the sweep")] = None,  # noqa: UP045
    experiment: Annotated[Optional[str], typer.Option("--experiment", help="experiment name")] = None,  # noqa: UP045
    max_answer_tokens: Annotated[Optional[int], typer.Option("--max-answer-tokens")] = None,  # noqa: UP045
    shots: Annotated[Optional[int], typer.Option("--shots", help="worked examples per prompt (strategy name gets +Kshot)")] = None,  # noqa: UP045, E501
    base_url: Annotated[Optional[list[str]], typer.Option("--base-url", help="server URL; repeat for replicas")] = None,  # noqa: UP045
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", help="requests in flight per backend")] = None,  # noqa: UP045
    max_cost: Annotated[Optional[float], typer.Option("--max-cost", help="stop before spending more USD")] = None,  # noqa: UP045
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", help="stop before using more tokens")] = None,  # noqa: UP045
    samples: Annotated[Optional[Path], typer.Option("--samples", help="run the items of a JSONL file (tasks export/import --out)")] = None,  # noqa: UP045, E501
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Sweep a model over reasoning budgets on a task and store every completion (resumable)."""
    config = load_config(config_path)
    if samples is not None:
        first = load_samples(samples, None)[0]
        task = task or first.task
        config = _apply_overrides(config, {"task": task})
        for entry in config.tasks:
            entry.samples = str(samples)
    if mode is not None and mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; choose forced, prompt, native or natural")
    config = _apply_overrides(config, {
        "task": task, "model": model, "backend": backend, "mode": mode, "budgets": budgets, "n": n,
        "repeats": repeats, "strategy": strategy, "store": store, "temperature": temperature,
        "seed": seed, "experiment": experiment, "max_answer_tokens": max_answer_tokens, "shots": shots,
        "base_urls": base_url or None, "concurrency": concurrency, "max_cost": max_cost, "max_tokens": max_tokens,
    })
    raise typer.Exit(run_experiment(config, quiet=quiet))


def resume(
    store: Annotated[str, typer.Option("--store", help="the store of the interrupted sweep")] = "overthink-results.db",
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Finish the last sweep written to a store, with the exact configuration it was started with."""
    with Store(store, create=False) as opened:
        saved = opened.get_meta("last_config")
    if saved is None:
        raise UserError(f"{store} holds no sweep configuration to resume; run `overthink run --store {store}`")
    config = validate_config(json.loads(saved), source=f"{store} (saved configuration)")
    config = config.model_copy(update={"store": store})
    raise typer.Exit(run_experiment(config, quiet=quiet))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("resume")(resume)
