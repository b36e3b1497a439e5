"""`overthink import inspect`: real Inspect logs (mockllm, offline) become records that analyze and gate read."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("inspect_ai")

from inspect_ai import Task, task
from inspect_ai.dataset import Sample as InspectSample
from inspect_ai.log import read_eval_log
from inspect_ai.model import GenerateConfig, ModelOutput
from inspect_ai.scorer import Score as InspectScore
from inspect_ai.scorer import Target, accuracy, match, scorer
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver
from mock_logs import REPO, output, overthink_cli, run_eval
from typer.testing import CliRunner

from overthink.cli import app
from overthink.errors import UserError
from overthink.registry import TASKS
from overthink.store import StoreError

runner = CliRunner()
LONG = "Let me work through this one step at a time and check every step twice. " * 8  # > attachment size


def _invoke(*args: str) -> tuple[int, str]:
    """Exit code as the console script gives it (UserError/StoreError -> 2) and the output."""
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    if isinstance(result.exception, (UserError, StoreError)):
        return 2, str(result.exception)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _import(store: Path, *paths: Path | str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    code, out = _invoke("import", "inspect", *map(str, paths), "--store", str(store), "--json", "--quiet", *extra)
    assert code == 0, out
    return dict(json.loads(out[out.index("{"):]))


def _rows(store: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(store)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM records ORDER BY task, sample_id, budget, repeat")]
    conn.close()
    for row in rows:
        for column in ("metadata", "extra", "score_details"):
            row[column] = json.loads(row[column]) if row[column] else None
    return rows


def _table(store: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(store)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _item(prompt: str) -> int:
    return int(prompt.split(":")[0].split()[-1])


# ------------------------------------------------------------------------------------------- toy logs

TOY = [InspectSample(input=f"Item {i}: what is {i} + 1?", target=str(i + 1), id=f"q{i}",
                     metadata={"level": "easy" if i % 2 else "hard", "note": f"n{i}", "tags": ["x"]})
       for i in range(6)]


def toy_script(prompt: str, config: GenerateConfig) -> ModelOutput:
    """Right but for item 5; item 4 runs out of tokens; the reasoning is long (an attachment in events)."""
    i = _item(prompt)
    answer = f"The answer is {i + 1}" if i != 5 else "The answer is 0"
    return output(answer, reasoning=f"{LONG}Item {i}.", reasoning_tokens=config.reasoning_tokens,
                  stop="max_tokens" if i == 4 else "stop")


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("toy")
    return {fmt: run_eval(folder / fmt, TOY, toy_script, log_format=fmt, reasoning_tokens=256, epochs=2)
            for fmt in ("eval", "json")}


def test_eval_and_json_logs_give_the_same_records(toy: dict[str, Path], tmp_path: Path) -> None:
    stores = {}
    for fmt, log in toy.items():
        stores[fmt] = tmp_path / f"{fmt}.db"
        report = _import(stores[fmt], log)
        assert (report["files"], report["samples"], report["records"]) == (1, 12, {"ok": 12, "error": 0})
        assert report["tasks"] == ["toy"] and report["models"] == ["mockllm/model"] and report["budgets"] == ["256"]
    rows = _rows(stores["eval"])
    by = {(r["sample_id"], r["repeat"]): r for r in rows}
    assert set(by) == {(f"q{i}", e) for i in range(6) for e in (0, 1)}  # repeat = epoch - 1
    first = by[("q1", 0)]
    assert (first["experiment"], first["model"], first["task"], first["task_version"]) == \
        ("inspect", "mockllm/model", "toy", "0")
    assert (first["budget"], first["budget_kind"], first["requested_tokens"], first["mechanism"]) == \
        ("256", "tokens", 256, "native")
    assert (first["reasoning_tokens"], first["reasoning_source"]) == (256, "api")
    assert first["reasoning"] == f"{LONG}Item 1." and first["answer_text"] == "The answer is 2"
    assert "attachment://" not in first["reasoning"]
    assert (first["score"], first["correct"], first["finish_reason"], first["extra"]["censored"]) == \
        (1.0, 1, "stop", False)
    assert first["metadata"] == {"level": "easy", "note": "n1"}  # scalars only
    assert first["wall_time_s"] >= 0 and first["prompt"] == "Item 1: what is 1 + 1?" and first["target"] == "2"
    assert (by[("q5", 1)]["score"], by[("q5", 1)]["correct"]) == (0.0, 0)
    cut = by[("q4", 0)]
    assert (cut["finish_reason"], cut["extra"]["censored"], cut["extra"]["stop_reason"]) == \
        ("length", True, "max_tokens")

    def content(row: dict[str, Any]) -> dict[str, Any]:
        extra = {k: v for k, v in row["extra"].items() if k not in ("inspect_log", "eval_id", "sample_uuid")}
        return {**{k: v for k, v in row.items() if k not in ("key", "created_at", "wall_time_s", "seed", "extra")},
                "extra": extra}

    assert [content(r) for r in rows] == [content(r) for r in _rows(stores["json"])]
    traits = json.loads(_table(stores["eval"], "SELECT traits FROM tasks WHERE task = 'toy'")[0][0])
    # level has 2 values over 6 items (a stratum); note names every item; tags is not a scalar
    assert traits == {"name": "toy", "version": "0", "metric": "accuracy", "higher_is_better": True,
                      "strata": ["level"], "cluster": [], "source": "inspect"}


def test_events_keep_long_text_as_attachments_and_the_import_resolves_them(toy: dict[str, Path]) -> None:
    raw = json.loads(toy["json"].read_text())
    sample = raw["samples"][0]
    calls = [e for e in sample["events"] if e["event"] == "model"]
    logged = calls[0]["output"]["choices"][0]["message"]["content"][0]["reasoning"]
    assert logged.startswith("attachment://") and logged[len("attachment://"):] in sample["attachments"]


@solver
def reset_output() -> Solver:
    """A solver that throws the model's output away after generating (the text survives in its events)."""
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.output = ModelOutput(model="mockllm/model")
        return state

    return solve


