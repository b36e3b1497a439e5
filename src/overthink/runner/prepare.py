"""Everything a run checks before its store is touched, and the plan of each (model, task) it yields.

Order of work, so that a mistake costs nothing: every input is validated against every other here
(budgets, samples, shots, the strategy and each backend's abilities, prompts that cannot fit the
context), then preflight (runner/preflight.py) asks each backend one cheap question, and only then
does the sweep (runner/sweep.py) create the store. A mistake found here is a UserError with one line
and writes nothing.

What comes out is one `SweepPlan` per (model, task), in the config's order: the plan carries every
value its sweep needs (budgets, seeds, shard, shots), so nothing after this point goes back to the
config to ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from overthink.config import ExperimentConfig
from overthink.models.base import Backend
from overthink.models.budget import budgets_for
from overthink.prompts.shots import shots_from_pool
from overthink.runner.components import Components, RunTable
from overthink.runner.fit import refuse_unfit
from overthink.runner.plan import SweepPlan
from overthink.scoring.judge import Judge
from overthink.tasks.base import TaskSpec
from overthink.tasks.sample_file import task_samples
from overthink.types import Budget, strategy_label

__all__ = ["Prepared", "prepare"]


@dataclass(frozen=True)
class Prepared:
    """Everything validated before the store is touched: a mistake found here writes nothing."""

    config: ExperimentConfig
    budgets: list[Budget]  # every budget some sweep records (forced cot sweeps add the natural-end record)
    tasks: list[TaskSpec]
    sweeps: list[SweepPlan]  # one per (model, strategy, task), in the config's order
    backends: list[Backend]
    judge: Judge | None = None  # the refusal judge (analysis/judge_agreement.py), asked by every refusal sweep
    table: RunTable | None = None  # reads a finished sweep's table from the store (Components.table)


def prepare(config: ExperimentConfig, built: Components) -> Prepared:
    """Validate budgets, samples, strategy and backends against each other; raises UserError, opens no store.

    One pass: budgets and shard as typed, each task's items (generated or read) with their shots, then
    what each backend cannot serve (a budget, the strategy, a prompt too long for its context).
    """
    recorded = {strategy.name: budgets_for(config.mode, config.budgets_of(written), add_natural=strategy.name == "cot")
                for written, strategy in zip(config.strategies, built.strategies, strict=True)}
    # (a strategy's own budgets when `strategy_budgets` names it; only chain of thought records its natural end)
    sampling, part = config.generation(), config.shard_part()
    backends = list(built.backends)
    per_task = []
    for spec, task in zip(built.tasks, config.tasks, strict=True):
        samples, pool = task_samples(spec, task.n, task.seed, task.params, task.samples, shots=config.shots)
        per_task.append((spec, samples, shots_from_pool(spec.name, pool, config.shots) if config.shots else None))
    for strategy in built.strategies:
        refuse_unfit(backends, strategy, recorded[strategy.name], sampling, per_task)
    sweeps = [SweepPlan(experiment=config.experiment, backend=backend, spec=spec, samples=samples,
                        budgets=recorded[strategy.name], strategy=strategy,
                        label=strategy_label(strategy.name, config.shots),  # k-shot records: own curve ("cot+3shot")
                        repeats=config.repeats, base_seed=config.seed, shard=part, shots_of=shots_of,
                        concurrency=model.concurrency)
              for backend, model in zip(backends, config.models, strict=True) for strategy in built.strategies
              for spec, samples, shots_of in per_task]
    judge = None
    if built.judge_backend is not None and config.judge is not None:
        judge = Judge(built.judge_backend, concurrency=config.judge.concurrency)
    every = list(dict.fromkeys(budget for budgets in recorded.values() for budget in budgets))
    return Prepared(config, every, list(built.tasks), sweeps, backends, judge, built.table)
