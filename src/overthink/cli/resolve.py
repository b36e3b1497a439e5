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
import dataclasses
from collections.abc import Callable

from overthink.analysis.run_table import sweep_rows
from overthink.config import ExperimentConfig
from overthink.registry import resolve_run
from overthink.runner.experiment import Components, ProgressFactory, run_sweeps
from overthink.runner.outcome import RunReport, SweepReport

__all__ = ["resolve", "run_experiment"]


def resolve(config: ExperimentConfig) -> Components:
    """Every name of the config built once, with the read side's end-of-run table handed to the runner."""
    return dataclasses.replace(resolve_run(config), table=sweep_rows)


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
