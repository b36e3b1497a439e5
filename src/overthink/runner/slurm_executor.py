"""Shards as SLURM jobs through submitit: `overthink run CONFIG --executor slurm --shards N`.

The shards go out as one job array (`AutoExecutor.map_array`), each job running `run_shard`
(runner/shard_task.py) on a node. The driver waits for them, then resubmits only the shards whose job
failed (a crash, a timeout, a preemption, an exception), up to `max_retries` more rounds; each
resubmitted shard resumes its own store. A shard whose config cannot work returns its message and is
not resubmitted.

Options (`--executor-option KEY=VALUE`): `max_retries` (default 2), `cluster` (default: submitit's
choice, SLURM where `sbatch` exists; `local` runs the jobs as processes on this machine, as the tests
do), `poll_s` (seconds between status checks, default 5), and every submitit parameter, generic
(`timeout_min`, `gpus_per_node`, `cpus_per_task`, `mem_gb`, `nodes`) or SLURM-specific
(`slurm_partition`, `slurm_account`, `slurm_qos`, `slurm_array_parallelism`, `slurm_additional_parameters`).
`timeout_min` defaults to 1440 (submitit's own default is 5 minutes); job logs go to
`<store>.shards/submitit/`.

submitit is imported here only, and only when this executor is used: without it the command says
`pip install 'overthink[slurm]'` instead of a traceback.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

from overthink.errors import UserError
from overthink.runner.shard_task import (
    Log,
    ShardJob,
    ShardOutcome,
    ShardResult,
    describe,
    first_line,
    retries_option,
    run_shard,
)

DEFAULT_RETRIES = 2
DEFAULT_TIMEOUT_MIN = 24 * 60
DEFAULT_POLL_S = 5.0


def load_submitit() -> ModuleType:
    try:
        import submitit
    except ImportError:
        raise UserError("--executor slurm needs submitit, which is not installed: "
                        "pip install 'overthink[slurm]'") from None
    return submitit


def _executor(submitit: ModuleType, job: ShardJob, options: dict[str, Any]) -> Any:
    """A submitit AutoExecutor for the shards; an option submitit does not know is a UserError."""
    cluster = options.pop("cluster", None)
    folder = job.layout.folder / "submitit" / "%j"
    options.setdefault("timeout_min", DEFAULT_TIMEOUT_MIN)
    options.setdefault("name", f"overthink-{job.layout.target.stem}")
    try:
        executor = submitit.AutoExecutor(folder=str(folder), cluster=None if cluster is None else str(cluster))
        executor.update_parameters(**options)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise UserError(f"--executor-option: submitit refused {options} ({first_line(exc)})") from None
    return executor


def _collect(jobs: dict[int, Any], job: ShardJob, poll_s: float, log: Log) -> dict[int, ShardOutcome]:
    """Wait for every submitted shard; a job that failed in any way becomes an outcome with a failure."""
    pending = dict(jobs)
    outcomes: dict[int, ShardOutcome] = {}
    while pending:
        for k, submitted in list(pending.items()):
            if not submitted.done():
                continue
            del pending[k]
            try:
                result: ShardResult = submitted.result()
            except Exception as exc:  # submitit's FailedJobError / UncompletedJobError, whatever killed it
                outcomes[k] = ShardOutcome(k, failure=first_line(exc), attempts=job.layout.attempts(k))
            else:
                outcomes[k] = ShardOutcome(k, result=result, attempts=result.attempt)
                log(describe(outcomes[k], job.layout.n))
        if pending:
            time.sleep(poll_s)
    return outcomes


def dispatch(job: ShardJob, log: Log) -> list[ShardOutcome]:
    """Submit the job's shards as an array; resubmit the failed ones until they finish or retries run out."""
    submitit = load_submitit()
    options = dict(job.options)
    retries = retries_option(options, DEFAULT_RETRIES)
    poll_s = float(options.pop("poll_s", DEFAULT_POLL_S))
    executor = _executor(submitit, job, options)
    n = job.layout.n
    remaining = list(job.shards)
    outcomes: dict[int, ShardOutcome] = {}
    for round_ in range(retries + 1):
        submitted = executor.map_array(run_shard, [job.config_json] * len(remaining), remaining, [n] * len(remaining))
        log(f"{len(remaining)} shards submitted (job {submitted[0].job_id.split('_')[0]}, round {round_ + 1} "
            f"of at most {retries + 1})")
        try:
            outcomes.update(_collect(dict(zip(remaining, submitted, strict=True)), job, poll_s, log))
        except BaseException:  # Ctrl-C in the driver: the jobs must not run on unattended
            for running in submitted:
                running.cancel(check=False)
            raise
        remaining = [k for k in remaining if outcomes[k].result is None]
        if not remaining:
            break
        for k in remaining:
            word = "resubmitting" if round_ < retries else "no retries left"
            log(f"shard {k}/{n}: failed on attempt {outcomes[k].attempts} ({outcomes[k].failure}); {word}")
    return [outcomes[k] for k in job.shards]
