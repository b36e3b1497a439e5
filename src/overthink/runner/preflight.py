"""One cheap question to every backend that has work left, before the store is created.

Preflight asks each backend whether it can work at all (its SDK imports, its key is accepted, its
model exists, its server answers), in the run's one event loop so the connection it opens serves the
sweep too. A backend with nothing left to send in an existing store is not asked
(`resume.backends_with_work`): re-running a finished sweep needs no server (it prints its summary
again). The refusal judge is asked after them, and only when a task of the run is judged: a dead
judge writes nothing either. Last, each strategy asks what it depends on beyond the backend (a served
PRM verifier of best-of-n: models/remote/reward_preflight.py).
"""

from __future__ import annotations

from pathlib import Path

from overthink.models.base import Backend
from overthink.runner.prepare import Prepared
from overthink.runner.resume import backends_with_work
from overthink.types import Budget

__all__ = ["preflight_run"]


async def preflight_run(prepared: Prepared) -> list[str]:
    """Every preflight the run needs (raises PreflightError, a UserError); the warnings of inconclusive ones."""
    config = prepared.config
    working = backends_with_work(prepared.backends, prepared.sweeps, Path(config.store),
                                 max_attempts=config.max_attempts)
    asked: list[tuple[Backend, list[Budget]]] = [(backend, prepared.budgets) for backend in working]
    warnings = []
    judge = prepared.judge
    if judge is not None and not any(spec.metric.judged for spec in prepared.tasks):
        warnings.append(f"judge {judge.model_id}: no task of this run has the refusal metric; it is not asked")
    elif judge is not None and working:
        asked.append((judge.backend, [judge.budget]))  # after the run's own backends
    for backend, budgets in asked:  # in the run's one event loop: the connection it opens serves the sweep too
        warning = await backend.preflight(budgets)
        if warning:
            warnings.append(warning)
    if working:  # then what the strategies depend on (a served PRM), once per strategy
        for strategy in dict.fromkeys(sweep.strategy for sweep in prepared.sweeps):
            warning = await strategy.preflight()
            if warning:
                warnings.append(warning)
    return warnings