def test_an_emptied_output_is_read_from_the_model_call_with_its_attachments(tmp_path: Path) -> None:
    log = run_eval(tmp_path / "logs", TOY[:2], toy_script, solver=[generate(), reset_output()], reasoning_tokens=64)
    store = tmp_path / "s.db"
    _import(store, log)
    rows = _rows(store)
    assert [r["reasoning"] for r in rows] == [f"{LONG}Item 0.", f"{LONG}Item 1."]
    assert [r["answer_text"] for r in rows] == ["The answer is 1", "The answer is 2"]
    assert {r["reasoning_tokens"] for r in rows} == {64}


# ------------------------------------------------------------------------------------------- budgets


def test_the_budget_comes_from_each_model_call_not_the_log_header(tmp_path: Path) -> None:
    # generate(reasoning_tokens=...) in the solver: the header's configs never see it
    log = run_eval(tmp_path / "logs", TOY[:3], toy_script, solver=generate(reasoning_tokens=512))
    header = read_eval_log(str(log), header_only=True)
    assert header.plan.config.reasoning_tokens is None and header.eval.model_generate_config.reasoning_tokens is None
    store = tmp_path / "s.db"
    report = _import(store, log)
    assert report["budgets"] == ["512"]
    assert {(r["budget"], r["requested_tokens"], r["reasoning_tokens"]) for r in _rows(store)} == {("512", 512, 512)}


