"""A served PRM that fails: its failures are error records of the items it failed, retried by re-runs.

The same real loopback server and CLI as the known-truth test, configured from the command line
(`--verifier-option`): a PRM that answers 500, one that drops its connections, one that answers with the
wrong number of step rewards, one that rejects the key and echoes it back -- each, but the 500, after
answering the run's preflight (a PRM that fails the preflight stops the run: test_prm_preflight.py).
None crashes the sweep; the key reaches the server and nothing else (not the store, not the output).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prm_server import PlantedPRM, chat_of, pooling_reply
from typer.testing import CliRunner

from loopback_server import Reply, Request, error, serve
from overthink.cli import app
from overthink.models.remote.reward_preflight import PREFLIGHT_PROBLEM
from overthink.store import Store
from overthink.tasks.misleading_math import generate

TRUTH = {sample.prompt: sample.target for sample in generate(3, 0)}
KEY = "prm-key-Zq9x7Wv3Lm"  # not shaped like a common API key: only registering it can scrub it


def _run(store: Path, url: str, *options: str) -> Any:
    args = ["run", "--backend", "scripted", "--task", "misleading_math", "--n", "3", "--budgets", "0,8",
            "--strategy", "best-of-n@2,prm", "--store", str(store), "--quiet",
            "--verifier-option", f"prm.base_urls={url}", "--verifier-option", "prm.max_attempts=1"]
    for option in options:
        args += ["--verifier-option", option]
    return CliRunner().invoke(app, args)


def _records(store: Path) -> list[dict[str, Any]]:
    with Store(store, create=False) as opened:
        return list(opened.rows())


def _failures(store: Path) -> set[tuple[str, str]]:
    """(status, failure kind) of every record, the kind from its attempts log."""
    with Store(store, create=False) as opened:
        kinds = {a["key"]: a["error_class"] for a in opened.attempts()}
        return {(r["status"], kinds.get(r["key"], "-")) for r in opened.rows()}


def test_a_failing_prm_gives_error_records_that_a_rerun_retries(tmp_path: Path) -> None:
    store, prm = tmp_path / "down.db", PlantedPRM(TRUTH, status=500)
    with serve(prm) as server:
        failed = _run(store, server.url)
        assert failed.exit_code == 1, failed.output  # items in error, not a crash (which would be another code)
        rows = _records(store)
        assert len(rows) == 6 and _failures(store) == {("error", "server")}
        assert all("HTTP 500" in r["error"] for r in rows)
        prm.status = 200  # the PRM is back: the same command retries the failed items
        again = _run(store, server.url)
    assert again.exit_code == 0, again.output
    rows = _records(store)
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok"}
    with Store(store, create=False) as opened:
        assert len(opened.attempts()) == 6  # each item's first failure is kept as an attempt


def _after_preflight(respond: Any) -> Any:
    """A server that answers the run's preflight as a healthy PRM and everything else with `respond`
    (a PRM that fails only once the sweep is under way; one that fails the preflight stops the run
    before anything is written: test_prm_preflight.py)."""
    healthy = PlantedPRM({})

    def serve_one(request: Request) -> Reply:
        if request.method != "POST" or chat_of(request)[0] == PREFLIGHT_PROBLEM:  # GET /v1/models: 404
            return healthy(request)
        return respond(request)  # type: ignore[no-any-return]

    return serve_one


def test_a_prm_that_drops_connections_is_a_connection_error_of_each_record(tmp_path: Path) -> None:
    def hang_up(request: Request) -> Reply:  # the connection closes without an answer
        raise ConnectionResetError("the PRM went away")

    store = tmp_path / "gone.db"
    with serve(_after_preflight(hang_up)) as server:
        result = _run(store, server.url)
    assert result.exit_code == 1, result.output
    assert _failures(store) == {("error", "connection")}


def test_rewards_that_are_not_one_per_step_are_a_malformed_error(tmp_path: Path) -> None:
    def one_too_many(request: Request) -> Reply:
        steps = request.body["messages"][-1]["content"].count("<extra_0>")
        return Reply(200, pooling_reply([0.5] * (steps + 1), 10))

    store = tmp_path / "bad.db"
    with serve(_after_preflight(one_too_many)) as server:
        result = _run(store, server.url)
    assert result.exit_code == 1, result.output
    rows = _records(store)
    assert _failures(store) == {("error", "malformed")}
    said = {r["budget"]: r["error"] for r in rows}
    assert "has 2 step rewards for 1 steps" in said["0"]  # budget 0: the answer is the only step
    assert "has 3 step rewards for 2 steps" in said["8"]  # the scripted reasoning is one more


def test_the_key_reaches_the_prm_and_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PRM_KEY", KEY)

    def reject(request: Request) -> Reply:  # a server that quotes what it was sent, key and all
        return error(401, f"rejected {request.headers.get('authorization')}")

    store = tmp_path / "key.db"
    with serve(_after_preflight(reject)) as server:
        result = _run(store, server.url, "prm.api_key_env=MY_PRM_KEY")
        sent = {r.headers.get("authorization") for r in server.requests}
    assert sent == {f"Bearer {KEY}"}
    assert result.exit_code == 1 and KEY not in result.output
    rows = _records(store)
    assert rows and _failures(store) == {("error", "auth")}
    assert all("rejected Bearer ***" in r["error"] for r in rows)
    assert KEY.encode() not in store.read_bytes()  # nor in any attempt or the saved configuration


def test_a_key_given_as_an_option_is_refused_before_anything_runs(tmp_path: Path) -> None:
    store = tmp_path / "never.db"
    result = _run(store, "http://127.0.0.1:9/v1", f"prm.api_key={KEY}")
    assert result.exit_code != 0 and not store.exists()
    message = str(result.exception)
    assert "verifier 'prm': api_key: Extra inputs are not permitted" in message and KEY not in message
