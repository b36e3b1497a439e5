"""Re-running `overthink run` (or `overthink resume`) retries failed items against a real loopback server.

The server fails some prompts once (a transient outage) and some always (a broken item). Each run is
a real process; the server counts what it was asked, so "a spent item is not sent again" is checked
from the far side of the wire, not from the store's own account.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest


def _kind(content: str) -> str:
    """ok / flaky (fails its first request) / broken (always fails), fixed by a hash of the prompt."""
    return ("ok", "flaky", "broken")[int(hashlib.sha256(content.encode()).hexdigest(), 16) % 3]


class _Handler(BaseHTTPRequestHandler):
    calls: ClassVar[Counter[str]] = Counter()
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        if not self.path.endswith("/chat/completions"):
            self._send(404, {"error": "not here"})
            return
        content = str(body["messages"][-1]["content"])
        with self.lock:
            self.calls[content] += 1
            count = self.calls[content]
        kind = _kind(content)
        if kind == "broken" or (kind == "flaky" and count == 1):
            self._send(500, {"error": {"message": "injected failure"}})
            return
        self._send(200, {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                         "choices": [{"index": 0, "finish_reason": "stop", "message": {
                             "role": "assistant", "content": "<think>\nhm\n</think>\n<answer>3</answer>"}}],
                         "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}})

    def _send(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def faulty_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.calls = Counter()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _overthink(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="240", OPENAI_COMPAT_API_KEY="")
    result = subprocess.run([sys.executable, "-m", "overthink", *args], cwd=cwd, capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode in (0, 1), result.stderr  # 1 once runs that end with errors say so
    return result


def _state(store: Path) -> tuple[dict[str, tuple[str, float]], Counter[str]]:
    conn = sqlite3.connect(store)
    try:
        rows = {p: (s, t) for p, s, t in conn.execute("SELECT prompt, status, created_at FROM records")}
        attempts = Counter(p for (p,) in conn.execute(
            "SELECT r.prompt FROM attempts a JOIN records r ON r.key = a.key"))
    finally:
        conn.close()
    return rows, attempts


def test_rerun_and_resume_retry_failed_items_up_to_the_attempts_limit(tmp_path: Path, faulty_server: str) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text(
        "mode: prompt\nbudgets: [64]\ntasks: [{name: misleading_math, n: 12}]\n"
        f"models: [{{backend: openai-compat, name: m, base_urls: ['{faulty_server}'], concurrency: 2,\n"
        "           options: {max_attempts: 1, tokenizer: false}}]\n"  # no in-run retries: every 500 is an error
    )
    store = tmp_path / "r.db"
    _overthink(["run", str(config), "--store", str(store), "--quiet"], tmp_path)
    first, _ = _state(store)
    assert len(first) == 12
    sent = {prompt: next(c for c in _Handler.calls if prompt in c) for prompt in first}
    kinds = {prompt: _kind(content) for prompt, content in sent.items()}
    assert set(kinds.values()) == {"ok", "flaky", "broken"}, "pick another n: the hash missed a kind"
    assert {p for p, (s, _) in first.items() if s == "error"} == {p for p, k in kinds.items() if k != "ok"}

    _overthink(["run", str(config), "--store", str(store), "--quiet"], tmp_path)  # the same command again
    second, attempts = _state(store)
    assert {p for p, (s, _) in second.items() if s == "error"} == {p for p, k in kinds.items() if k == "broken"}
    assert all(second[p] == first[p] for p, k in kinds.items() if k == "ok")  # ok rows never rewritten

    _overthink(["resume", "--store", str(store), "--quiet"], tmp_path)  # attempt 3 of the broken items
    before = Counter(_Handler.calls)
    _overthink(["resume", "--store", str(store), "--quiet"], tmp_path)  # their attempts are spent
    assert _Handler.calls == before  # nothing was sent
    final, attempts = _state(store)
    assert len(final) == 12
    for prompt, kind in kinds.items():
        assert _Handler.calls[sent[prompt]] == {"ok": 1, "flaky": 2, "broken": 3}[kind]
        assert attempts[prompt] == {"ok": 0, "flaky": 1, "broken": 3}[kind]
        assert final[prompt][0] == ("error" if kind == "broken" else "ok")
