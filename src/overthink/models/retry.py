"""The retry policy every remote backend shares: what is transient, how long to wait, when to give up.

A sweep of thousands of requests meets every kind of transient failure: rate limits (429 with
Retry-After), overloaded servers (5xx), timeouts and dropped connections. Those are retried with
exponential backoff and full jitter, so many workers do not retry in lockstep. A response that arrives
but cannot be understood (truncated JSON, missing fields) is retried only a bounded number of times and
then becomes `BackendError(retryable=False)`, which the runner stores as an error row: the sweep goes
on, no item is lost. Failures of httpx (JSON client, http.py) and of the official SDKs (hosted/) are
classified onto the same three outcomes. Every message passes through `secrets.scrub`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from overthink.errors import UserError
from overthink.models.base import BackendError, FailureKind
from overthink.models.secrets import scrub

T = TypeVar("T")
log = logging.getLogger("overthink.http")

# ------------------------------------------------------------------------------------------------ policy


class Malformed(Exception):
    """The server answered, but with something we cannot use (bad JSON, missing fields)."""


class Transient(Exception):
    """A failure worth retrying; `retry_after` is the server's requested wait in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None,
                 kind: FailureKind = FailureKind.SERVER) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.kind = kind


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and waits. Defaults suit hosted APIs; tests shrink the delays to milliseconds."""

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 300.0
    malformed_attempts: int = 3
    timeout: float = 600.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Wait before attempt `attempt + 1`: the server's Retry-After if given, else full jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(0.0, ceiling)


@dataclass
class AttemptLog:
    """Counts of what happened, for tests and the progress line (not persisted)."""

    attempts: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


Sleep = Callable[[float], Awaitable[None]]


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    classify: Callable[[BaseException], BaseException],
    attempts: AttemptLog | None = None,
    rng: random.Random | None = None,
    sleep: Sleep = asyncio.sleep,
    on_failure: Callable[[], None] | None = None,
) -> T:
    """Run `operation` until it succeeds or the policy gives up.

    `classify` turns any exception into `Transient` (retry), `Malformed` (retry a bounded number of
    times) or anything else (give up at once). The final error is a `BackendError` with a scrubbed
    message; `retryable=False` tells the runner to store an error row rather than try again.
    """
    log_ = attempts if attempts is not None else AttemptLog()
    rng = rng or random.Random()
    malformed = 0
    attempt = 0
    while True:
        attempt += 1
        log_.attempts += 1
        try:
            return await operation()
        except (asyncio.CancelledError, UserError):
            raise
        except Exception as raw:  # classified below; nothing escapes unscrubbed
            error = classify(raw)
            if on_failure is not None and isinstance(error, Transient):
                on_failure()  # only an unavailable replica is put on cool-down, not a rejected request
            if isinstance(error, BackendError):
                raise BackendError(scrub(str(error)), retryable=False, kind=error.kind) from None
            if isinstance(error, Malformed):
                malformed += 1
                log_.note("malformed")
                if malformed >= policy.malformed_attempts:
                    raise BackendError(scrub(f"malformed response after {malformed} attempts: {error}"),
                                       retryable=False, kind=FailureKind.MALFORMED) from None
                retry_after, kind = None, FailureKind.MALFORMED
            elif isinstance(error, Transient):
                log_.note("transient")
                retry_after, kind = error.retry_after, error.kind
            else:
                kind = FailureKind.MISSING_SDK if isinstance(error, ImportError) else FailureKind.BACKEND
                raise BackendError(scrub(f"{type(error).__name__}: {error}"), retryable=False, kind=kind) from None
            if attempt >= policy.max_attempts:
                raise BackendError(scrub(f"gave up after {attempt} attempts: {error}"), retryable=False,
                                   kind=kind) from None
            wait = policy.delay(attempt, retry_after, rng)
            log_.retries += 1
            log.warning("%s", scrub(f"attempt {attempt} failed ({error}); retrying in {wait:.2f}s"))
            await sleep(wait)


# ------------------------------------------------------------------------------------- classification


def classify_httpx(error: BaseException) -> BaseException:
    """Map httpx failures and HTTP statuses onto the retry policy's three outcomes."""
    if isinstance(error, (Transient, Malformed, BackendError)):
        return error
    if isinstance(error, httpx.TimeoutException):
        return Transient(f"timeout ({type(error).__name__})", kind=FailureKind.TIMEOUT)
    if isinstance(error, httpx.TransportError):  # connection refused/reset, dropped mid-body
        return Transient(f"connection failed ({type(error).__name__})", kind=FailureKind.CONNECTION)
    if isinstance(error, httpx.HTTPStatusError):
        return classify_status(
            error.response.status_code, error.response.headers.get("retry-after"), error.response.text
        )
    if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
        return Malformed(f"response is not valid JSON ({type(error).__name__})")
    return error


def classify_status(status: int, retry_after: str | None, body: str) -> BaseException:
    """429 and 5xx are transient; 408 too; any other 4xx is the request's fault and final."""
    snippet = scrub(body[:300].replace("\n", " "))
    if status == 429 or status == 408 or status >= 500:
        kind = {429: FailureKind.RATE_LIMIT, 408: FailureKind.TIMEOUT}.get(status, FailureKind.SERVER)
        return Transient(f"HTTP {status}", parse_retry_after(retry_after), kind=kind)
    kind = {401: FailureKind.AUTH, 403: FailureKind.AUTH, 404: FailureKind.NOT_FOUND}.get(status,
                                                                                      FailureKind.BAD_REQUEST)
    return BackendError(f"HTTP {status}: {snippet}", kind=kind)


def classify_sdk(error: BaseException) -> BaseException:
    """The same three outcomes for the official SDKs' exceptions (Anthropic and OpenAI share their shape).

    Duck-typed on the SDKs' class names and attributes so this module imports neither SDK.
    """
    if isinstance(error, (Transient, Malformed, BackendError)):
        return error
    name = type(error).__name__
    if name == "APITimeoutError":
        return Transient(name, kind=FailureKind.TIMEOUT)
    if name == "APIConnectionError":
        return Transient(name, kind=FailureKind.CONNECTION)
    if name == "APIResponseValidationError":
        return Malformed("response did not match the API schema")
    status = getattr(error, "status_code", None)
    response = getattr(error, "response", None)
    if isinstance(status, int) and response is not None:
        headers = getattr(response, "headers", {}) or {}
        return classify_status(status, headers.get("retry-after"), str(getattr(error, "message", "")))
    if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
        return Malformed(f"response could not be parsed ({name})")
    if name == "ValidationError":  # pydantic, when an SDK meets a body it cannot model
        return Malformed("response did not match the API schema")
    return classify_httpx(error)
