"""Batch APIs (Anthropic Message Batches, OpenAI Batch) behind the ordinary `generate` call.

Large sweeps cost half as much through the providers' batch APIs, at the price of latency (minutes
to hours). The runner does not need to know: `generate` hands its request to a `BatchQueue`, which
gathers the requests arriving within a short window into one batch, submits it, polls until it ends
and resolves every waiting call with its own result. The runner's `--concurrency` is how many
requests can wait at once, so it should be as large as the batch you want (e.g. 500).

Resume without resubmitting: every request gets a deterministic custom id (a hash of its exact
parameters) and the (custom id -> batch id) map is written to a small JSON side file before waiting.
After a restart the same request finds its batch in the file and waits for that batch's result
instead of paying for it twice. A batch that expired or was cancelled is forgotten, so a rerun
submits its requests again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overthink.models.base import BackendError

DEFAULT_STATE_FILE = "overthink-batches.json"


def custom_id(params: Mapping[str, Any]) -> str:
    """Deterministic id of one request ([A-Za-z0-9_-], <= 64 chars, as both providers require)."""
    text = json.dumps(params, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "ot-" + hashlib.sha256(text.encode()).hexdigest()[:40]


class BatchState:
    """The side file mapping custom ids to submitted batch ids; written atomically after each change."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.entries: dict[str, str] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.entries = {str(k): str(v) for k, v in dict(data.get("requests", {})).items()}
            except (OSError, ValueError, AttributeError) as exc:
                raise BackendError(f"batch state file {self.path} is unreadable ({type(exc).__name__})") from None

    def batch_of(self, cid: str) -> str | None:
        return self.entries.get(cid)

    def record(self, batch_id: str, cids: list[str]) -> None:
        for cid in cids:
            self.entries[cid] = batch_id
        self._save()

    def forget(self, cid: str) -> None:
        if self.entries.pop(cid, None) is not None:
            self._save()

    def forget_batch(self, batch_id: str) -> None:
        self.entries = {k: v for k, v in self.entries.items() if v != batch_id}
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"version": 1, "requests": self.entries}, out, indent=0, sort_keys=True)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


@dataclass(frozen=True)
class BatchOutcome:
    """What a batch returned for one request: the provider's response object, or an error text."""

    response: Any = None
    error: str | None = None


@dataclass(frozen=True)
class BatchApi:
    """The provider's three batch operations, as plain async callables."""

    submit: Callable[[list[tuple[str, dict[str, Any]]]], Awaitable[str]]  # -> batch id
    status: Callable[[str], Awaitable[str]]  # -> "running" | "ended" | "failed"
    results: Callable[[str], Awaitable[dict[str, BatchOutcome]]]


class BatchQueue:
    """Gathers requests into batches, submits, polls, and hands each caller its own result."""

    def __init__(
        self,
        api: BatchApi,
        state: BatchState,
        *,
        window: float = 2.0,
        max_size: int = 10_000,
        poll_interval: float = 30.0,
        max_wait: float = 26 * 3600.0,
    ) -> None:
        self.api = api
        self.state = state
        self.window = window
        self.max_size = max_size
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.submitted_batches = 0
        self._pending: list[tuple[str, dict[str, Any], asyncio.Future[str]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._results: dict[str, asyncio.Task[dict[str, BatchOutcome]]] = {}
        self._lock = asyncio.Lock()

    async def run(self, params: dict[str, Any]) -> Any:
        """The provider's response to `params`, submitting it in a batch unless one already holds it."""
        cid = custom_id(params)
        batch_id = self.state.batch_of(cid)
        if batch_id is None:
            future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            async with self._lock:
                self._pending.append((cid, params, future))
                if len(self._pending) >= self.max_size:
                    await self._flush()
                elif self._flusher is None or self._flusher.done():
                    self._flusher = asyncio.create_task(self._flush_later())
            batch_id = await future
        outcomes = await self._outcomes(batch_id)
        outcome = outcomes.get(cid)
        if outcome is None or outcome.error is not None:
            self.state.forget(cid)  # stored as an error row now; a rerun submits this request again
            reason = "no result" if outcome is None else outcome.error
            raise BackendError(f"batch {batch_id}, request {cid}: {reason}")
        return outcome.response

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.window)
        async with self._lock:
            await self._flush()

    async def _flush(self) -> None:
        """Submit everything pending as one batch (called with the lock held)."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        unique: dict[str, dict[str, Any]] = {cid: params for cid, params, _ in batch}
        try:
            batch_id = await self.api.submit(list(unique.items()))
        except Exception as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.submitted_batches += 1
        self.state.record(batch_id, list(unique))
        for _, _, future in batch:
            if not future.done():
                future.set_result(batch_id)

    def _outcomes(self, batch_id: str) -> asyncio.Task[dict[str, BatchOutcome]]:
        task = self._results.get(batch_id)
        if task is None:
            task = asyncio.ensure_future(self._wait(batch_id))
            self._results[batch_id] = task
        return task

    async def _wait(self, batch_id: str) -> dict[str, BatchOutcome]:
        started = time.monotonic()
        while True:
            status = await self.api.status(batch_id)
            if status == "ended":
                return await self.api.results(batch_id)
            if status == "failed":
                self.state.forget_batch(batch_id)  # a rerun submits these requests again
                raise BackendError(f"batch {batch_id} failed, expired or was cancelled; run again to resubmit")
            if time.monotonic() - started > self.max_wait:
                raise BackendError(f"batch {batch_id} still running after {self.max_wait:.0f}s; run again later")
            await asyncio.sleep(self.poll_interval)

    async def aclose(self) -> None:
        """Stop waiting (submitted batches stay recorded in the side file) and reset for a new event loop."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        for task in self._results.values():
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._results.clear()
        self._pending.clear()
        self._flusher = None
        self._lock = asyncio.Lock()
