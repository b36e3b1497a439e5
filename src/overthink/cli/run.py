"""`overthink run` and `resume`: parse the arguments, run the sweep (runner/experiment.py), print its report.

Everything a user can get wrong (names, budgets, paths, keys, servers) is validated before the store is
opened, so a bad command writes nothing. Exit codes come from the report (`RunReport.exit_code`): 0 every
item ok, 1 items remain errors or the circuit breaker stopped the sweep, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml

from overthink.cli.common import stderr_console, stdout_console
from overthink.cli.progress import SweepProgress
from overthink.cli.resolve import run_experiment
from overthink.cli.verifiers import verifier_overrides
from overthink.config import ExperimentConfig, load_config, validate_config
from overthink.errors import UserError
from overthink.models.budget import MODES
from overthink.presets import get_preset
from overthink.runner.execute import ProgressCallback
from overthink.runner.experiment import ProgressFactory
from overthink.runner.outcome import RunReport, StopReason, SweepReport
from overthink.store import Store
from overthink.tasks.sample_file import load_samples


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


def _progress(quiet: bool) -> ProgressFactory:
    @contextmanager
    def bar(title: str, total: int, done: int, live: Callable[[], int]) -> Iterator[ProgressCallback]:
        with SweepProgress(title, total, done, disable=quiet, live_tokens=live) as progress:
            yield progress.advance

    return bar


def _ci_cell(value: tuple[float, float, float, int] | None, *, count: bool = True) -> str:
    if value is None or value[0] != value[0]:  # no group here, or no finished record in it (NaN)
        return "-"
    return f"{value[0]:.2f} [{value[1]:.2f}, {value[2]:.2f}]" + (f" n={value[3]}" if count else "")


def _print_sweep(sweep: SweepReport, report_mode: str, store: str) -> None:
    """The per-budget table of one (model, task) and its one-line tally.

    Nothing prints NaN: an empty cell is "-". Refusal has no pooled column (harmful and benign
    prompts are two metrics), and a realized length that censored traces make the cap's is marked *."""
    from rich.markup import escape
    from rich.table import Table

    pooled = all(row.pooled for row in sweep.rows)
    what = sweep.metric if pooled else f"{sweep.metric} by prompt label, never pooled"
    strategy = "" if sweep.strategy == "cot" else f" · {sweep.strategy}"
    table = Table(title=escape(f"{sweep.model} · {sweep.task}{strategy} · {report_mode} budgets ({what}, "
                               "95% CI by problem)"))
    for column in ("budget", "requested", "realized (mean)", *([sweep.metric] if pooled else []), "n"):
        table.add_column(column, justify="right")
    groups = sorted({g for row in sweep.rows for g in row.by_group})
    for name in groups:
        table.add_column(escape(name), justify="right")
    table.add_column("looping", justify="right")
    for row in sweep.rows:
        realized = "-" if row.mean_realized != row.mean_realized else f"{row.mean_realized:.0f}"
        cells = [escape(row.budget), "-" if row.requested is None else str(row.requested),
                 realized + ("*" if row.censored else "")]
        if pooled:
            cells.append(_ci_cell((row.metric, row.low, row.high, row.n_items), count=False))
        cells.append(str(row.n_items) + (f" ({row.errors} err)" if row.errors else ""))
        cells.extend(_ci_cell(row.by_group.get(name)) for name in groups)
        cells.append("-" if row.looping != row.looping else f"{row.looping:.0%}")
        table.add_row(*cells)
    stdout_console.print(table)
    for row in sweep.rows:
        if row.censored:
            stdout_console.print(escape(
                f"* {row.budget}: {row.censored} of {row.n_records} traces never ended by themselves (censored at "
                "the cap): their length is the cap's, not the model's choice."), soft_wrap=True)
    stdout_console.print(
        f"{sweep.written} new records ({sweep.new_errors} errors), {sweep.generated_tokens} tokens generated "
        f"in {sweep.elapsed_s:.0f}s ({sweep.tokens_per_second:.1f} tok/s). Store: {escape(store)}",
        soft_wrap=True,
    )


def _print_outcome(report: RunReport) -> None:
    """How the run ended, one line each: interrupted, capped, broken circuit, items still in error."""
    if report.stop is StopReason.INTERRUPTED:
        stderr_console.print(
            f"Interrupted: {report.ok + report.errors} records of this sweep are safe in {report.store}. "
            "Run the same command again to resume where it stopped.", soft_wrap=True, markup=False,
        )
        return
    if report.stop is StopReason.CAPPED:
        stderr_console.print(
            f"Stopped before a request that could exceed the cap ({report.stop_detail}); {report.spent} in this "
            "run. Raise the cap and run the same command again to continue where it stopped.",
            soft_wrap=True, markup=False,
        )
    if report.stop is StopReason.CIRCUIT_BREAKER:
        stderr_console.print(f"Stopped: {report.stop_detail}", soft_wrap=True, markup=False)
    line = report.errors_line()
    if line is not None:
        stdout_console.print(line, soft_wrap=True, markup=False)


