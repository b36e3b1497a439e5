"""best-of-n under a process reward model served over HTTP: the known-truth test, from a YAML config.

Real parts: the CLI, the config, the registry, the executor, the real SQLite store, and a real loopback
HTTP server speaking vLLM's Pooling API (prm_server.py) that knows every problem's answer and rewards
the steps of right candidates highly. The candidates come from the scripted backend, right with
probability 0.4 each, so most items have right and wrong candidates to choose between. Picking the
right one >= 95% of the time (where one exists) is what a working PRM path does; the inverted server
is the negative control (the same path must then pick a wrong one), and the PRM's reported tokens
must appear in every record's compute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prm_server import PlantedPRM
from typer.testing import CliRunner

from loopback_server import serve
from overthink.cli import app
from overthink.store import Store
from overthink.tasks.misleading_math import generate

N_ITEMS, BUDGETS, K = 40, "0,8,32", 4
TRUTH = {sample.prompt: sample.target for sample in generate(N_ITEMS, 0)}  # what `n: 40` draws with seed 0


def _config(tmp_path: Path, url: str, **prm: Any) -> Path:
    config = {
        "tasks": [{"name": "misleading_math", "n": N_ITEMS}],
        "models": [{"backend": "scripted", "name": "s", "options": {"accuracy": 0.4}}],
        "budgets": BUDGETS, "strategies": [f"best-of-n@{K},prm"], "store": str(tmp_path / "prm.db"),
        "verifiers": {"prm": {"base_urls": [url], "model": "planted-prm", "max_attempts": 2, **prm}},
    }
    path = tmp_path / "prm.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _sweep(tmp_path: Path, prm: PlantedPRM, **options: Any) -> list[dict[str, Any]]:
    """Run the config against the PRM; every record with its samples (`samples`)."""
    with serve(prm) as server:
        result = CliRunner().invoke(app, ["run", str(_config(tmp_path, server.url, **options)), "--quiet"])
        requests = [r for r in server.requests if r.path == "/pooling"]
    assert result.exit_code == 0, result.output
    assert prm.unknown == [] and requests, "the PRM was asked about the sweep's own problems"
    assert all(r.body["model"] == "planted-prm" and r.body["task"] == "token_classify" for r in requests)
    with Store(tmp_path / "prm.db", create=False) as store:
        rows = list(store.rows())
        samples = store.samples_of([r["key"] for r in rows])
    return [{**row, "samples": samples[row["key"]]} for row in rows]


def _pick_rate(rows: list[dict[str, Any]]) -> tuple[float, int]:
    """How often the record is right, among records whose candidates were neither all right nor all wrong."""
    mixed = [r for r in rows if 0 < sum(bool(s.correct) for s in r["samples"]) < K]
    return sum(bool(r["correct"]) for r in mixed) / len(mixed), len(mixed)


def test_a_prm_that_rewards_the_right_candidate_makes_best_of_n_pick_it(tmp_path: Path) -> None:
    prm = PlantedPRM(TRUTH)
    rows = _sweep(tmp_path, prm)
    assert len(rows) == N_ITEMS * 3 and {r["status"] for r in rows} == {"ok"}
    rate, mixed = _pick_rate(rows)
    assert mixed >= 60, mixed  # enough records with a real choice to make for the rate to mean something
    assert rate >= 0.95, rate
    any_right = [r for r in rows if any(s.correct for s in r["samples"])]
    assert sum(bool(r["correct"]) for r in any_right) / len(any_right) >= 0.95
    first = sum(bool(r["samples"][0].correct) for r in rows) / len(rows)
    assert first < 0.6  # without the PRM (the first candidate, a chain of thought) far fewer are right
    for row in rows:
        assert row["extra"]["verifier"] == "prm:planted-prm"
        assert len(row["extra"]["step_scores"]) == K and all(row["extra"]["step_scores"])
        assert row["extra"]["chosen"] == max(range(K), key=lambda i: row["extra"]["scores"][i])


def test_the_prms_reported_tokens_are_in_every_records_compute(tmp_path: Path) -> None:
    prm = PlantedPRM(TRUTH)
    rows = _sweep(tmp_path, prm)
    verifier = [s.verifier_tokens for r in rows for s in r["samples"]]
    assert sorted(verifier) == sorted(prm.reported)  # each candidate's judgement is one request's tokens
    assert sum(verifier) > 0
    for row in rows:
        samples = row["samples"]
        thinking_and_answers = sum(s.reasoning_tokens + s.answer_tokens for s in samples)
        assert row["compute_tokens"] == thinking_and_answers + sum(s.verifier_tokens for s in samples)
        assert all(s.verifier_generated == 0 for s in samples)  # a pooling model generates nothing
        assert row["extra"]["verifier_tokens"] == sum(s.verifier_tokens for s in samples)


def test_an_inverted_prm_makes_the_same_path_pick_a_wrong_candidate(tmp_path: Path) -> None:
    rows = _sweep(tmp_path, PlantedPRM(TRUTH, inverted=True), aggregate="last")
    rate, mixed = _pick_rate(rows)
    assert mixed >= 60 and rate <= 0.05, (rate, mixed)
    assert {r["extra"]["verifier"] for r in rows} == {"prm:planted-prm[last]"}