@pytest.mark.parametrize(("args", "label", "kind", "requested"), [
    ({"reasoning_effort": "none"}, "0", "none", 0),
    ({"reasoning_effort": "high"}, "effort:high", "effort", None),
    ({}, "natural", "natural", None),
])
def test_effort_budgets_and_the_natural_end(tmp_path: Path, args: dict[str, Any], label: str, kind: str,
                                            requested: int | None) -> None:
    log = run_eval(tmp_path / "logs", TOY[:2], toy_script, **args)
    store = tmp_path / "s.db"
    _import(store, log)
    rows = _rows(store)
    assert {(r["budget"], r["budget_kind"], r["requested_tokens"], r["mechanism"]) for r in rows} == \
        {(label, kind, requested, "native")}
    # the script reports no reasoning count without a token budget: it is estimated from the text
    assert {r["reasoning_source"] for r in rows} == {"estimate"}
    assert all(r["reasoning_tokens"] > 100 for r in rows)


def test_redacted_reasoning_keeps_its_summary(tmp_path: Path) -> None:
    def script(prompt: str, config: GenerateConfig) -> ModelOutput:
        return output(f"The answer is {_item(prompt) + 1}", redacted_summary="I added one.", reasoning_tokens=40)

    store = tmp_path / "s.db"
    _import(store, run_eval(tmp_path / "logs", TOY[:1], script, reasoning_tokens=1024))
    (row,) = _rows(store)
    assert (row["reasoning"], row["reasoning_tokens"], row["extra"]["reasoning_redacted"]) == ("I added one.", 40, True)


# ------------------------------------------------------------------------------------------- names, errors


@task
def registered_name() -> Task:
    return Task(dataset=TOY[:2], solver=generate(), scorer=match(), name="display_name")


def test_a_renamed_task_is_known_by_its_registry_name(tmp_path: Path) -> None:
    log = run_eval(tmp_path / "logs", [], toy_script, task=registered_name(), reasoning_tokens=128)
    header = read_eval_log(str(log), header_only=True)
    assert (header.eval.task, header.eval.task_registry_name) == ("display_name", "registered_name")
    store = tmp_path / "s.db"
    assert _import(store, log)["tasks"] == ["registered_name"]
    assert {r["extra"]["inspect_task"] for r in _rows(store)} == {"registered_name"}
    assert _table(store, "SELECT task FROM tasks") == [("registered_name",)]


def failing_script(prompt: str, config: GenerateConfig) -> ModelOutput:
    if _item(prompt) == 2:
        raise RuntimeError("provider fell over")
    return toy_script(prompt, config)


def test_error_samples_are_error_records_and_a_reimport_changes_nothing(tmp_path: Path) -> None:
    log = run_eval(tmp_path / "logs", TOY[:4], failing_script, reasoning_tokens=256, fail_on_error=False)
    store = tmp_path / "s.db"
    report = _import(store, log)
    assert report["records"] == {"ok": 3, "error": 1}
    (error,) = [r for r in _rows(store) if r["status"] == "error"]
    assert error["sample_id"] == "q2" and error["budget"] == "256" and "provider fell over" in error["error"]
    assert error["score"] is None and error["answer_text"] is None
    assert _table(store, "SELECT key, attempt, error_class FROM attempts") == [(error["key"], 1, "InspectSampleError")]
    before = _rows(store)
    again = _import(store, log)
    assert (again["written"], again["already_present"]) == (0, 4)
    assert _rows(store) == before
    assert len(_table(store, "SELECT * FROM attempts")) == 1  # the same failure is not a second attempt