def _warn(message: str) -> None:
    stderr_console.print(f"warning: {message}", soft_wrap=True, markup=False)


def execute(config: ExperimentConfig, *, quiet: bool, as_json: bool) -> int:
    """Run the config and print its report (tables as each sweep ends, or one JSON document)."""
    on_sweep = None if as_json else (lambda sweep: _print_sweep(sweep, config.mode, config.store))
    report = run_experiment(config, progress=_progress(quiet), on_sweep=on_sweep, warn=_warn)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        _print_stop_only(report)
    else:
        _print_outcome(report)
    return report.exit_code


def _print_stop_only(report: RunReport) -> None:
    """With --json stdout holds only the JSON; a reason to stop still goes to stderr."""
    if report.stop is not StopReason.COMPLETED and report.stop_detail:
        stderr_console.print(f"Stopped: {report.stop_detail}", soft_wrap=True, markup=False)


def execute_scaled(config: ExperimentConfig, executor: str | None, shards: int | None, options: list[str], *,
                   quiet: bool, as_json: bool) -> int:
    """`--executor ray|slurm --shards N` (runner/scaleout.py): shards on a cluster, merged, printed as a run."""
    from overthink.analysis.run_table import sweep_rows
    from overthink.runner.scaleout import parse_options, run_scaled

    if executor is None:
        raise UserError("--shards and --executor-option need --executor ray or --executor slurm")
    def log(line: str) -> None:  # a few lines per shard (submitted, finished, retried), also with --quiet
        stderr_console.print(line, soft_wrap=True, markup=False)

    scaled = run_scaled(config, executor, 1 if shards is None else shards, parse_options(options), log=log,
                        table=sweep_rows)
    if scaled.user_error is not None:
        raise UserError(scaled.user_error)
    if as_json:
        typer.echo(json.dumps(scaled.to_json(), indent=2))
        _print_stop_only(scaled.run)
    else:
        for sweep in scaled.run.sweeps:
            _print_sweep(sweep, config.mode, config.store)
        _print_outcome(scaled.run)
    if scaled.lost:
        stderr_console.print(f"Shards {', '.join(f'{k}/{len(scaled.shards)}' for k in scaled.lost)} never finished "
                             "(every attempt failed); their items are missing. Run the same command again to resume "
                             "them.", soft_wrap=True, markup=False)
    return scaled.exit_code


def _base_config(config_path: Path | None, preset: str | None) -> ExperimentConfig:
    """The config file, or a shipped preset (a config file too), before the options override it."""
    if preset is None:
        return load_config(config_path)
    if config_path is not None:
        raise UserError("give either a CONFIG file or --preset, not both (overthink presets NAME > mine.yaml "
                        "makes a preset a file to edit)")
    return validate_config(yaml.safe_load(get_preset(preset).text), source=f"preset {preset}")


def _judge_spec(value: str | None) -> str | None:
    """--judge BACKEND:MODEL, checked here so the message names the option (the backend is checked later)."""
    if value is None:
        return None
    backend, sep, name = value.partition(":")
    if not (backend.strip() and sep and name.strip()):
        raise UserError(f"--judge {value!r} is not BACKEND:MODEL (e.g. llamacpp:tiny, openai-compat:NAME)")
    return value


