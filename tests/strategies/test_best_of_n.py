"""best-of-n selection logic with an external (outcome) verifier, and the step splitter."""

from __future__ import annotations

import asyncio

from overthink.models.scripted import ScriptedBackend
from overthink.prompts.render import request_for
from overthink.strategies.best_of_n import BestOfNStrategy, pick_best
from overthink.strategies.common import item_for, sub_seed
from overthink.strategies.verifiers import Judgement, OutcomeVerifier, final_step, split_steps, yes_probability
from overthink.tasks.misleading_math import generate
from overthink.types import Budget, Sample

SAMPLE = generate(1, 9)[0]


def test_outcome_verifier_picks_the_candidate_it_scores_highest() -> None:
    texts = {sub_seed(2, 0): "<answer>10</answer>", sub_seed(2, 1): "<answer>12</answer>",
             sub_seed(2, 2): "<answer>11</answer>"}
    backend = ScriptedBackend(lambda r: ("a b c", texts[r.seed]))

    def closeness(sample: Sample, text: str) -> float:  # an external "reward model": prefers 12
        return -abs(float(text.strip("<answer/>")) - 12)

    strategy = BestOfNStrategy(3, verifier=OutcomeVerifier("closeness", closeness))
    request = request_for(SAMPLE, Budget.parse("0"), 2)
    out = asyncio.run(strategy.run(backend, request, [Budget.parse("4")], item_for(SAMPLE)))
    record = out["4"]
    assert record.text == "<answer>12</answer>"
    assert record.extra["chosen"] == 1 and record.extra["scores"] == [-2.0, 0.0, -1.0]
    assert record.extra["step_scores"] == [[], [], []] and record.extra["verifier"] == "closeness"
    assert record.total_generated == 3 * (3 + 1)  # three candidates, 3 thinking + 1 answer word each


def test_ties_go_to_the_answer_more_candidates_share_then_the_lower_index() -> None:
    same = [Judgement(0.5), Judgement(0.5), Judgement(0.5)]
    assert pick_best(same, ["3", "4", "4"]) == 1
    assert pick_best(same, ["3", "4", "5"]) == 0
    assert pick_best([Judgement(0.1), Judgement(0.9)], ["4", "4"]) == 1
    assert pick_best([Judgement(0.5), Judgement(0.5)], [None, "4"]) == 1


def test_steps_are_merged_lines_and_stable_as_the_trace_grows() -> None:
    lines = [f"line {i} " + "x" * 50 for i in range(12)]
    short = split_steps("\n".join(lines[:6]), min_chars=100)
    long = split_steps("\n".join(lines), min_chars=100)
    assert all(len(s) >= 100 for s in short[:-1])
    assert long[: len(short) - 1] == short[:-1]  # completed steps do not change when more text comes
    assert len(split_steps("\n".join(lines * 20), min_chars=10, max_steps=8)) <= 8
    assert split_steps("") == []
    assert final_step("<answer> 7 </answer>") == "Final answer: 7"
    assert final_step("<answer>") == "Final answer: (none)"


def test_yes_probability_is_a_two_way_softmax() -> None:
    assert yes_probability(0.0, 0.0) == 0.5
    assert yes_probability(1000.0, 0.0) == 1.0  # no overflow
    assert 0.7 < yes_probability(1.0, 0.0) < 0.75
