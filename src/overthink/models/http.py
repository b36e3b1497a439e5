"""A JSON client over one or more replicas of a server, under the shared retry policy (retry.py).

Several base URLs (replicas of one deployment) are used round-robin; a failing replica is skipped for
a cool-down while the others carry the load.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from overthink.errors import UserError
from overthink.models.retry import AttemptLog, Malformed, RetryPolicy, classify_httpx, classify_status, with_retries


class UrlPool:
    """Round-robin over replicas; a replica that just failed is skipped for `cooldown` seconds."""

    def __init__(self, urls: Sequence[str], cooldown: float = 30.0) -> None:
        cleaned = [u.rstrip("/") for u in urls if u and u.strip()]
        if not cleaned:
            raise UserError("no base URL given; pass --base-url http://HOST:PORT/v1 (repeatable)")
        for url in cleaned:
            if not url.startswith(("http://", "https://")):
                raise UserError(f"base URL {url!r} must start with http:// or https://")
        self.urls = cleaned
        self.cooldown = cooldown
        self._next = 0
        self._failed_at: dict[str, float] = {}

    def pick(self) -> str:
        """The next healthy replica, or the one that failed longest ago when all are cooling down."""
        now = time.monotonic()
        for _ in range(len(self.urls)):
            url = self.urls[self._next % len(self.urls)]
            self._next += 1
            if now - self._failed_at.get(url, -1e18) >= self.cooldown:
                return url
        return min(self.urls, key=lambda u: self._failed_at.get(u, -1e18))

    def failed(self, url: str) -> None:
        if len(self.urls) > 1:
            self._failed_at[url] = time.monotonic()

    def succeeded(self, url: str) -> None:
        self._failed_at.pop(url, None)


class JsonClient:
    """POST JSON to one of several replicas with the retry policy; returns the parsed body."""

    def __init__(
        self,
        base_urls: Sequence[str],
        *,
        headers: dict[str, str] | None = None,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.pool = UrlPool(base_urls)
        self.policy = policy or RetryPolicy()
        self.attempts = AttemptLog()
        self._headers = dict(headers or {})
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        """The HTTP client of the running event loop (a sweep may run one loop per task; see aclose)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(headers=self._headers, transport=self._transport)
            self._loop = loop
        return self._client

    async def post(
        self,
        path: str,
        body: dict[str, Any],
        *,
        validate: Callable[[Any], None] | None = None,
        retry: bool = True,
        root: bool = False,
    ) -> dict[str, Any]:
        """The JSON object the server returned; `validate` raises Malformed on a body we cannot use.

        `root=True` addresses the server root rather than the API prefix (".../v1" stripped), where
        servers keep their tokenizer endpoints.
        """
        current: list[str] = []

        async def once() -> dict[str, Any]:
            url = self.pool.pick()
            current[:] = [url]
            base = url[: -len("/v1")] if root and url.endswith("/v1") else url
            timeout = httpx.Timeout(self.policy.timeout, connect=min(10.0, self.policy.timeout))
            response = await self._http().post(base + path, json=body, timeout=timeout)
            if response.status_code >= 400:
                raise classify_status(response.status_code, response.headers.get("retry-after"), response.text)
            try:
                data = json.loads(response.content)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise Malformed(f"response to {path} is not valid JSON ({type(exc).__name__})") from None
            if not isinstance(data, dict):
                raise Malformed(f"response to {path} is not a JSON object")
            if validate is not None:
                validate(data)
            self.pool.succeeded(url)
            return data

        def failed() -> None:
            if current:
                self.pool.failed(current[0])

        policy = (
            self.policy if retry else RetryPolicy(max_attempts=1, malformed_attempts=1, timeout=self.policy.timeout)
        )
        return await with_retries(once, policy, classify=classify_httpx, attempts=self.attempts, on_failure=failed)

    async def probe(self, url: str, path: str, body: dict[str, Any], *, timeout: float) -> None:
        """One attempt at one given replica, no retries, no cool-down: preflight's test request.

        An error status raises what `post` would classify it as (BackendError or Transient, with its kind);
        transport failures raise httpx's own exceptions, so the caller can tell "refused" from "slow".
        """
        limits = httpx.Timeout(timeout, connect=min(10.0, timeout))
        response = await self._http().post(url.rstrip("/") + path, json=body, timeout=limits)
        if response.status_code >= 400:
            raise classify_status(response.status_code, response.headers.get("retry-after"), response.text)

    async def aclose(self) -> None:
        """Close this loop's connections; the client stays usable and reconnects on the next request.

        A client made in another event loop (Inspect runs each eval in its own loop, then the caller
        closes from a new one) is only dropped: its sockets belong to that loop, and closing them from
        here raises "Event loop is closed"."""
        client, loop, self._client, self._loop = self._client, self._loop, None, None
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()