def test_reimport_is_idempotent_and_adds_to_an_existing_store(toy: dict[str, Path], tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    assert _import(store, toy["eval"])["written"] == 12
    before = _rows(store)
    again = _import(store, toy["eval"], toy["json"])  # the .json log is the same eval run again: same keys
    assert (again["written"], again["already_present"], again["duplicates"]) == (0, 12, 12)
    assert _rows(store) == before
    third = _import(store, toy["json"], extra=("--experiment", "rerun"))  # kept apart by its experiment
    assert third["written"] == 12 and len(_rows(store)) == 24


def test_non_binary_scores_declare_a_mean_metric(tmp_path: Path) -> None:
    @scorer(metrics=[accuracy()])
    def half() -> Any:
        async def score(state: TaskState, target: Target) -> InspectScore:
            return InspectScore(value=0.5 if "1" in state.output.completion else "C", answer=state.output.completion)

        return score

    store = tmp_path / "s.db"
    _import(store, run_eval(tmp_path / "logs", TOY[:4], toy_script, scorer=half(), reasoning_tokens=8))
    assert sorted(r["score"] for r in _rows(store)) == [0.5, 1.0, 1.0, 1.0]
    traits = json.loads(_table(store, "SELECT traits FROM tasks")[0][0])
    assert (traits["metric"], traits["source"]) == ("mean", "inspect")


# ------------------------------------------------------------------------------------------- bad input


def test_a_bad_log_exits_2_names_the_file_and_writes_nothing(toy: dict[str, Path], tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(toy["eval"], logs / toy["eval"].name)
    broken = logs / "2026-01-01T00-00-00+00-00_broken_x.eval"
    broken.write_bytes(toy["eval"].read_bytes()[:2000])  # a zip cut short
    store = tmp_path / "new.db"
    code, message = _invoke("import", "inspect", str(logs), "--store", str(store))
    assert code == 2 and str(broken) in message and "not a readable Inspect .eval log" in message
    assert not store.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["logs"]  # no scratch left

    existing = tmp_path / "old.db"
    _import(existing, toy["json"])
    before = (_rows(existing), _table(existing, "SELECT * FROM tasks"))
    code, message = _invoke("import", "inspect", str(toy["eval"]), str(broken), "--store", str(existing))
    assert code == 2 and broken.name in message
    assert (_rows(existing), _table(existing, "SELECT * FROM tasks")) == before


def test_a_sample_that_cannot_be_read_fails_the_whole_import(toy: dict[str, Path], tmp_path: Path) -> None:
    # a JSON log whose second sample is damaged: the first sample converts, and still nothing is written
    raw = json.loads(toy["json"].read_text())
    raw["samples"][1]["epoch"] = "not a number"
    damaged = tmp_path / toy["json"].name
    damaged.write_text(json.dumps(raw))
    store = tmp_path / "s.db"
    code, message = _invoke("import", "inspect", str(damaged), "--store", str(store))
    assert code == 2 and str(damaged) in message and "a sample cannot be read" in message
    assert not store.exists()


def test_a_json_log_with_nan_is_read_whole_from_that_sample_on(toy: dict[str, Path], tmp_path: Path) -> None:
    # ijson (the streaming reader) cannot parse NaN, which Inspect writes for a non-finite number
    raw = json.loads(toy["json"].read_text())
    raw["samples"][3]["metadata"]["weight"] = float("nan")
    nan_log = tmp_path / toy["json"].name
    nan_log.write_text(json.dumps(raw))
    assert "NaN" in nan_log.read_text()
    store = tmp_path / "s.db"
    report = _import(store, nan_log)
    assert (report["samples"], report["records"], report["duplicates"]) == (12, {"ok": 12, "error": 0}, 0)
    assert [r["metadata"].get("weight", "absent") for r in _rows(store)].count(None) == 1


def test_scores_overthink_cannot_use_are_named(toy: dict[str, Path], tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    code, message = _invoke("import", "inspect", str(toy["eval"]), "--store", str(store), "--scorer", "judge")
    assert code == 2 and "has no scorer 'judge' (its scorers: match)" in message
    raw = json.loads(toy["json"].read_text())
    raw["samples"][0]["scores"]["match"]["value"] = {"accuracy": 1, "style": 0.5}
    several = tmp_path / toy["json"].name
    several.write_text(json.dumps(raw))
    code, message = _invoke("import", "inspect", str(several), "--store", str(store))
    assert code == 2 and str(several) in message and "one number per sample" in message
    raw["samples"][0]["scores"]["match"]["value"] = "excellent"
    several.write_text(json.dumps(raw))
    code, message = _invoke("import", "inspect", str(several), "--store", str(store))
    assert code == 2 and "'excellent'" in message and "neither a number nor C/I/P/N" in message
    assert not store.exists()


def test_paths_that_hold_no_logs_are_clear_errors(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    code, message = _invoke("import", "inspect", str(tmp_path / "missing.eval"), "--store", str(store))
    assert code == 2 and "does not exist" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "logs.json").write_text("{}")  # Inspect's listing of a log folder, not a log
    code, message = _invoke("import", "inspect", str(empty), "--store", str(store))
    assert code == 2 and "holds no Inspect logs" in message
    other = tmp_path / "config.json"
    other.write_text(json.dumps({"model": "x", "budgets": [1, 2]}))
    code, message = _invoke("import", "inspect", str(other), "--store", str(store))
    assert code == 2 and str(other) in message and "not an Inspect eval log" in message
    text = tmp_path / "notes.json"
    text.write_text("these are notes")
    code, message = _invoke("import", "inspect", str(text), "--store", str(store))
    assert code == 2 and "not valid JSON" in message
    code, message = _invoke("import", "inspect", str(REPO / "README.md"), "--store", str(store))
    assert code == 2 and "logs end in .eval or .json" in message
    assert not store.exists()


def test_without_the_extra_the_command_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "inspect_ai", None)  # `import inspect_ai` now raises ImportError
    code, message = _invoke("import", "inspect", str(tmp_path), "--store", str(tmp_path / "s.db"))
    assert code == 2 and 'pip install "overthink[inspect]"' in message


# ------------------------------------------------------------------------------------------- overthink tasks

MATH = TASKS["misleading_math"]


def _math_script(items: dict[str, Any]) -> Any:
    def script(prompt: str, config: GenerateConfig) -> ModelOutput:
        sample = items[prompt]
        index = sorted(items).index(prompt)
        answer = f"Answer: {sample.target}" if index % 2 == 0 else "Answer: 9999"
        return output(answer, reasoning="Counting the objects only.", reasoning_tokens=config.reasoning_tokens)

    return script


@pytest.mark.parametrize("kept", [True, False], ids=["overthink_sample", "rebuilt"])
def test_overthink_tasks_are_rescored_by_overthink(tmp_path: Path, kept: bool) -> None:
    samples = MATH.samples(8, 3)
    items = {s.prompt: s for s in samples}
    dataset = [InspectSample(input=s.prompt, target=s.target, id=s.id,
                             metadata={"overthink_sample": s.to_json()} if kept else dict(s.metadata))
               for s in samples]
    # Inspect's own scorer wants the answer first: it marks every sample wrong
    log = run_eval(tmp_path / "logs", dataset, _math_script(items), name="overthink/misleading_math",
                   scorer=match(location="begin"), reasoning_tokens=256)
    store = tmp_path / "s.db"
    report = _import(store, log)
    assert report["tasks"] == ["misleading_math"] and report["rescored"] == 8
    rows = _rows(store)
    by_id = {s.id: s for s in samples}
    assert {r["sample_id"] for r in rows} == set(by_id)
    for row in rows:
        sample = by_id[row["sample_id"]]
        expected = MATH.score(sample, row["answer_text"])
        assert (row["score"], row["extracted"]) == (expected.value, expected.extracted)
        assert row["metadata"] == dict(sample.metadata) and row["extra"]["inspect_score"] == 0.0
    assert sum(r["score"] for r in rows) == 4  # overthink's scorer reads "Answer: N"
    assert json.loads(_table(store, "SELECT traits FROM tasks")[0][0]) == json.loads(MATH.traits().to_json())


# ------------------------------------------------------------------------------------------- end to end

CORRECT_BELOW = {0: 27, 256: 21, 1024: 15}  # of 30 items: 90% right at budget 0, 70% at 256, 50% at 1024
ITEMS = [InspectSample(input=f"Item {i}: what is {i} + 1?", target=str(i + 1), id=f"item{i:02d}") for i in range(30)]


def decline_script(prompt: str, config: GenerateConfig) -> ModelOutput:
    i, budget = _item(prompt), config.reasoning_tokens or 0
    answer = str(i + 1) if i < CORRECT_BELOW[budget] else "0"
    return output(f"The answer is {answer}", reasoning="think " * (budget // 8), reasoning_tokens=budget * 9 // 10)


@pytest.mark.slow
def test_imported_logs_with_a_planted_decline_fail_the_gate(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for budget in CORRECT_BELOW:
        run_eval(logs, ITEMS, decline_script, name="planted", reasoning_tokens=budget)
    store = tmp_path / "s.db"
    done = overthink_cli("import", "inspect", str(logs), "--store", str(store))
    assert done.returncode == 0, done.stderr
    assert "Imported 3 Inspect log files, 90 samples: 90 ok records" in " ".join(done.stdout.split())
    assert "budgets: 0, 256, 1024" in done.stdout

    analyzed = overthink_cli("analyze", "--store", str(store), "--boot", "400", "--json")
    assert analyzed.returncode == 0, analyzed.stderr
    curves = [c for c in json.loads(analyzed.stdout)["curves"] if c["main"]]
    (curve,) = curves
    assert (curve["model"], curve["task"], curve["mechanism"], curve["strategy"]) == \
        ("mockllm/model", "planted", "native", "cot")
    assert curve["verdict"]["verdict"] == "inverse"
    assert [round(p["value"], 2) for p in curve["points"]] == [0.9, 0.7, 0.5]
    table = overthink_cli("analyze", "--store", str(store), "--boot", "400")
    assert table.returncode == 0 and "inverse" in table.stdout

    gate = overthink_cli("gate", "--store", str(store), "--boot", "400")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "FAIL" in gate.stdout and "gate failed" in gate.stderr
    recommended = overthink_cli("recommend", "--store", str(store), "--boot", "400", "--out", str(tmp_path / "g.yaml"))
    assert recommended.returncode == 0, recommended.stderr
    report = overthink_cli("report", "--store", str(store), "--boot", "200", "--out", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr and (tmp_path / "r.html").stat().st_size > 1000


def test_a_foreign_task_sharing_a_name_with_overthinks_is_kept_apart(tmp_path: Path) -> None:
    """Only overthink/<task> is overthink's: someone's own "misleading_math" keeps Inspect's scores."""
    dataset = [InspectSample(input=f"Item {i}: what is {i} + 1?", target=str(i + 1), id=f"i{i}") for i in range(4)]
    log = run_eval(tmp_path / "logs", dataset, lambda prompt, config: output(str(_item(prompt) + 1)),
                   name="misleading_math")
    store = tmp_path / "s.db"
    report = _import(store, log)
    assert report["tasks"] == ["inspect:misleading_math"] and report["rescored"] == 0
    assert any("is not overthink's" in w for w in report["warnings"])
    rows = _rows(store)
    assert {r["task"] for r in rows} == {"inspect:misleading_math"} and [r["score"] for r in rows] == [1.0] * 4
    traits = json.loads(_table(store, "SELECT traits FROM tasks")[0][0])
    assert (traits["name"], traits["source"]) == ("inspect:misleading_math", "inspect")


def test_scratch_files_of_a_killed_import_are_cleared_and_a_live_ones_kept(toy: dict[str, Path],
                                                                           tmp_path: Path) -> None:
    import subprocess

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process that has exited: its pid names a dead import
    store = tmp_path / "s.db"
    dead = [tmp_path / f".s.db.import-{gone.pid}.tmp{suffix}" for suffix in ("", "-wal", "-shm")]
    alive = tmp_path / f".s.db.import-{os.getppid()}.tmp"  # the parent of this test: alive
    for path in (*dead, alive):
        path.write_bytes(b"left over")
    _import(store, toy["eval"])
    assert not any(path.exists() for path in dead) and alive.exists()
