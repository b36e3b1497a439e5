"""`overthink run --executor ray|slurm --shards N`: a sweep split into N shards, run on a cluster, merged.

The driver never runs the sweep itself. It skips shards an earlier run finished, hands the others to
an executor (runner/ray_executor.py: Ray tasks with `max_retries`; runner/slurm_executor.py: submitit
jobs, only the failed ones resubmitted), then merges every shard store into the target store with the
ordinary merge (store/merge.py), so the result is one store equal to an unsharded run's (keys and
answers; timings differ). Everything that makes this safe is the store's: a shard is a deterministic
partition of the plan (runner/plan.py), a shard store is resumable, so a retried or re-run shard
continues where it died, and merging is idempotent, so merging again after a partial run is harmless.

A shard is skipped by a later run when its done marker holds this sweep's fingerprint (a hash of the
configuration without its store and shard): change the sweep (another budget, more items) and every
shard runs again, resuming its store. Spending caps (`max_cost`, `max_tokens`) are split evenly
across the shards, so N shards together stay under the cap given.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from overthink.config import ExperimentConfig
from overthink.errors import UserError
from overthink.runner.components import RunTable
from overthink.runner.outcome import RunReport, StopReason, SweepReport
from overthink.runner.shard_task import Dispatch, Log, ShardJob, ShardLayout, ShardOutcome, ShardResult
from overthink.store import Store
from overthink.store.merge import MergeReport, merge_stores

EXECUTORS = ("ray", "slurm")


@dataclass(frozen=True)
class ScaledReport:
    """The merged sweep (`run`, counted over every shard) and each shard's fate."""

    executor: str
    run: RunReport
    shards: tuple[ShardOutcome, ...]
    merge: MergeReport | None

    @property
    def user_error(self) -> str | None:
        return next((o.result.user_error for o in self.shards if o.result and o.result.user_error), None)

    @property
    def lost(self) -> tuple[int, ...]:
        """Shards that never returned (every attempt crashed): their items are missing from the merge."""
        return tuple(o.k for o in self.shards if not o.skipped and o.result is None)

    @property
    def exit_code(self) -> int:
        """2 a shard found bad input; 130 interrupted; 1 a shard was lost or items remain errors; else 0."""
        if self.user_error is not None:
            return 2
        if self.run.exit_code == 130:
            return 130
        return 1 if self.lost else self.run.exit_code

    def to_json(self) -> dict[str, Any]:
        shards = [{"shard": f"{o.k}/{len(self.shards)}", "skipped": o.skipped, "attempts": o.attempts,
                   "failure": o.failure or (o.result.user_error if o.result else None),
                   "exit_code": o.result.report.exit_code if o.result and o.result.report else None}
                  for o in self.shards]
        return {**self.run.to_json(), "exit_code": self.exit_code, "executor": self.executor, "shards": shards,
                "merge": self.merge.to_json() if self.merge else None}


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs of --executor-option; values read as YAML scalars (2 -> int, true -> bool)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--executor-option {pair!r} is not KEY=VALUE (e.g. max_retries=3)")
        try:
            options[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            options[key.strip()] = value
    return options


def fingerprint(config: ExperimentConfig) -> str:
    """What decides a shard's records: the configuration without where it is stored or which shard runs."""
    data = config.model_dump(mode="json")
    data.pop("store", None)
    data.pop("shard", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _shard_config(config: ExperimentConfig, target: Path, n: int) -> str:
    """The configuration every shard gets: the absolute target store, caps split N ways."""
    data = config.model_dump(mode="json")
    data["store"] = str(target)
    if config.max_cost is not None:
        data["max_cost"] = config.max_cost / n
    if config.max_tokens is not None:
        data["max_tokens"] = max(1, config.max_tokens // n)
    return json.dumps(data)


def _dispatcher(executor: str) -> Dispatch:
    """The executor's module, imported only when asked for; its package must import before anything is written."""
    if executor == "ray":
        from overthink.runner.ray_executor import dispatch as ray_dispatch
        from overthink.runner.ray_executor import load_ray

        load_ray()
        return ray_dispatch
    if executor == "slurm":
        from overthink.runner.slurm_executor import dispatch as slurm_dispatch
        from overthink.runner.slurm_executor import load_submitit

        load_submitit()
        return slurm_dispatch
    raise UserError(f"unknown --executor {executor!r}; choose {' or '.join(EXECUTORS)}")


def _marker_sweeps(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data.get("sweeps", []))


def _finished_before(layout: ShardLayout, k: int, mark: str) -> bool:
    marker = layout.done_marker(k)
    try:
        return layout.store(k).is_file() and json.loads(marker.read_text(encoding="utf-8"))["fingerprint"] == mark
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _write_marker(layout: ShardLayout, result: ShardResult, mark: str) -> None:
    """A finished shard's fingerprint and counts, so a re-run can skip it and still report its items."""
    assert result.report is not None
    sweeps = [{"model": s.model, "task": s.task, "strategy": s.strategy, "metric": s.metric, "planned": s.planned,
               "ok": s.ok} for s in result.report.sweeps]
    layout.done_marker(result.k).write_text(json.dumps({"fingerprint": mark, "sweeps": sweeps}), encoding="utf-8")


def _check(config: ExperimentConfig, executor: str, shards: int) -> None:
    if executor not in EXECUTORS:
        raise UserError(f"unknown --executor {executor!r}; choose {' or '.join(EXECUTORS)}")
    if shards < 1:
        raise UserError(f"--shards {shards}: give at least 1")
    if config.shard is not None:
        raise UserError("--shard K/N runs one shard here; --executor runs all of them: give one or the other")


def run_scaled(config: ExperimentConfig, executor: str, shards: int, options: Mapping[str, Any] | None = None,
               log: Log | None = None, table: RunTable | None = None) -> ScaledReport:
    """Run the sweep as `shards` shards on `executor`, merge them into `config.store`, report the whole
    (`table` reads each sweep's end-of-run table from the merged store; the CLI hands in the read side's)."""
    _check(config, executor, shards)
    say = log or (lambda line: None)
    dispatch = _dispatcher(executor)
    target = Path(config.store).resolve()
    if not target.parent.is_dir():
        raise UserError(f"--store {config.store}: folder {target.parent} does not exist")
    layout = ShardLayout(target, shards)
    layout.folder.mkdir(exist_ok=True)
    mark = fingerprint(config)
    todo = [k for k in range(1, shards + 1) if not _finished_before(layout, k, mark)]
    outcomes = {k: ShardOutcome(k, skipped=True) for k in range(1, shards + 1) if k not in todo}
    for k in sorted(outcomes):
        say(f"shard {k}/{shards}: finished by an earlier run, skipped")
    for k in todo:
        layout.reset_attempts(k)
    job = ShardJob(_shard_config(config, target, shards), tuple(todo), layout, dict(options or {}))
    for outcome in dispatch(job, say) if todo else []:
        outcomes[outcome.k] = outcome
        if outcome.result is not None and outcome.result.finished:
            _write_marker(layout, outcome.result, mark)
    ordered = tuple(outcomes.get(k, ShardOutcome(k, failure="not run")) for k in range(1, shards + 1))
    if any(o.result is not None and o.result.user_error for o in ordered):
        return ScaledReport(executor, _combine(config, ordered, layout, None, table), ordered, None)
    merged = _merge(config, layout)
    return ScaledReport(executor, _combine(config, ordered, layout, merged, table), ordered, merged)


def _merge(config: ExperimentConfig, layout: ShardLayout) -> MergeReport | None:
    """Fold every shard store into the target (kept in it when it already exists), and save the unsharded
    configuration there, so `overthink resume --store` and analysis see one sweep."""
    stores = [layout.store(k) for k in range(1, layout.n + 1) if layout.store(k).is_file()]
    if not stores:
        return None
    inputs = ([layout.target] if layout.target.is_file() else []) + stores
    report = merge_stores(inputs, layout.target)
    with Store(layout.target) as store:
        store.set_meta("last_experiment", config.experiment)
        store.set_meta("last_config", config.model_dump_json())
    return report


def _sweeps_of(outcome: ShardOutcome, layout: ShardLayout) -> list[SweepReport]:
    if outcome.result is not None and outcome.result.report is not None:
        return list(outcome.result.report.sweeps)
    if not outcome.skipped:
        return []
    return [SweepReport(model=s["model"], task=s["task"], strategy=s["strategy"], metric=s["metric"],
                        planned=s["planned"], skipped=s["planned"], written=0, new_errors=0, ok=s["ok"], errors=0,
                        exhausted=0, generated_tokens=0, elapsed_s=0.0)
            for s in _marker_sweeps(layout.done_marker(outcome.k))]


def _add(a: SweepReport, b: SweepReport) -> SweepReport:
    classes = dict(a.error_classes)
    for kind, count in b.error_classes.items():
        classes[kind] = classes.get(kind, 0) + count
    return replace(a, planned=a.planned + b.planned, skipped=a.skipped + b.skipped, written=a.written + b.written,
                   new_errors=a.new_errors + b.new_errors, ok=a.ok + b.ok, errors=a.errors + b.errors,
                   exhausted=a.exhausted + b.exhausted, generated_tokens=a.generated_tokens + b.generated_tokens,
                   elapsed_s=max(a.elapsed_s, b.elapsed_s), error_classes=classes)


STOP_ORDER = (StopReason.INTERRUPTED, StopReason.CIRCUIT_BREAKER, StopReason.CAPPED)


def _combine(config: ExperimentConfig, outcomes: Sequence[ShardOutcome], layout: ShardLayout,
             merged: MergeReport | None, table: RunTable | None) -> RunReport:
    """One report for the whole sweep: counts summed over shards, tables read from the merged store."""
    totals: dict[tuple[str, str, str], SweepReport] = {}
    for outcome in outcomes:
        for sweep in _sweeps_of(outcome, layout):
            key = (sweep.model, sweep.task, sweep.strategy)
            totals[key] = _add(totals[key], sweep) if key in totals else sweep
    if merged is not None and table is not None:
        with Store(layout.target, create=False) as store:
            totals = {key: replace(s, rows=tuple(table(store, experiment=config.experiment, model=s.model,
                                                            task=s.task, strategy=s.strategy)))
                      for key, s in totals.items()}
    reports = [o.result.report for o in outcomes if o.result is not None and o.result.report is not None]
    stop, detail = StopReason.COMPLETED, None
    for reason in reversed(STOP_ORDER):  # the most serious reason any shard stopped for wins
        for report in reports:
            if report.stop is reason:
                stop, detail = reason, f"shard {report.shard}: {report.stop_detail}" if report.stop_detail else None
    spent = "; ".join(f"shard {r.shard}: {r.spent}" for r in reports if r.spent)
    warnings = tuple(dict.fromkeys(w for r in reports for w in r.warnings))
    return RunReport(store=config.store, experiment=config.experiment, mode=config.mode, sweeps=tuple(totals.values()),
                     stop=stop, stop_detail=detail, spent=spent, warnings=warnings, max_attempts=config.max_attempts)
