"""Every failure leaves the retry policy with a kind (auth, not_found, server, ...) the runner can act on."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from overthink.models.base import BackendError, FailureKind
from overthink.models.retry import RetryPolicy, classify_httpx, classify_status, with_retries

POLICY = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, malformed_attempts=2)


@pytest.mark.parametrize(("status", "kind"), [
    (401, FailureKind.AUTH), (403, FailureKind.AUTH), (404, FailureKind.NOT_FOUND), (400, FailureKind.BAD_REQUEST),
    (422, FailureKind.BAD_REQUEST), (429, FailureKind.RATE_LIMIT), (408, FailureKind.TIMEOUT),
    (500, FailureKind.SERVER), (503, FailureKind.SERVER),
])
def test_a_status_keeps_its_kind_through_the_retries(status: int, kind: FailureKind) -> None:
    calls = []

    async def once() -> None:
        calls.append(1)
        raise classify_status(status, None, "body")

    with pytest.raises(BackendError) as caught:
        asyncio.run(with_retries(once, POLICY, classify=classify_httpx, sleep=lambda s: asyncio.sleep(0)))
    assert caught.value.kind is kind
    assert len(calls) == (2 if status in (408, 429, 500, 503) else 1)  # only transient ones are retried


@pytest.mark.parametrize(("raised", "kind"), [
    (httpx.ConnectError("refused"), FailureKind.CONNECTION),
    (httpx.ReadTimeout("slow"), FailureKind.TIMEOUT),
    (ModuleNotFoundError("No module named 'openai'"), FailureKind.MISSING_SDK),
    (ValueError("odd"), FailureKind.BACKEND),
])
def test_transport_failures_and_a_missing_sdk_are_classified(raised: Exception, kind: FailureKind) -> None:
    async def once() -> None:
        raise raised

    with pytest.raises(BackendError) as caught:
        asyncio.run(with_retries(once, POLICY, classify=classify_httpx, sleep=lambda s: asyncio.sleep(0)))
    assert caught.value.kind is kind
