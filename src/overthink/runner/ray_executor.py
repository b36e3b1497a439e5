"""Shards as Ray tasks: `overthink run CONFIG --executor ray --shards N`.

Each shard is one Ray task running `run_shard` (runner/shard_task.py) on a worker. Ray retries a task
whose worker died (a crash, the OOM killer, a lost node) or that raised, up to `max_retries` times; the
retry resumes the shard's own store, so it redoes only the groups that were in flight. A shard whose
config cannot work returns its message rather than raising, so it is not retried.

Options (`--executor-option KEY=VALUE`): `address` (default: start a local cluster for this run and
stop it after; `auto` joins the cluster this machine belongs to, `ray://HOST:10001` a remote one),
`max_retries` (default 2). Every other key is a Ray task option, e.g. `num_gpus=1`, `num_cpus=4`,
`memory=...`, `runtime_env={working_dir: .}`; `num_cpus` defaults to 1 per shard.

Ray is imported here only, and only when this executor is used: without it the command says
`pip install 'overthink[ray]'` instead of a traceback.
"""

from __future__ import annotations

import contextlib
import sys
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


def load_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray, which is not installed: pip install 'overthink[ray]'") from None
    return ray


def _settings(options: dict[str, Any]) -> tuple[str | None, int, dict[str, Any]]:
    """(address, max_retries, task options) from the executor options."""
    address = options.pop("address", None)
    retries = retries_option(options, DEFAULT_RETRIES)
    options.setdefault("num_cpus", 1)
    return (None if address is None else str(address)), retries, options


def _outcome(ray: ModuleType, ref: Any, k: int, job: ShardJob, retries: int) -> ShardOutcome:
    """The shard's result, or why it was lost once Ray gave up (its attempts file says how often it ran)."""
    try:
        result: ShardResult = ray.get(ref)
    except ray.exceptions.RayError as exc:
        return ShardOutcome(k, failure=first_line(exc), attempts=job.layout.attempts(k) or retries + 1)
    return ShardOutcome(k, result=result, attempts=result.attempt)


def dispatch(job: ShardJob, log: Log) -> list[ShardOutcome]:
    """Run the job's shards as Ray tasks (a local cluster unless `address` is given); one outcome each.

    Ray prints its workers' and raylet's messages ("a worker died ...") to stdout; they go to stderr
    here, so stdout keeps only what overthink prints (the tables, or the one JSON document of --json)."""
    with contextlib.redirect_stdout(sys.stderr):
        return _dispatch(job, log)


def _start(ray: ModuleType, address: str | None) -> bool:
    """Join or start a cluster unless this process is in one already; True when this call started it."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UserError(f"--executor ray: cannot reach a Ray cluster at {address or 'a new local one'} "
                        f"({first_line(exc)})") from None
    return True


def _dispatch(job: ShardJob, log: Log) -> list[ShardOutcome]:
    ray = load_ray()
    address, retries, task_options = _settings(dict(job.options))
    started = _start(ray, address)
    pending: dict[Any, int] = {}
    try:
        try:
            task = ray.remote(run_shard).options(max_retries=retries, retry_exceptions=True, **task_options)
        except (TypeError, ValueError) as exc:
            raise UserError(f"--executor-option: Ray refused the task options {task_options}: {exc}") from None
        pending = {task.remote(job.config_json, k, job.layout.n): k for k in job.shards}
        log(f"{len(pending)} shards submitted to Ray (max_retries={retries})")
        outcomes: list[ShardOutcome] = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                outcome = _outcome(ray, ref, pending.pop(ref), job, retries)
                log(describe(outcome, job.layout.n))
                outcomes.append(outcome)
        return outcomes
    except BaseException:  # Ctrl-C in the driver: shards on a shared cluster must not run on unattended
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
