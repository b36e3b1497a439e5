"""Retries, failover and secret hygiene against a fault-injecting HTTP server on loopback.

The server is a few lines of asyncio: it reads one request, finds "scenario:NAME" in the body and
misbehaves as that scenario says on the first attempts (429 with Retry-After, 500, a response slower
than the client's timeout, truncated JSON, a reset connection). The sweep runs through the real
executor and store, so "every item ends as a success or an error row, none lost, none duplicated"
is checked where it matters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from overthink.models.base import BackendError
from overthink.models.generation import GenerationConfig
from overthink.models.http import JsonClient
from overthink.models.remote.openai_compat import OpenAICompatBackend
from overthink.models.retry import RetryPolicy, Transient, parse_retry_after
from overthink.models.secrets import scrub
from overthink.prompts.render import request_for
from overthink.runner.execute import Executor
from overthink.runner.plan import plan_groups
from overthink.store import Store
from overthink.tasks.misleading_math import TASK, generate
from overthink.types import Budget, Mechanism

POLICY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, malformed_attempts=3, timeout=0.5)
SAMPLING = GenerationConfig(temperature=0.0, max_answer_tokens=8, natural_cap=16)

# scenario -> (expected status, expected attempts under POLICY)
EXPECTED = {
    "ok": ("ok", 1),
    "ratelimit": ("ok", 2),
    "flaky500": ("ok", 3),
    "slow": ("ok", 2),
    "reset": ("ok", 2),
    "truncated": ("error", 3),
    "down": ("error", 4),
    "badrequest": ("error", 1),
}


def chat_ok() -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "<think>\nx\n</think>\n<answer>3</answer>"},
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
    }


def claude_ok() -> dict[str, Any]:
    return {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "<answer>3</answer>"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 3},
    }


class FaultServer:
    """One scenario per request body; counts attempts and remembers every header it saw."""

    def __init__(self) -> None:
        self.attempts: dict[str, int] = defaultdict(int)
        self.times: dict[str, list[float]] = defaultdict(list)
        self.headers_seen: list[str] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}/v1"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            self.headers_seen.append(json.dumps(headers))
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            await self._respond(path, headers, body.decode(), writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _respond(self, path: str, headers: dict[str, str], body: str, writer: asyncio.StreamWriter) -> None:
        scenario = body.split("scenario:", 1)[1].split()[0].strip("\\\"',.") if "scenario:" in body else "ok"
        self.attempts[scenario] += 1
        self.times[scenario].append(time.monotonic())
        attempt = self.attempts[scenario]
        ok = claude_ok() if path.endswith("/messages") else chat_ok()
        key = headers.get("authorization", "") + headers.get("x-api-key", "")
        if scenario == "ratelimit" and attempt == 1:
            return self._send(writer, 429, {"error": "slow down"}, extra="Retry-After: 1\r\n")
        if scenario == "flaky500" and attempt <= 2:
            return self._send(writer, 500, {"error": "boom"})
        if scenario == "down":
            return self._send(writer, 503, {"error": f"unavailable for {key}"})
        if scenario == "slow" and attempt == 1:
            await asyncio.sleep(1.5)
        if scenario == "reset" and attempt == 1:
            writer.transport.abort()
            return None
        if scenario == "truncated":
            raw = json.dumps(ok)[:40].encode()
            return self._send_raw(writer, 200, raw)
        if scenario in {"badrequest", "echo"}:
            return self._send(
                writer,
                400,
                {"type": "error", "error": {"type": "invalid_request_error", "message": f"bad key {key} rejected"}},
            )
        return self._send(writer, 200, ok)

    def _send(self, writer: asyncio.StreamWriter, status: int, payload: dict[str, Any], extra: str = "") -> None:
        self._send_raw(writer, status, json.dumps(payload).encode(), extra)

    @staticmethod
    def _send_raw(writer: asyncio.StreamWriter, status: int, raw: bytes, extra: str = "") -> None:
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
            f"Connection: close\r\n{extra}\r\n"
        )
        writer.write(head.encode() + raw)


def _samples(names: list[str]) -> list[Any]:
    base = generate(len(names), 1)
    return [replace(s, prompt=f"scenario:{name} {s.prompt}") for s, name in zip(base, names, strict=True)]


async def _sweep(url: str, store: Store, names: list[str], **options: Any) -> OpenAICompatBackend:
    backend = OpenAICompatBackend.from_options("fault-model", base_urls=[url], tokenizer=False, **options)
    backend.client.policy = POLICY
    groups = plan_groups(
        experiment="faults",
        model=backend.model_id,
        task=TASK.name,
        task_version=TASK.version,
        samples=_samples(names),
        budgets=[Budget.parse("64", Mechanism.PROMPT)],
        strategy="cot",
        repeats=1,
        base_seed=0,
    )
    executor = Executor(backend, TASK, store, SAMPLING, concurrency=3)
    await executor.run(groups)
    await backend.aclose()
    return backend


def test_every_item_ends_as_success_or_error_with_the_policy_attempts(tmp_path: Path) -> None:
    names = list(EXPECTED)
    server = FaultServer()

    async def go() -> None:
        url = await server.start()
        with Store(tmp_path / "faults.db") as store:
            await _sweep(url, store, names)
            rows = list(store.rows())
        await server.stop()
        assert len(rows) == len(names) and len({r["key"] for r in rows}) == len(names)  # none lost or doubled
        by_scenario = {r["prompt"].split()[0].removeprefix("scenario:"): r for r in rows}
        for name, (status, attempts) in EXPECTED.items():
            assert by_scenario[name]["status"] == status, (name, by_scenario[name]["error"])
            assert server.attempts[name] == attempts, name
        assert "malformed response after 3 attempts" in by_scenario["truncated"]["error"]
        assert "gave up after 4 attempts" in by_scenario["down"]["error"]
        assert "HTTP 400" in by_scenario["badrequest"]["error"]
        waited = server.times["ratelimit"][1] - server.times["ratelimit"][0]
        assert waited >= 0.95  # Retry-After: 1 was honoured, not the 10 ms backoff

    asyncio.run(go())


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # closed again: connections are refused


def test_round_robin_fails_over_from_a_dead_replica() -> None:
    server = FaultServer()

    async def go() -> None:
        url = await server.start()
        client = JsonClient([_dead_url(), url], policy=POLICY)
        results = [await client.post("/chat/completions", {"messages": f"scenario:ok {i}"}) for i in range(4)]
        await client.aclose()
        await server.stop()
        assert all(r["choices"][0]["message"]["content"].endswith("</answer>") for r in results)
        assert server.attempts["ok"] == 4  # every request reached the live replica exactly once
        assert client.attempts.attempts == 5  # one refused connection, then the dead replica cools down

    asyncio.run(go())


def test_retry_after_parsing_and_jittered_backoff_bounds() -> None:
    import random

    assert parse_retry_after("3") == 3.0 and parse_retry_after("nonsense") is None and parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, max_retry_after=5.0)
    rng = random.Random(0)
    assert policy.delay(3, 30.0, rng) == 5.0  # a server's wait is honoured up to the cap
    delays = [policy.delay(attempt, None, rng) for attempt in range(1, 8) for _ in range(50)]
    assert all(0.0 <= d <= 8.0 for d in delays) and len(set(delays)) > 100  # jittered, capped
    assert isinstance(Transient("x", 1.0), Exception)


def test_canary_key_never_reaches_logs_errors_records_or_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    canary = "canary-7f3a9c2e5b1d48c6a0e4f2d9b7c5a3e1"  # not key-shaped: only registration hides it
    monkeypatch.setenv("OPENAI_COMPAT_API_KEY", canary)
    monkeypatch.setenv("ANTHROPIC_API_KEY", canary)
    caplog.set_level(logging.DEBUG)
    server = FaultServer()
    errors: list[str] = []

    async def go() -> None:
        url = await server.start()
        with Store(tmp_path / "canary.db") as store:
            await _sweep(url, store, ["echo", "down", "ok"])
            errors.extend(str(r["error"]) for r in store.rows() if r["error"])
        backend = OpenAICompatBackend.from_options("fault-model", base_urls=[url], tokenizer=False)
        backend.client.policy = POLICY
        request = request_for(_samples(["echo"])[0], Budget.parse("64", Mechanism.PROMPT), 1, SAMPLING)
        with pytest.raises(BackendError) as raised:
            await backend.generate(request)
        errors.append(str(raised.value))
        await backend.aclose()

        from overthink.models.hosted.anthropic import AnthropicBackend, AnthropicOptions

        claude = AnthropicBackend("claude-x", AnthropicOptions(base_url=url.removesuffix("/v1"), max_attempts=2))
        claude.call.policy = POLICY
        request = request_for(_samples(["echo"])[0], Budget.parse("0", Mechanism.NATIVE), 1, SAMPLING)
        with pytest.raises(BackendError) as raised:
            await claude.generate(request)
        errors.append(str(raised.value))
        await claude.aclose()
        await server.stop()

    asyncio.run(go())
    out, err = capfd.readouterr()
    assert any(canary in seen for seen in server.headers_seen), "the key must really have been sent"
    assert sum("rejected" in e for e in errors) >= 3, "the server echoed the key into these errors"
    texts = [*errors, caplog.text, out, err, (tmp_path / "canary.db").read_bytes().decode("latin-1")]
    for path in tmp_path.glob("canary.db*"):
        texts.append(path.read_bytes().decode("latin-1"))
    for text in texts:
        assert canary not in text
    assert scrub(f"x {canary} y") == "x *** y"
