"""A served PRM answers a preflight before the sweep starts: what cannot work is one line, exit 2, no store.

Real loopback servers and a real port nothing listens on, through `python -m overthink run` in a child
process (so the exit code, stderr and the absence of a traceback are the console's own): a PRM that is
not there, a server that serves another model, a server without a pooling endpoint, one that answers
the pooling request with something else, one that rejects the key and quotes it back. A healthy PRM
(tests/strategies/prm_server.py) passes and the sweep runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from prm_server import PlantedPRM
from test_prm_failures import TRUTH

from loopback_server import Reply, Request, closed_port, error, serve

KEY = "prm-key-Qr8s6Tn2Wb"


def _run(store: Path, url: str, *options: str, more: tuple[str, ...] = (), **env: str
         ) -> subprocess.CompletedProcess[str]:
    args = ["run", "--backend", "scripted", "--task", "misleading_math", "--n", "3", "--budgets", "0,8",
            "--strategy", "best-of-n@2,prm", "--store", str(store), "--quiet",
            "--verifier-option", f"prm.base_urls={url}", "--verifier-option", "prm.max_attempts=1"]
    for option in options:
        args += ["--verifier-option", option]
    args += more
    code = "import sys\nfrom overthink.cli import main\nsys.argv = ['overthink', *sys.argv[1:]]\nmain()\n"
    environment = {**os.environ, "COLUMNS": "200", **env}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=store.parent, capture_output=True, text=True,
                          env=environment, timeout=120)


def _refused(result: subprocess.CompletedProcess[str], store: Path, *needles: str) -> str:
    """Exit 2, one line on stderr naming the verifier and holding every needle, no traceback, no store."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "verifier 'prm' (best-of-n@2,prm)" in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout and not store.exists()
    return lines[0]


def _listing(models: list[str], pooling: Any) -> Any:
    """A vLLM-like server: GET /v1/models lists `models`, everything else goes to `pooling`."""
    def respond(request: Request) -> Reply:
        if request.method == "GET" and request.path == "/v1/models":
            return Reply(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in models]})
        return pooling(request)  # type: ignore[no-any-return]

    return respond


def test_a_prm_that_is_not_there_exits_2_naming_the_verifier_and_url(tmp_path: Path) -> None:
    store, url = tmp_path / "gone.db", f"http://127.0.0.1:{closed_port()}/v1"
    _refused(_run(store, url), store, "server unreachable", url)


def test_a_model_the_server_does_not_serve_exits_2_listing_what_it_serves(tmp_path: Path) -> None:
    store = tmp_path / "model.db"
    with serve(_listing(["Qwen/Qwen2.5-Math-PRM-7B"], PlantedPRM(TRUTH))) as server:
        result = _run(store, server.url, "prm.model=Qwen/Qwen2.5-Math-PRM-72B")
        asked = [r.path for r in server.requests]
    _refused(result, store, "unknown model 'Qwen/Qwen2.5-Math-PRM-72B'", "Qwen/Qwen2.5-Math-PRM-7B", server.url)
    assert asked == ["/v1/models"]  # nothing else was sent: no candidate was generated or judged


def test_a_server_without_a_pooling_endpoint_exits_2(tmp_path: Path) -> None:
    store = tmp_path / "chat.db"

    def chat_only(request: Request) -> Reply:  # a generative server: no /pooling route
        return error(404, "Not Found")

    with serve(_listing(["some-chat-model"], chat_only)) as server:
        result = _run(store, server.url)
    _refused(result, store, "POST", "/pooling", "HTTP 404", "not a pooling endpoint")


def test_a_server_that_answers_pooling_with_something_else_exits_2(tmp_path: Path) -> None:
    store = tmp_path / "embed.db"

    def embeddings(request: Request) -> Reply:  # an embedding model's shape: one vector, no step rewards
        return Reply(200, {"object": "list", "data": [{"index": 0, "object": "embedding", "embedding": [0.1]}],
                           "usage": {"prompt_tokens": 5}})

    with serve(embeddings) as server:
        result = _run(store, server.url)
    _refused(result, store, "did not answer as a Pooling API", "step_separator")


def test_a_rejected_key_exits_2_and_the_key_is_never_printed(tmp_path: Path) -> None:
    store = tmp_path / "key.db"

    def reject(request: Request) -> Reply:  # quotes what it was sent, key and all
        return error(401, f"rejected {request.headers.get('authorization')}")

    with serve(reject) as server:
        result = _run(store, server.url, "prm.api_key_env=MY_PRM_KEY", MY_PRM_KEY=KEY)
        sent = {r.headers.get("authorization") for r in server.requests}
    assert sent == {f"Bearer {KEY}"}  # the key did reach the server
    _refused(result, store, "key was rejected", "HTTP 401")
    assert KEY not in result.stderr + result.stdout


def test_a_healthy_prm_passes_and_a_busy_one_warns_and_the_sweep_runs(tmp_path: Path) -> None:
    healthy, busy = PlantedPRM(TRUTH), PlantedPRM(TRUTH, status=503)
    with serve(_listing(["prm"], healthy)) as server:
        ok = _run(tmp_path / "ok.db", server.url, "prm.model=prm")
    assert ok.returncode == 0, ok.stderr
    assert len(healthy.reported) == 3 * 2 * 2  # items x budgets x candidates: the preflight is not counted
    with serve(busy) as server:
        warned = _run(tmp_path / "busy.db", server.url)
    assert warned.returncode == 1 and (tmp_path / "busy.db").exists()  # error records, not a refusal
    assert "preflight: verifier 'prm' (best-of-n@2,prm)" in warned.stderr + warned.stdout
    assert "HTTP 503" in warned.stderr + warned.stdout


def test_the_spending_cap_counts_the_prms_tokens(tmp_path: Path) -> None:
    import json

    from overthink.store import Store

    prm = PlantedPRM(TRUTH)
    store = tmp_path / "spent.db"
    with serve(prm) as server:
        ran = _run(store, server.url, more=("--max-tokens", "1000000", "--json"))
    assert ran.returncode == 0, ran.stderr
    with Store(store, create=False) as opened:
        rows = list(opened.rows())
    generated = sum(r["input_tokens"] + r["total_generated"] for r in rows)
    assert json.loads(ran.stdout)["spent"] == f"spent {generated + sum(prm.reported)} tokens"
