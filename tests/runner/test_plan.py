"""Planning: seeds shared across budgets (nesting), distinct across repeats, resume filtering."""

from __future__ import annotations

import pytest

from overthink.config import parse_shard
from overthink.errors import UserError
from overthink.models.budget import budgets_for
from overthink.runner.plan import group_shard, pending, plan_groups
from overthink.tasks.misleading_math import generate
from overthink.types import Budget, BudgetKind, Mechanism


def _groups(repeats: int = 2, seed: int = 0) -> list:  # type: ignore[type-arg]
    budgets = budgets_for("forced", ["0", "64", "128"], add_natural=True)
    return plan_groups(experiment="e", model="m", task="misleading_math", task_version="1",
                       samples=generate(3, 1), budgets=budgets, strategy="cot", repeats=repeats, base_seed=seed)


def test_every_budget_of_a_group_shares_one_seed() -> None:
    for group in _groups():
        assert {item.seed for item in group.items} == {group.seed}
        assert [item.key.budget for item in group.items] == ["0", "64", "128", "natural"]


def test_repeats_and_base_seeds_change_seeds() -> None:
    groups = _groups(repeats=2)
    by_sample: dict[str, set[int]] = {}
    for group in groups:
        by_sample.setdefault(group.sample.id, set()).add(group.seed)
    assert all(len(seeds) == 2 for seeds in by_sample.values())
    assert [g.seed for g in _groups(seed=0)] == [g.seed for g in _groups(seed=0)]
    assert [g.seed for g in _groups(seed=0)] != [g.seed for g in _groups(seed=1)]


def test_keys_are_unique_and_pending_skips_done() -> None:
    groups = _groups()
    keys = [item.key.digest() for g in groups for item in g.items]
    assert len(keys) == len(set(keys)) == 3 * 2 * 4
    done = set(keys[:5])
    left = pending(groups, done)
    remaining = [item.key.digest() for g in left for item in g.items]
    assert set(remaining) == set(keys) - done
    assert all(g.items for g in left)


def test_natural_record_added_once() -> None:
    budgets = budgets_for("forced", ["0", "natural"], add_natural=True)
    assert [b.label for b in budgets] == ["0", "natural"]
    assert budgets[-1] == Budget(BudgetKind.NATURAL, None, Mechanism.FORCED)
    assert [b.label for b in budgets_for("forced", ["0"], add_natural=False)] == ["0"]


def test_for_repeat_variants_keep_ids() -> None:
    from overthink.tasks import ai_risk

    samples = ai_risk.generate(4, 2)
    groups = plan_groups(experiment="e", model="m", task="ai_risk", task_version=ai_risk.VERSION,
                         samples=samples, budgets=[Budget.parse("0")], strategy="cot", repeats=3,
                         base_seed=0, for_repeat=ai_risk.TASK.for_repeat)
    by_id: dict[str, list[str]] = {}
    for group in groups:
        by_id.setdefault(group.sample.id, []).append(group.sample.prompt)
    assert set(by_id) == {s.id for s in samples}
    assert [g.sample for g in groups[:4]] == samples  # repeat 0 unchanged
    assert any(len(set(prompts)) > 1 for prompts in by_id.values())  # later repeats reorder choices


def _sweep_groups(n: int = 40, budgets: tuple[str, ...] = ("0", "64"),
                  part: tuple[int, int] | None = None) -> list:  # type: ignore[type-arg]
    return plan_groups(experiment="e", model="m", task="misleading_math", task_version="1",
                       samples=generate(n, 7), budgets=[Budget.parse(b) for b in budgets], strategy="cot",
                       repeats=2, base_seed=0, part=part)


def _keys(groups: object) -> set[str]:
    return {item.key.digest() for g in groups for item in g.items}  # type: ignore[attr-defined]


def test_shards_partition_the_plan_and_keep_groups_whole() -> None:
    groups = _sweep_groups()
    parts = [_sweep_groups(part=(k, 3)) for k in (1, 2, 3)]
    keys = [_keys(part) for part in parts]
    assert set.union(*keys) == _keys(groups)
    assert sum(len(k) for k in keys) == len(_keys(groups))  # disjoint
    assert all(len(part) >= 15 for part in parts)  # 80 groups: no shard starved
    for k, part in enumerate(parts, 1):  # a group keeps all its budgets, in the shard group_shard names
        assert all(len(g.items) == 2 and group_shard(g, 3) == k for g in part)
    assert [len(_sweep_groups(part=(1, 1)))] == [len(groups)]


def test_a_group_stays_in_its_shard_when_budgets_are_added() -> None:
    small = {(g.sample.id, g.repeat): group_shard(g, 4) for g in _sweep_groups()}
    large = {(g.sample.id, g.repeat): group_shard(g, 4) for g in _sweep_groups(budgets=("0", "64", "512"))}
    assert small == large


def test_the_partition_is_the_same_in_every_process() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("from tests.runner.test_plan import _sweep_groups; from overthink.runner.plan import group_shard; "
            "print([group_shard(g, 5) for g in _sweep_groups()])")
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=Path(__file__).parents[2], env=dict(os.environ, PYTHONHASHSEED=str(seed))).stdout
        for seed in (1, 2)
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == str([group_shard(g, 5) for g in _sweep_groups()])


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "3", "a/b", "1/2/3", "-1/2"])
def test_bad_shard_specs_are_user_errors(text: str) -> None:
    with pytest.raises(UserError, match="shard"):
        parse_shard(text)
    with pytest.raises(UserError):
        _sweep_groups(2, part=(0, 3))


def test_shard_specs_parse() -> None:
    assert parse_shard("1/4") == (1, 4) and parse_shard(" 4 / 4 ") == (4, 4) and parse_shard("1/1") == (1, 1)