def run(
    config_path: Annotated[Optional[Path], typer.Argument(metavar="[CONFIG]", help="YAML/TOML experiment file")] = None,  # noqa: UP045
    preset: Annotated[Optional[str], typer.Option("--preset", help="a shipped design instead of CONFIG (overthink presets lists them)")] = None,  # noqa: UP045, E501
    task: Annotated[Optional[str], typer.Option("--task", help="task name (overthink tasks list)")] = None,  # noqa: UP045
    model: Annotated[Optional[str], typer.Option("--model", help="model name, 'tiny', or PATH.gguf")] = None,  # noqa: UP045
    backend: Annotated[Optional[str], typer.Option("--backend", help="llamacpp (default), openai-compat, ...")] = None,  # noqa: UP045
    mode: Annotated[Optional[str], typer.Option("--mode", help="forced | prompt | native | natural")] = None,  # noqa: UP045
    budgets: Annotated[Optional[str], typer.Option("--budgets", help="comma list, e.g. 0,256,1024")] = None,  # noqa: UP045
    n: Annotated[Optional[int], typer.Option("--n", help="items per task")] = None,  # noqa: UP045
    repeats: Annotated[Optional[int], typer.Option("--repeats", help="samples per item and budget")] = None,  # noqa: UP045
    strategy: Annotated[Optional[list[str]], typer.Option("--strategy", help="cot (default), vote@K, best-of-n@N[,JUDGE], scheduler@M,S; repeat to compare several in one store. JUDGE: a verifier (overthink verifiers) or [BACKEND:]MODEL")] = None,  # noqa: UP045, E501
    verifier_option: Annotated[Optional[list[str]], typer.Option("--verifier-option", help="NAME.KEY=VALUE for the verifier best-of-n@N,NAME uses, repeatable: prm.base_urls=http://HOST:8001/v1, prm.aggregate=last (overthink verifiers NAME lists the keys)")] = None,  # noqa: UP045, E501
    store: Annotated[Optional[str], typer.Option("--store", help="SQLite results file")] = None,  # noqa: UP045
    temperature: Annotated[Optional[float], typer.Option("--temperature", help="0 = greedy")] = None,  # noqa: UP045
    seed: Annotated[Optional[int], typer.Option("--seed", help="base seed of the sweep")] = None,  # noqa: UP045
    experiment: Annotated[Optional[str], typer.Option("--experiment", help="experiment name")] = None,  # noqa: UP045
    max_answer_tokens: Annotated[Optional[int], typer.Option("--max-answer-tokens")] = None,  # noqa: UP045
    shots: Annotated[Optional[int], typer.Option("--shots", help="worked examples per prompt (strategy name gets +Kshot)")] = None,  # noqa: UP045, E501
    probe_every: Annotated[Optional[int], typer.Option("--probe-every", help="fork an answer off cot's trace every M thinking tokens (records as cot+probes@M; docs/trace.md)")] = None,  # noqa: UP045, E501
    base_url: Annotated[Optional[list[str]], typer.Option("--base-url", help="server URL; repeat for replicas")] = None,  # noqa: UP045
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", help="requests in flight per backend")] = None,  # noqa: UP045
    max_cost: Annotated[Optional[float], typer.Option("--max-cost", help="stop before spending more USD")] = None,  # noqa: UP045
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", help="stop before using more tokens")] = None,  # noqa: UP045
    samples: Annotated[Optional[Path], typer.Option("--samples", help="run the items of a JSONL file (tasks export/import --out)")] = None,  # noqa: UP045, E501
    stop_after_failures: Annotated[Optional[int], typer.Option("--stop-after-failures", help="circuit breaker window: stop when 95% of the last max(N, 2 x records in flight) records failed (default 20)")] = None,  # noqa: UP045, E501
    max_attempts: Annotated[Optional[int], typer.Option("--max-attempts", help="failures of an item, counted over every run of the sweep, after which re-runs stop retrying it (default 3). Not the backend option max_attempts: HTTP tries of one request within one run")] = None,  # noqa: UP045, E501
    shard: Annotated[Optional[str], typer.Option("--shard", help="K/N: run only shard K of N (one store per shard; overthink merge)")] = None,  # noqa: UP045, E501
    judge: Annotated[Optional[str], typer.Option("--judge", help="BACKEND:MODEL judging refusal records beside the rules, e.g. llamacpp:tiny")] = None,  # noqa: UP045, E501
    executor: Annotated[Optional[str], typer.Option("--executor", help="ray | slurm: run --shards N shards as Ray tasks or submitit jobs, retried, merged into --store")] = None,  # noqa: UP045, E501
    shards: Annotated[Optional[int], typer.Option("--shards", help="shards for --executor (default 1)")] = None,  # noqa: UP045
    executor_option: Annotated[Optional[list[str]], typer.Option("--executor-option", help="KEY=VALUE for --executor, repeatable: max_retries=2, address=auto, num_gpus=1 (ray); cluster=local, slurm_partition=gpu, timeout_min=1440 (slurm)")] = None,  # noqa: UP045, E501
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the run report as JSON (no tables)")] = False,
) -> None:
    """Sweep a model over reasoning budgets on a task and store every completion (resumable)."""
    config = _base_config(config_path, preset)
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
        "repeats": repeats, "strategies": strategy or None, "store": store, "temperature": temperature,
        "seed": seed, "experiment": experiment, "max_answer_tokens": max_answer_tokens, "shots": shots,
        "probe_every": probe_every,
        "base_urls": base_url or None, "concurrency": concurrency, "max_cost": max_cost, "max_tokens": max_tokens,
        "stop_after_failures": stop_after_failures, "max_attempts": max_attempts, "shard": shard,
        "judge": _judge_spec(judge),
        "verifiers": verifier_overrides(verifier_option, config.verifiers) if verifier_option else None,
    })
    if executor is not None or shards is not None or executor_option:
        raise typer.Exit(execute_scaled(config, executor, shards, executor_option or [], quiet=quiet, as_json=as_json))
    raise typer.Exit(execute(config, quiet=quiet, as_json=as_json))


def resume(
    store: Annotated[str, typer.Option("--store", help="the store of the interrupted sweep")] = "overthink-results.db",
    max_attempts: Annotated[Optional[int], typer.Option("--max-attempts", help="raise the per-item attempts limit (over every run) to retry items that used theirs")] = None,  # noqa: UP045, E501
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the run report as JSON (no tables)")] = False,
) -> None:
    """Finish the last sweep written to a store, with the exact configuration it was started with."""
    with Store(store, create=False) as opened:
        saved = opened.get_meta("last_config")
    if saved is None:
        raise UserError(f"{store} holds no sweep configuration to resume; run `overthink run --store {store}`")
    config = validate_config(json.loads(saved), source=f"{store} (saved configuration)")
    config = _apply_overrides(config, {"store": store, "max_attempts": max_attempts})
    raise typer.Exit(execute(config, quiet=quiet, as_json=as_json))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("resume")(resume)
