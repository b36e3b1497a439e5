"""Preflight in-process: classified PreflightErrors before any store exists; busy servers only warn.

Real loopback servers (tests/loopback_server.py) and a real failing import; `run_experiment` is called
directly, as scripts and benchmarks call it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from loopback_server import Reply, Request, always, answer, closed_port, error, serve
from overthink.cli.resolve import run_experiment
from overthink.config import ExperimentConfig, ModelConfig, TaskConfig
from overthink.models.base import FailureKind, PreflightError
from overthink.models.scripted import ScriptedBackend
from overthink.runner.experiment import StopReason
from overthink.types import Budget


def _config(url: str, store: Path, backend: str = "openai-compat", **options: object) -> ExperimentConfig:
    return ExperimentConfig(
        experiment="p", mode="prompt", budgets=["0", "64"], store=str(store),
        tasks=[TaskConfig(name="misleading_math", n=2)],
        models=[ModelConfig(backend=backend, name="m", base_urls=[url],
                            options={"tokenizer": False, "max_attempts": 1, **options})],
    )


@pytest.mark.parametrize(("respond", "kind"), [
    (always(401, "bad key"), FailureKind.AUTH), (always(403, "forbidden"), FailureKind.AUTH),
    (always(404, "no such model"), FailureKind.NOT_FOUND), (always(400, "bad request"), FailureKind.BAD_REQUEST),
])
def test_definite_refusals_raise_a_classified_preflight_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              respond: object, kind: FailureKind) -> None:
    monkeypatch.delenv("OPENAI_COMPAT_API_KEY", raising=False)
    store = tmp_path / "p.db"
    with serve(respond) as server, pytest.raises(PreflightError) as caught:  # type: ignore[arg-type]
        run_experiment(_config(server.url, store))
    assert caught.value.kind is kind and "\n" not in str(caught.value)
    assert not store.exists()


def test_an_unreachable_server_is_a_connection_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_COMPAT_API_KEY", raising=False)
    store = tmp_path / "p.db"
    with pytest.raises(PreflightError) as caught:
        run_experiment(_config(f"http://127.0.0.1:{closed_port()}/v1", store))
    assert caught.value.kind is FailureKind.CONNECTION and not store.exists()


def test_a_missing_sdk_is_found_before_the_key_and_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # `import openai` now fails, as without the package
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    store = tmp_path / "p.db"
    config = ExperimentConfig(mode="native", budgets=["effort:low"], store=str(store),
                              models=[ModelConfig(backend="openai", name="o4-mini")])
    with pytest.raises(PreflightError) as caught:
        run_experiment(config)
    assert caught.value.kind is FailureKind.MISSING_SDK and 'pip install "overthink[openai]"' in str(caught.value)
    assert not store.exists()


def test_a_busy_server_at_start_only_warns_and_the_sweep_runs(tmp_path: Path, monkeypatch:
                                                              pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_COMPAT_API_KEY", raising=False)

    def busy_at_first(request: Request) -> Reply:
        if request.body.get("max_tokens") == 1:
            return error(503, "warming up")
        return answer(request)

    warned: list[str] = []
    with serve(busy_at_first) as server:
        report = run_experiment(_config(server.url, tmp_path / "p.db"), warn=warned.append)
    assert report.stop is StopReason.COMPLETED and report.exit_code == 0 and report.ok == 4
    assert warned == list(report.warnings) and len(warned) == 1 and "HTTP 503" in warned[0]


def test_backends_with_nothing_remote_pass_by_default() -> None:
    assert asyncio.run(ScriptedBackend().preflight([Budget.parse("0")])) is None
