"""One shard of a scripted sweep, as its own process: `python shard_worker.py STORE K/N N_ITEMS EXPERIMENT`.

It plans exactly what `overthink run --backend scripted --budgets 0,4,16 --repeats 2 --seed 3` plans
(same config defaults, keys, seeds and strategy) and runs only shard K of N through the real
executor and store, so a test can run shards as parallel processes until `overthink run --shard K/N`
(owned by cli/run.py) exists; that test then compares the merged shards with a real `overthink run`.
"""

from __future__ import annotations

import asyncio
import sys

from overthink.config import validate_config
from overthink.models.budget import parse_budgets
from overthink.registry import get_backend_factory, get_strategy, get_task
from overthink.runner.execute import Executor
from overthink.runner.plan import parse_shard, pending, plan_groups, shard, sweep_budgets
from overthink.runner.store import Store
from overthink.types import Mechanism

BUDGETS = "0,4,16"
REPEATS = 2
SEED = 3


def main(store_path: str, spec: str, n_items: int, experiment: str) -> None:
    k, n = parse_shard(spec)
    config = validate_config({"experiment": experiment, "tasks": [{"name": "misleading_math", "n": n_items}],
                              "models": [{"backend": "scripted", "name": "scripted"}], "budgets": BUDGETS,
                              "repeats": REPEATS, "seed": SEED, "store": store_path})
    task_config = config.tasks[0]
    task = get_task(task_config.name)
    backend = get_backend_factory("scripted")("scripted")
    budgets = sweep_budgets(parse_budgets(config.budgets, Mechanism.FORCED), add_natural=True)
    groups = plan_groups(experiment=config.experiment, model=backend.model_id, task=task.name,
                         task_version=task.version, samples=task.samples(n_items, task_config.seed),
                         budgets=budgets, strategy="cot", repeats=config.repeats, base_seed=config.seed,
                         for_repeat=task.for_repeat)
    with Store(store_path) as store:
        todo = pending(shard(groups, k, n), store.done_keys())
        executor = Executor(backend, task, store, config.generation(), concurrency=4,
                            strategy=get_strategy(config.strategy))
        stats = asyncio.run(executor.run(todo))
    print(f"shard {k}/{n}: {stats.written} new records")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
