"""Every sample behind a vote or best-of-n record can be read back by key: after a run, a resume, a merge.

The samples are child rows of their record (schema step 0005_samples), written by the store's one
writer: with the record's ok row, never for an error row, never twice. The sweeps run through the real
executor on the scripted backend (answers right with a seeded probability) into real SQLite files.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from overthink.analysis.frame import load, samples_of
from overthink.models.base import BackendError, FailureKind, GenerationRequest
from overthink.models.generation import GenerationConfig
from overthink.models.scripted import ScriptedBackend, default_script
from overthink.runner.execute import Executor
from overthink.runner.plan import WorkGroup, pending, plan_groups
from overthink.store import STEPS, Store
from overthink.store.merge import MergeConflict, merge_stores
from overthink.strategies.best_of_n import BestOfNStrategy
from overthink.strategies.common import sub_seed
from overthink.strategies.verifiers import OutcomeVerifier
from overthink.strategies.vote import VoteStrategy
from overthink.tasks.misleading_math import TASK, generate
from overthink.types import Budget

ITEMS = generate(4, 3)
BUDGETS = [Budget.parse("0"), Budget.parse("8")]
FIXTURE = Path(__file__).parents[1] / "runner" / "fixtures" / "store-schema1.sqlite"


def _plan(strategy: str, items: list[object] | None = None) -> list[WorkGroup]:
    return plan_groups(experiment="a", model="scripted", task=TASK.name, task_version=TASK.version,
                       samples=items or ITEMS, budgets=BUDGETS, strategy=strategy, repeats=1, base_seed=0)


def _flaky_once() -> ScriptedBackend:
    """Right 60% of the time; sample 1 of the first item fails once at budget 8 (a retry heals it)."""
    answer = default_script(0.6)
    broken = sub_seed(_plan("vote@3")[0].seed, 1)
    failed: list[int] = []

    def script(request: GenerationRequest) -> tuple[str, str]:
        if request.seed == broken and request.budget.label == "8" and not failed:
            failed.append(request.seed)
            raise BackendError("HTTP 504", kind=FailureKind.TIMEOUT)
        return answer(request)

    return ScriptedBackend(script)


def _sweep(path: Path, backend: ScriptedBackend, strategy: object, items: list[object] | None = None) -> int:
    """Plan, skip what the store holds (the resume rule), run; returns the records written."""
    groups = _plan(strategy.name, items)  # type: ignore[attr-defined]
    with Store(path) as store:
        todo = pending(groups, store.done_keys())
        executor = Executor(backend, TASK, store, GenerationConfig(temperature=0.0), strategy=strategy)  # type: ignore[arg-type]
        return asyncio.run(executor.run(todo)).written


def _check_samples(path: Path, k: int) -> dict[str, list[tuple[object, ...]]]:
    """Every ok record has its k samples, consistent with the record; returns them by key."""
    found: dict[str, list[tuple[object, ...]]] = {}
    with Store(path, create=False) as store:
        rows = list(store.rows())
        targets = {r["key"]: r["target"] for r in rows}
        by_key = store.samples_of([r["key"] for r in rows])
        for row in rows:
            samples = by_key.get(row["key"], [])
            if row["status"] != "ok":
                assert samples == []
                continue
            assert [s.index for s in samples] == list(range(k))
            assert [s.seed for s in samples] == row["extra"]["seeds"]
            assert [s.answer for s in samples] == row["extra"]["answers"]
            for s in samples:  # each sample's own answer text and the task scorer's verdict on it
                assert s.answer_text.startswith("<answer>")
                assert s.correct == (s.answer_text == f"<answer>{targets[row['key']]}</answer>")
                assert s.score == (1.0 if s.correct else 0.0)
            winner = Counter(s.answer for s in samples).most_common(1)[0]
            if winner[1] * 2 > k:
                assert row["answer_text"] == f"<answer>{winner[0]}</answer>"
            assert sum(s.compute_tokens for s in samples) == row["compute_tokens"]
            found[row["key"]] = [(s.index, s.seed, s.answer_text, s.score) for s in samples]
    return found


def test_vote_samples_are_kept_after_a_run_and_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    backend = _flaky_once()
    assert _sweep(path, backend, VoteStrategy(3)) == len(ITEMS) * len(BUDGETS)
    with Store(path) as store:
        assert store.count() == 8 and store.status_counts() == {"ok": 7, "error": 1}
    first = _check_samples(path, 3)
    assert len(first) == 7
    assert _sweep(path, backend, VoteStrategy(3)) == 1  # the resume sends only the failed key
    after = _check_samples(path, 3)
    assert len(after) == 8 and {k: after[k] for k in first} == first  # the earlier samples untouched
    with Store(path) as store:
        assert store._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 8 * 3
    # a frame never holds the sample texts: they are fetched by key
    frame = load(path, text=False)
    assert not any("answer_text" in c for c in frame.columns)
    key = frame["key"].iloc[0]
    assert [s.answer_text for s in samples_of(path, [key])[key]] == [a[2] for a in after[key]]


def test_merge_and_absorb_carry_the_samples_once(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    _sweep(a, ScriptedBackend(accuracy=0.5), VoteStrategy(3), ITEMS[:2])
    _sweep(b, ScriptedBackend(accuracy=0.5), VoteStrategy(3), ITEMS[2:])
    shutil.copyfile(a, tmp_path / "a-copy.db")
    expected = {**_check_samples(a, 3), **_check_samples(b, 3)}
    report = merge_stores([a, b, tmp_path / "a-copy.db"], tmp_path / "m.db")
    assert report.records == 8 and report.duplicates == 4
    assert _check_samples(tmp_path / "m.db", 3) == expected
    with Store(tmp_path / "m.db") as merged:  # the identical copy added no second set
        assert merged._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 8 * 3
        merged.absorb_store(b)  # the Inspect import's path: folding a store in again changes nothing
        assert merged._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 8 * 3


def test_best_of_n_keeps_each_candidates_answer_score_and_verifier_score(tmp_path: Path) -> None:
    verifier = OutcomeVerifier("length", lambda sample, text: float(len(text)))
    path = tmp_path / "b.db"
    _sweep(path, ScriptedBackend(accuracy=0.5), BestOfNStrategy(3, verifier=verifier))
    with Store(path, create=False) as store:
        for row in store.rows():
            samples = store.samples(row["key"])
            assert [s.verifier_score for s in samples] == [float(len(s.answer_text)) for s in samples]
            chosen = samples[row["extra"]["chosen"]]
            assert chosen.answer_text == row["answer_text"] and chosen.score == row["score"]
            assert all(s.verifier_tokens == s.verifier_generated == 0 for s in samples)  # a function reads nothing


def test_a_cot_record_has_no_samples_and_old_stores_open_with_compute_derived(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.db"
    shutil.copyfile(FIXTURE, legacy)
    with Store(legacy, create=False) as store:
        rows = {r["sample_id"]: r for r in store.rows()}
        assert [name for name, _, _ in store.migrations()][3:5] == ["0004_compute_tokens", "0005_samples"]
        assert store.samples_of(list(r["key"] for r in rows.values())) == {}
        for row in rows.values():
            if row["status"] == "ok":
                assert row["compute_tokens"] == row["reasoning_tokens"] + row["answer_tokens"]
            else:
                assert row["compute_tokens"] is None
    frame = load(legacy)
    assert frame.loc[frame["status"] == "error", "compute_tokens"].isna().all()


def test_records_of_every_strategy_written_before_compute_get_it_derived(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    conn = sqlite3.connect(path)
    for step in STEPS[:3]:
        conn.executescript(step.sql)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL, applied_by TEXT NOT NULL)")
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.executemany("INSERT INTO migrations VALUES (?, 1.0, 'overthink 0.2')", [(s.name,) for s in STEPS[:3]])
    conn.execute("INSERT INTO schema_version VALUES (3)")
    conn.execute("INSERT INTO meta VALUES ('app', 'overthink')")
    extras = {
        "cot": ('{"censored": false}', "ok"),
        "vote@3": ('{"reasoning_tokens_each": [8, 8, 8], "answer_tokens_each": [1, 2, 3]}', "ok"),
        "best-of-n@2": ('{"reasoning_tokens_each": [8, 8], "answer_tokens_each": [1, 1], "verifier_tokens": 40}',
                        "ok"),
        "scheduler@4,2": ('{"compute": 13}', "ok"),
        "broken": ("not json", "ok"),
        "failed": (None, "error"),
    }
    for strategy, (extra, status) in extras.items():
        conn.execute(
            "INSERT INTO records (key, experiment, model, task, task_version, sample_id, budget, budget_kind, "
            "mechanism, strategy, repeat, seed, status, reasoning_tokens, answer_tokens, prompt, target, metadata, "
            "extra, created_at) VALUES (?, 'e', 'm', 't', '1', 's', '8', 'tokens', 'forced', ?, 0, 1, ?, "
            "?, 2, 'p', 't', '{}', ?, 1.0)",
            (strategy, strategy, status, None if status == "error" else 8, extra))
    conn.commit()
    conn.close()
    Store(path, create=False).close()  # opening migrates
    conn = sqlite3.connect(path)
    derived = dict(conn.execute("SELECT strategy, compute_tokens FROM records").fetchall())
    conn.close()
    assert derived == {"cot": 10, "vote@3": 24 + 6, "best-of-n@2": 16 + 2 + 40, "scheduler@4,2": 13,
                       "broken": 10, "failed": None}


def test_two_inputs_with_different_samples_behind_one_answer_conflict(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    _sweep(a, ScriptedBackend(accuracy=0.5), VoteStrategy(3), ITEMS[:1])
    shutil.copyfile(a, b)
    conn = sqlite3.connect(b)
    conn.execute("UPDATE samples SET answer_text = 'edited' WHERE idx = 2")
    conn.commit()
    conn.close()
    with pytest.raises(MergeConflict, match="sample answer_text"):
        merge_stores([a, b], tmp_path / "m.db")
    assert not (tmp_path / "m.db").exists()
