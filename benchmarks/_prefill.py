"""Fill a store with ok records for the first part of a scale sweep's plan (benchmarks/scale.py --prefill).

A million-record `overthink run` takes most of an hour on two shared cores, but only three things in
it grow with the record count: walking the plan (counting, chunked look-ups) and the end-of-run
summary. A store holding the first 99% of the plan, written here through the real Store API with the
real plan (`runner.prepare.prepare`, so the keys are exactly the ones the command computes), lets
`overthink run` do all of that at full size and send only the last 1% to the loopback server: its
peak RSS is the peak of a resumed million-record sweep. scale.py checks that the run skipped exactly
what was prefilled, so a key mismatch cannot go unnoticed.
"""

from __future__ import annotations

import time
from pathlib import Path

from overthink.cli.resolve import resolve
from overthink.config import ExperimentConfig, ModelConfig, TaskConfig
from overthink.runner.plan import WorkGroup
from overthink.runner.prepare import prepare
from overthink.runner.resume import chunked
from overthink.store import Store
from overthink.tasks.base import TaskSpec
from overthink.types import Completion, Record, Status, TokenSource, Usage

REASONING = "so the count is apples then we add three and check again " * 8  # ~0.5 kB, like --reply-kb 0.5


def config_of(url: str, store: Path, items: int, repeats: int, budgets: tuple[int, ...], concurrency: int,
              ) -> ExperimentConfig:
    """The config `overthink run --backend openai-compat --mode prompt --task misleading_math ...` builds."""
    return ExperimentConfig(
        mode="prompt", budgets=[str(b) for b in budgets], repeats=repeats, store=str(store),
        tasks=[TaskConfig(name="misleading_math", n=items)],
        models=[ModelConfig(backend="openai-compat", name="m", base_urls=[url], concurrency=concurrency)],
    )


def _records(group: WorkGroup, spec: TaskSpec) -> list[Record]:
    text = "<answer>1</answer>"
    score = spec.score(group.sample, text)
    tokens = len(REASONING) // 4
    completion = Completion(text=text, reasoning=REASONING, finish_reason="stop", total_generated=tokens + 5,
                            usage=Usage(60, tokens + 5, tokens, TokenSource.API))
    return [Record(key=item.key, seed=item.seed, status=Status.OK, budget_kind=item.budget.kind.value,
                   requested_tokens=item.budget.tokens, prompt=item.sample.prompt, target=item.sample.target,
                   metadata=item.sample.metadata, completion=completion, score=score, created_at=time.time())
            for item in group.items]


def prefill(config: ExperimentConfig, fraction: float) -> int:
    """Write ok records for the first `fraction` of the plan's groups; returns how many records."""
    prepared = prepare(config, resolve(config))
    plan = prepared.sweeps[0]
    spec = plan.spec
    groups = sum(1 for _ in plan.groups())
    wanted, written = int(groups * fraction), 0
    with Store(config.store) as store:
        for number, chunk in enumerate(chunked(plan.groups(), 1000)):
            chunk = chunk[:max(0, wanted - number * 1000)]
            if not chunk:
                break
            written += store.write_many(record for group in chunk for record in _records(group, spec))
    return written
