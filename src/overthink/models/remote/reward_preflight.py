"""Preflight of a served PRM: one small question to each replica before the sweep starts.

Without it, a PRM that is not there, a wrong model name or a URL that is not a pooling endpoint shows
up only as error records, one per best-of-n record, after the generating model has already spent
its compute on the candidates. Here each replica is asked, in order:

1. `GET {root}/v1/models`, when the server lists its models (vLLM does): a named `model` it does not
   serve is an unknown model, and the line lists what it serves. A server without the listing
   (404 / 405 / not JSON) skips this step; a refused connection is "unreachable".
2. `POST {root}{endpoint}` with a two-step solution to a known problem: a 404 or 405 means the URL is
   not a pooling endpoint (or, on a server that does not list models, not the model named); a
   rejected key, any other refusal, or an answer that is not one reward per step (the wrong
   `step_separator` or `task`, a generative model's reply) stops the run too.

What no waiting can heal stops the run (PreflightError: exit 2, one line naming the verifier and the
URL, nothing written); a busy or failing server (429, 5xx, a timeout) is no proof, and gives a
warning instead (the sweep's failed records and the circuit breaker take it from there). Server
text is scrubbed of registered secrets and cut to one line; URLs are shown without credentials.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from overthink.models.base import BackendError, FailureKind, PreflightError
from overthink.models.preflight import PREFLIGHT_TIMEOUT, one_line
from overthink.models.retry import Malformed, Transient, classify_httpx, classify_status

__all__ = ["PREFLIGHT_PROBLEM", "PREFLIGHT_STEPS", "ServedPRM", "preflight_prm", "shown_url"]

PREFLIGHT_PROBLEM = "What is 1 + 1?"
PREFLIGHT_STEPS = ("1 + 1 = 2.", "Final answer: 2")


class ServedPRM(Protocol):
    """What preflight needs of a served PRM (reward.py's PoolingRewardModel)."""

    model: str | None
    endpoint: str
    headers: dict[str, str]

    @property
    def urls(self) -> list[str]: ...

    @property
    def timeout(self) -> float: ...

    def body(self, problem: str, steps: Sequence[str]) -> dict[str, Any]: ...

    def read(self, data: Any, steps: int) -> None:
        """Raise Malformed unless `data` is a Pooling API answer with one reward per step and its tokens."""


def shown_url(url: str) -> str:
    """A URL as it may be printed: no user, password, query or fragment (they can carry a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _root(url: str) -> str:
    base = url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


async def _request(client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any] | None,
                   timeout: float) -> Any:
    """The JSON body of one request (None when it is not JSON); an error status raises its classified error."""
    limits = httpx.Timeout(timeout, connect=min(10.0, timeout))
    response = await client.request(method, url, json=body, timeout=limits)
    if response.status_code >= 400:
        raise classify_status(response.status_code, response.headers.get("retry-after"), response.text)
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


async def _served_models(client: httpx.AsyncClient, root: str, timeout: float) -> list[str] | None:
    """The model ids the server lists, None when it has no OpenAI-style listing."""
    try:
        data = await _request(client, "GET", root + "/v1/models", None, timeout)
    except BackendError as exc:
        if exc.kind in (FailureKind.NOT_FOUND, FailureKind.BAD_REQUEST):  # no listing (404, 405): not asked
            return None
        raise
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    return [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]


async def _check(reward: ServedPRM, client: httpx.AsyncClient, url: str, where: str,
                 timeout: float) -> None:
    """One replica's two questions; raises PreflightError, or the transport / status error to classify."""
    root = _root(url)
    served = await _served_models(client, root, timeout)
    if served is not None and reward.model is not None and reward.model not in served:
        listed = ", ".join(served[:8]) or "none"
        raise PreflightError(f"{where}: unknown model {reward.model!r} (the server serves: {one_line(listed)}); "
                             "set prm.model", FailureKind.NOT_FOUND)
    target = shown_url(root + reward.endpoint)
    try:
        data = await _request(client, "POST", root + reward.endpoint,
                              reward.body(PREFLIGHT_PROBLEM, PREFLIGHT_STEPS), timeout)
    except BackendError as exc:
        status = str(exc).split(":", 1)[0]
        if exc.kind is FailureKind.NOT_FOUND or status == "HTTP 405":
            raise PreflightError(
                f"{where}: POST {target} answered {one_line(str(exc))}: not a pooling endpoint"
                + ("" if served is not None else " or not the model named")
                + " (serve a reward model with a Pooling API, e.g. vllm serve Qwen/Qwen2.5-Math-PRM-7B, "
                  "or set prm.endpoint)", FailureKind.NOT_FOUND) from None
        raise
    try:
        if data is None:
            raise Malformed("the answer is not JSON")
        reward.read(data, len(PREFLIGHT_STEPS))
    except Malformed as exc:
        raise PreflightError(f"{where}: POST {target} did not answer as a Pooling API with one reward per step "
                             f"({one_line(str(exc))}); check prm.step_separator, prm.task and prm.endpoint",
                             FailureKind.MALFORMED) from None


def _decide(error: BaseException, where: str) -> str:
    """PreflightError for what cannot heal; the warning line for a busy or failing server."""
    if isinstance(error, PreflightError):
        raise error
    classified = classify_httpx(error)
    if isinstance(error, httpx.ConnectTimeout):
        classified = Transient("connection timed out", kind=FailureKind.CONNECTION)
    kind = getattr(classified, "kind", FailureKind.BACKEND)
    detail = one_line(str(classified) or type(classified).__name__)
    if kind is FailureKind.CONNECTION:
        raise PreflightError(f"{where}: server unreachable ({detail}); is it running, and is the URL right?", kind)
    if kind is FailureKind.AUTH:
        raise PreflightError(f"{where}: the key was rejected ({detail}); the PRM's key comes from the environment "
                             "variable named by prm.api_key_env (default OVERTHINK_PRM_API_KEY) or prm.key_file",
                             kind)
    if isinstance(classified, BackendError):
        raise PreflightError(f"{where}: the pooling test request was refused ({detail}); is the served model a "
                             "process reward model?", kind)
    return f"preflight: {where}: {detail}; starting anyway (failed records show if this persists)"


async def preflight_prm(reward: ServedPRM, label: str) -> str | None:
    """Ask every replica of a served PRM; raises PreflightError, returns the warnings of inconclusive ones."""
    timeout = min(PREFLIGHT_TIMEOUT, reward.timeout)
    warnings: list[str] = []
    async with httpx.AsyncClient(headers=reward.headers) as client:
        for url in reward.urls:
            where = f"verifier {label} at {shown_url(url)}"
            try:
                await _check(reward, client, url, where, timeout)
            except Exception as exc:  # classified: raises PreflightError, or gives a warning
                warnings.append(_decide(exc, where))
    return "; ".join(warnings) or None
