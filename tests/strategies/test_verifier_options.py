"""Verifier options from YAML and the command line, the aggregations, and the step judge on a named model.

Real loopback HTTP servers throughout: a Pooling API PRM whose rewards per answer are fixed, so each
aggregation has its own known winner, and an OpenAI-compatible server playing a step judge (P(Yes) from
top log-probabilities) on its own URL, which no run model shares.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from prm_server import pooling_reply, tokens_of
from typer.testing import CliRunner

from loopback_server import Reply, Request, completion_ok, error, serve
from overthink.cli import app
from overthink.cli.verifiers import verifier_overrides
from overthink.errors import UserError
from overthink.models.scripted import ScriptedBackend
from overthink.prompts.render import request_for
from overthink.registry import Loaded, build_strategy
from overthink.store import Store
from overthink.strategies.common import item_for, sub_seed
from overthink.strategies.verifiers import aggregate
from overthink.tasks.misleading_math import generate, score
from overthink.types import Budget

SAMPLE = generate(1, 4)[0]
SAMPLE_BUDGET = Budget.parse("4")
LINE = "x" * 170  # one judged step per line (steps are lines merged to >= 160 characters)
REWARDS = {"1": [0.95, 0.95, 0.4], "2": [0.5, 0.5, 0.5], "3": [0.3, 0.6, 0.99]}  # by the candidate's answer
WINNER = {"min": "2", "last": "3", "product": "1"}  # 0.5 > 0.4 > 0.3; 0.99 > 0.5 > 0.4; 0.361 > 0.178 > 0.125


def _fixed_prm(request: Request) -> Reply:
    said = request.body["messages"][-1]["content"].split("<extra_0>")[-2].removeprefix("Final answer: ")
    return Reply(200, pooling_reply(REWARDS[said], tokens_of(request)))


def _candidates(request: Any) -> tuple[str, str]:
    answer = {sub_seed(5, i): str(i + 1) for i in range(3)}[request.seed]
    return f"{LINE}\n{LINE}", f"<answer>{answer}</answer>"


def test_aggregations_are_the_weakest_the_last_and_the_product_of_the_step_rewards() -> None:
    assert aggregate([0.9, 0.2, 0.8], "min") == 0.2 and aggregate([0.9, 0.2, 0.8], "last") == 0.8
    assert aggregate([0.5, 0.5], "product") == 0.25 and aggregate([], "min") == 0.0
    assert math.prod(REWARDS["1"]) > math.prod(REWARDS["3"]) > math.prod(REWARDS["2"])
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate([1.0], "mean")


@pytest.mark.parametrize("how", sorted(WINNER))
def test_each_aggregation_picks_its_own_winner_through_the_registry(how: str) -> None:
    with serve(_fixed_prm) as server:
        strategy = build_strategy("best-of-n@3,prm", Loaded({"prm": {"base_urls": server.url, "aggregate": how}}))

        async def go() -> Any:
            try:
                return await strategy.run(ScriptedBackend(_candidates), request_for(SAMPLE, SAMPLE_BUDGET, 5),
                                          [SAMPLE_BUDGET], item_for(SAMPLE, score))
            finally:
                await strategy.verifier.aclose()  # type: ignore[attr-defined]

        record = asyncio.run(go())["4"]
    assert record.extra["answers"] == ["1", "2", "3"]
    assert record.extra["answers"][record.extra["chosen"]] == WINNER[how]
    assert record.extra["step_scores"] == [REWARDS[a] for a in ("1", "2", "3")]  # all three steps, in order


def test_cli_options_override_the_configs_and_a_repeated_key_is_a_list() -> None:
    merged = verifier_overrides(["prm.aggregate=last", "prm.base_urls=http://a:1/v1", "prm.base_urls=http://b:2/v1",
                                 "prm.max_attempts=2", "prm.model=null"],
                                {"prm": {"aggregate": "min", "timeout": 5}})
    assert merged == {"prm": {"aggregate": "last", "timeout": 5, "base_urls": ["http://a:1/v1", "http://b:2/v1"],
                              "max_attempts": 2, "model": None}}
    with pytest.raises(UserError, match=r"NAME\.KEY=VALUE"):
        verifier_overrides(["aggregate=last"], {})


def _run(tmp_path: Path, *args: str, config: dict[str, Any] | None = None) -> Any:
    command = ["run", "--backend", "scripted", "--n", "2", "--budgets", "0,8", "--store", str(tmp_path / "o.db"),
               "--quiet", *args]
    if config is not None:
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        command.insert(1, str(path))
    return CliRunner().invoke(app, command)


@pytest.mark.parametrize(("args", "config", "needle"), [
    (["--strategy", "best-of-n@2,prm"], None, "verifier 'prm': base_urls: Field required (set it under"),
    (["--strategy", "best-of-n@2,prm", "--verifier-option", "prm.base_urls=http://h:1/v1",
      "--verifier-option", "prm.aggregate=mean"], None, "verifier 'prm': aggregate: Input should be"),
    (["--strategy", "cot"], {"verifiers": {"prn": {}}}, "unknown verifier 'prn'; choose one of: prm, step-judge"),
    (["--strategy", "cot", "--verifier-option", "prm.base_urls=http://h:1/v1"], None,
     "verifiers: 'prm' is configured but no strategy uses it"),
])
def test_verifier_mistakes_are_one_user_error_before_any_store_exists(
        tmp_path: Path, args: list[str], config: dict[str, Any] | None, needle: str) -> None:
    result = _run(tmp_path, *args, config=config)
    assert isinstance(result.exception, UserError) and needle in str(result.exception), result.exception
    assert not (tmp_path / "o.db").exists()


def test_the_verifiers_and_their_options_are_listed() -> None:
    listed = CliRunner().invoke(app, ["verifiers", "--json"])
    assert listed.exit_code == 0 and {"prm", "step-judge"} <= {row["name"] for row in json.loads(listed.output)}
    options = {row["name"]: row for row in json.loads(CliRunner().invoke(app, ["verifiers", "prm", "--json"]).output)}
    assert options["base_urls"]["required"] and options["aggregate"]["default"] == "min"
    assert options["step_separator"]["default"] == "<extra_0>" and all(r["description"] for r in options.values())
    assert isinstance(CliRunner().invoke(app, ["verifiers", "nope"]).exception, UserError)


def _step_judge_server(truth: dict[str, str]) -> Any:
    """An OpenAI-compatible judge: P(Yes) 0.9 after a step ending in the right answer, else 0.2."""

    def respond(request: Request) -> Reply:
        if not request.path.endswith("/completions"):
            return error(404, "no tokenizer here")
        prompt = request.body["prompt"]
        steps = prompt.split("Solution so far:\n", 1)[1].split("\n\nIs the last step", 1)[0]
        problem = prompt.split("Problem:\n", 1)[1].split("\n\nSolution so far", 1)[0]
        p_yes = 0.9 if steps.endswith(f"Final answer: {truth[problem]}") else 0.2
        body = completion_ok("Yes")
        body["choices"][0]["logprobs"] = {"tokens": ["Yes"], "top_logprobs": [
            {"Yes": math.log(p_yes), "No": math.log(1 - p_yes)}]}
        body["usage"] = {"prompt_tokens": len(prompt.split()), "completion_tokens": 1}
        return Reply(200, body)

    return respond


def test_the_step_judge_runs_on_a_named_model_of_its_own_server(tmp_path: Path) -> None:
    truth = {s.prompt: s.target for s in generate(2, 0)}
    with serve(_step_judge_server(truth)) as server:
        options = {"backend": "openai-compat", "model": "judge-m", "aggregate": "last",
                   "options": {"base_urls": [server.url], "tokenizer": False, "max_attempts": 1}}
        result = _run(tmp_path, "--strategy", "best-of-n@3,step-judge", config={"verifiers": {"step-judge": options}})
        models = {r.body.get("model") for r in server.requests}
    assert result.exit_code == 0, result.output
    assert models == {"judge-m"}
    with Store(tmp_path / "o.db", create=False) as store:
        rows = list(store.rows())
        samples = store.samples_of([r["key"] for r in rows])
    assert len(rows) == 4 and {r["extra"]["verifier"] for r in rows} == {"step-judge:judge-m[last]"}
    for row in rows:
        judged = samples[row["key"]]
        if any(s.correct for s in judged):
            assert row["correct"]  # the judge says Yes only to a right final answer
        assert all(s.verifier_tokens > 0 and s.verifier_generated == len(steps)
                   for s, steps in zip(judged, row["extra"]["step_scores"], strict=True))
        assert row["compute_tokens"] == sum(s.reasoning_tokens + s.answer_tokens + s.verifier_tokens
                                            + s.verifier_generated for s in judged)
