"""A scriptable OpenAI-compatible HTTP server on 127.0.0.1, for tests that need a real server.

Real sockets, real HTTP: the backends, retries, preflight and the circuit breaker meet exactly what a
misbehaving vLLM or hosted API would send them. A test passes a `respond(request) -> Reply` function;
helpers build the usual answers (`chat_ok`, `completion_ok`) and the usual faults (`always`, `fail_after`).
Every request is recorded (path, headers, body) so tests can check what reached the server.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def generates(self) -> bool:
        """A generation request (chat or raw completion), not a tokenizer or model-list probe."""
        return self.method == "POST" and self.path.endswith(("/chat/completions", "/completions"))

    @property
    def text(self) -> str:
        return json.dumps(self.body)


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


Respond = Callable[[Request], Reply]


def chat_ok(content: str = "<think>\nhm\n</think>\n<answer>1</answer>") -> dict[str, Any]:
    return {
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
    }


def completion_ok(text: str = "1") -> dict[str, Any]:
    return {
        "id": "t", "object": "text_completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21},
    }


def error(status: int, message: str) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "error", "code": status}})


def answer(request: Request) -> Reply:
    """What a healthy server sends: a chat or raw completion; 404 for anything else (no tokenizer)."""
    if request.method == "POST" and request.path.endswith("/chat/completions"):
        return Reply(200, chat_ok())
    if request.method == "POST" and request.path.endswith("/completions"):
        return Reply(200, completion_ok())
    return error(404, f"no route {request.path}")


def always(status: int, message: str = "rejected") -> Respond:
    """Every request gets this status (401: a rejected key, 404: an unknown model, 500: a broken server)."""
    return lambda request: error(status, message)


def fail_after(successes: int, status: int = 500) -> Respond:
    """Healthy for the first `successes` generation requests, then `status` for every request."""
    lock = threading.Lock()
    seen = [0]

    def respond(request: Request) -> Reply:
        if not request.generates:
            return answer(request)
        with lock:
            seen[0] += 1
            healthy = seen[0] <= successes
        return answer(request) if healthy else error(status, "the server broke")

    return respond


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 resets connections when dozens of workers connect at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a cancelled request) is not the server's error: no traceback on stderr."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LoopbackServer:
    """A running server: `url` ends in /v1; `requests` holds every request in arrival order."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        handler = self._handler_class()
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def generations(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.generates]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except json.JSONDecodeError:
                    body = {"raw": raw.decode(errors="replace")}
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                  body if isinstance(body, dict) else {"body": body})
                with server._lock:
                    server.requests.append(request)
                reply = server.respond(request)
                data = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def serve(respond: Respond = answer) -> Iterator[LoopbackServer]:
    with LoopbackServer(respond) as server:
        yield server


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
