"""vote@k on the scripted backend: majority over extracted answers, seeded tie-breaks, compute sums."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from overthink.errors import UserError
from overthink.models.base import GenerationRequest
from overthink.models.scripted import ScriptedBackend
from overthink.prompts.render import request_for
from overthink.registry import get_strategy
from overthink.strategies.common import answer_key, item_for, sub_seed
from overthink.strategies.vote import VoteStrategy, majority, tie_break
from overthink.tasks.misleading_math import generate, score
from overthink.types import Budget, Completion

SAMPLE = generate(1, 4)[0]
BUDGETS = [Budget.parse("0"), Budget.parse("8")]


def _scripted(answers_by_seed: dict[int, str]) -> ScriptedBackend:
    """Answer text chosen by the sub-seed index of each request; reasoning of `budget` words."""

    def script(request: GenerationRequest) -> tuple[str, str]:
        tokens = request.budget.tokens or 0
        return " ".join(["w"] * tokens), answers_by_seed[request.seed]

    return ScriptedBackend(script)


def _vote(k: int, texts: list[str], seed: int = 5) -> dict[str, Completion]:
    backend = _scripted({sub_seed(seed, i): text for i, text in enumerate(texts)})
    request = request_for(SAMPLE, BUDGETS[0], seed)
    return asyncio.run(VoteStrategy(k).run(backend, request, BUDGETS, item_for(SAMPLE, score)))


def test_majority_wins_over_extracted_answers_not_raw_text() -> None:
    # "7 apples" and "<answer>7</answer>" are the same extracted answer; "9" is outvoted
    out = _vote(3, ["<answer>7 apples</answer>", "The answer is 7.", "<answer>9</answer>"])
    for budget in ("0", "8"):
        record = out[budget]
        assert record.text == "<answer>7</answer>"
        assert record.extra["votes"] == {"7": 2, "9": 1}
        assert record.extra["tie"] is False
        assert score(SAMPLE, record.text).extracted == "7"
    assert out["8"].usage.reasoning_tokens == 8
    # compute of all three samples: 8 thinking words + answer words each
    words = sum(len(t.split()) for t in ["<answer>7 apples</answer>", "The answer is 7.", "<answer>9</answer>"])
    assert out["8"].total_generated == 3 * 8 + words
    assert out["0"].total_generated == words


def test_abstentions_do_not_vote() -> None:
    out = _vote(3, ["no idea", "<answer>4</answer>", "still thinking"])
    assert out["0"].text == "<answer>4</answer>"
    assert out["0"].extra["answers"].count(None) == 2
    nobody = _vote(2, ["no idea", "hmm"])
    assert nobody["0"].text == "<answer></answer>" and nobody["0"].extra["votes"] == {}


def test_tie_break_is_seeded_and_independent_of_order() -> None:
    answers = ["3", "5", "8", "13"]
    winners = {tie_break(list(order), 11) for order in itertools.permutations(answers)}
    assert len(winners) == 1  # order never matters
    by_seed = {tie_break(answers, seed) for seed in range(40)}
    assert len(by_seed) > 1  # the seed does decide (every answer can win some seed)
    winner, votes, tie = majority(["5", "3", "5", "3", None], seed=11)
    assert tie and votes == {"3": 2, "5": 2}
    assert winner == tie_break(["3", "5"], 11)


def test_tied_vote_is_reproducible_end_to_end() -> None:
    texts = ["<answer>7</answer>", "<answer>9</answer>"]
    first = _vote(2, texts, seed=3)["0"]
    again = _vote(2, texts, seed=3)["0"]
    assert first.extra["tie"] is True
    assert first.text == again.text
    assert first.text == f"<answer>{tie_break(['7', '9'], 3)}</answer>"


def test_sample_zero_keeps_the_group_seed_and_others_differ() -> None:
    seeds = [sub_seed(77, i) for i in range(6)]
    assert seeds[0] == 77 and len(set(seeds)) == 6
    assert seeds == [sub_seed(77, i) for i in range(6)]


def test_answer_key_uses_the_task_scorer_and_falls_back_to_the_tag() -> None:
    assert answer_key(SAMPLE, "<answer>1,200 things</answer>", score) == "1200"
    foreign = type(SAMPLE)(id="x", task="not-a-registered-task", prompt="?", target="Paris")
    assert answer_key(foreign, "<answer>  Paris </answer>") == "paris"
    assert answer_key(foreign, "nothing") is None


@pytest.mark.parametrize("name", ["vote", "vote@0", "vote@x", "vote@-2"])
def test_bad_vote_names_are_user_errors(name: str) -> None:
    with pytest.raises(UserError):
        get_strategy(name)


def test_registry_builds_every_strategy_with_a_stable_name() -> None:
    assert get_strategy("vote@5").name == "vote@5"
    assert get_strategy("best-of-n@4").name == "best-of-n@4"
    assert get_strategy("best-of-n@4,tiny").name == "best-of-n@4,tiny"
    assert get_strategy("scheduler@32,2").name == "scheduler@32,2"
    assert get_strategy("scheduler").name == "scheduler@64,3"
    for bad in ("scheduler@32", "scheduler@a,b", "scheduler@0,2", "best-of-n", "best-of-n@0"):
        with pytest.raises(UserError):
            get_strategy(bad)


def test_scheduler_refuses_backends_it_cannot_probe() -> None:
    strategy = get_strategy("scheduler@8,2")
    request = request_for(SAMPLE, BUDGETS[0], 1)
    with pytest.raises(UserError, match="embedded engine"):
        asyncio.run(strategy.run(ScriptedBackend(), request, BUDGETS, item_for(SAMPLE)))


def test_run_refuses_a_strategy_the_backend_cannot_serve_before_writing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from overthink.cli import app

    store = tmp_path / "never.db"
    result = CliRunner().invoke(app, ["run", "--backend", "scripted", "--strategy", "scheduler@8,2", "--n", "2",
                                      "--store", str(store), "--quiet"])
    assert isinstance(result.exception, UserError) and "embedded engine" in str(result.exception)
    assert not store.exists()


def test_vote_sweep_through_the_cli_stores_votes(tmp_path: Path) -> None:
    import json
    import sqlite3

    from typer.testing import CliRunner

    from overthink.cli import app

    store = tmp_path / "v.db"
    result = CliRunner().invoke(app, ["run", "--backend", "scripted", "--strategy", "vote@3", "--n", "3",
                                      "--budgets", "0,5", "--store", str(store), "--quiet"])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(store)
    rows = conn.execute("SELECT strategy, budget, extra, total_generated, reasoning_tokens FROM records").fetchall()
    conn.close()
    assert len(rows) == 6 and {r[0] for r in rows} == {"vote@3"}  # no natural record for votes
    for _, budget, extra, total, thinking in rows:
        data = json.loads(extra)
        assert sum(data["votes"].values()) == 3 and thinking == int(budget)
        assert total == 3 * int(budget) + sum(data["answer_tokens_each"])
