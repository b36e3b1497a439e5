"""Preflight through the real console script: a sweep that cannot work exits 2 with one line and no store.

Each case is a real failure: a loopback server answering 401 (or 404) to everything, a port nothing listens
on, an SDK whose import fails (`sys.modules["openai"] = None` in the child process), a missing key. The
openai and anthropic cases run the real SDKs against the loopback server through --base-url.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopback_server import Reply, Request, always, answer, closed_port, error, serve

SECRET = "sk-loopback-secret-0123456789abcdef"


def _overthink(args: list[str], cwd: Path, *, prelude: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m overthink ARGS`, optionally after `prelude` (Python run first in the same process)."""
    code = f"import sys\n{prelude}\nfrom overthink.cli import main\nsys.argv = ['overthink', *sys.argv[1:]]\nmain()\n"
    environment = {**os.environ, "COLUMNS": "60", "OPENAI_COMPAT_API_KEY": "", **env}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=120)


def _compat(url: str, store: Path, *more: str) -> list[str]:
    return ["run", "--backend", "openai-compat", "--model", "m", "--base-url", url, "--mode", "prompt",
            "--budgets", "0,64", "--n", "2", "--store", str(store), "--quiet", *more]


def _refused(result: subprocess.CompletedProcess[str], store: Path, *needles: str) -> str:
    """Exit 2, exactly one line on stderr holding every needle, nothing on stdout, no store, no secret."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert result.stdout == "" and not store.exists()
    assert SECRET not in result.stderr + result.stdout
    return lines[0]


def test_a_rejected_key_exits_2_before_the_store_exists(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    with serve(always(401, f"invalid api key {SECRET}")) as server:
        result = _overthink(_compat(server.url, store), tmp_path, OPENAI_COMPAT_API_KEY=SECRET)
        assert len(server.generations()) == 1  # one test request, not one per item
    _refused(result, store, "key was rejected", "HTTP 401", "OPENAI_COMPAT_API_KEY")


def test_no_key_sent_to_a_server_that_wants_one_says_how_to_give_it(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    with serve(always(403, "forbidden")) as server:
        result = _overthink(_compat(server.url, store), tmp_path)
    _refused(result, store, "no key was sent", "set OPENAI_COMPAT_API_KEY")


def test_an_unknown_model_exits_2(tmp_path: Path) -> None:
    store = tmp_path / "r.db"

    def vllm(request: Request) -> Reply:  # vLLM's answer to a model it does not serve
        if request.body.get("model") != "served-model":
            return error(404, f"The model `{request.body.get('model')}` does not exist.")
        return answer(request)

    with serve(vllm) as server:
        result = _overthink(_compat(server.url, store), tmp_path)
        ok = _overthink(_compat(server.url, tmp_path / "ok.db", "--mode", "forced", "--budgets", "0"), tmp_path)
        paths = [r.path for r in server.requests if r.body.get("max_tokens") == 1]
    _refused(result, store, "unknown model 'm'", "HTTP 404")
    assert ok.returncode == 2 and "unknown model" in ok.stderr  # forced budgets probe /completions instead
    assert paths == ["/v1/chat/completions", "/v1/completions"]


def test_an_unreachable_server_exits_2(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    url = f"http://127.0.0.1:{closed_port()}/v1"
    result = _overthink(_compat(url, store), tmp_path)
    _refused(result, store, "server unreachable", url)


def test_one_dead_replica_among_several_is_named(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    with serve(answer) as server:
        result = _overthink(_compat(server.url, store, "--base-url", dead), tmp_path)
    assert dead in _refused(result, store, "server unreachable")


def test_a_missing_sdk_exits_2_with_the_install_command(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    args = ["run", "--backend", "openai", "--model", "o4-mini", "--mode", "native", "--budgets", "effort:low",
            "--n", "2", "--store", str(store), "--quiet"]
    result = _overthink(args, tmp_path, prelude="sys.modules['openai'] = None", OPENAI_API_KEY=SECRET)
    _refused(result, store, 'pip install "overthink[openai]"')


def test_a_missing_key_exits_2(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    args = ["run", "--backend", "anthropic", "--model", "claude-x", "--mode", "native", "--budgets", "0",
            "--n", "1", "--store", str(store), "--quiet"]
    _refused(_overthink(args, tmp_path, ANTHROPIC_API_KEY=""), store, "ANTHROPIC_API_KEY")


@pytest.mark.parametrize(("backend", "status", "needle"), [
    ("openai", 401, "key was rejected"), ("openai", 404, "unknown model"),
    ("anthropic", 401, "key was rejected"), ("anthropic", 404, "unknown model"),
])
def test_hosted_sdks_against_a_server_that_refuses(tmp_path: Path, backend: str, status: int, needle: str) -> None:
    pytest.importorskip(backend)
    store = tmp_path / "r.db"
    with serve(always(status, f"no, {SECRET}")) as server:
        base = server.url if backend == "openai" else server.url.removesuffix("/v1")
        budget = "effort:low" if backend == "openai" else "0"
        args = ["run", "--backend", backend, "--model", "some-model", "--mode", "native", "--budgets", budget,
                "--n", "2", "--base-url", base, "--store", str(store), "--quiet"]
        key = "OPENAI_API_KEY" if backend == "openai" else "ANTHROPIC_API_KEY"
        result = _overthink(args, tmp_path, **{key: SECRET})
        assert [r.method for r in server.requests] == ["GET"]  # models.retrieve: free, nothing generated
    _refused(result, store, needle, f"HTTP {status}")
