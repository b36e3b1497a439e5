"""The registry's hooks: the built-ins use them, a name is taken once, options are declared and strict."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import pytest
import tomllib

from overthink import builtin_plugins, plugins
from overthink.errors import UserError
from overthink.registry import BACKENDS, STRATEGIES, VERIFIERS, get_backend_factory, get_strategy

ROOT = Path(__file__).resolve().parents[2]


def test_the_builtins_are_declared_as_entry_points_of_the_same_hooks() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]
    for group in plugins.GROUPS:
        module, _, function = project[group]["builtin"].partition(":")
        hook = getattr(import_module(module), function)
        before = {"b": dict(BACKENDS), "s": dict(STRATEGIES), "v": dict(VERIFIERS)}
        hook()  # what the entry point runs: registering the same factories again changes nothing
        assert {"b": dict(BACKENDS), "s": dict(STRATEGIES), "v": dict(VERIFIERS)} == before, group


def test_a_registered_name_cannot_be_taken_by_another_factory() -> None:
    with pytest.raises(UserError, match="registered twice"):
        plugins.register_backend("scripted", lambda model, **options: get_backend_factory("scripted")(model),
                                 BACKENDS["scripted"].options_model())
    with pytest.raises(UserError, match="without"):
        plugins.register_strategy("a@b", lambda options, ctx: get_strategy("cot"), builtin_plugins.CotOptions)
    assert get_strategy("cot").name == "cot"


def test_every_option_of_every_strategy_and_verifier_is_strict_and_described() -> None:
    for entry in (*STRATEGIES.values(), *VERIFIERS.values()):
        assert entry.options_model.model_config.get("extra") == "forbid", entry.name
        assert all(f.description for f in entry.options_model.model_fields.values()), entry.name
    for entry in BACKENDS.values():
        assert entry.options_model().model_config.get("extra") == "forbid", entry.name


def test_a_strategy_takes_its_parameters_in_order_or_by_name() -> None:
    assert get_strategy("scheduler@every=16,agree=2").name == "scheduler@16,2"
    assert get_strategy("best-of-n@n=3").name == "best-of-n@3"
    with pytest.raises(UserError, match="no parameter"):
        get_strategy("cot@3")


def test_a_judge_on_a_backend_that_cannot_score_steps_is_refused_when_asked() -> None:
    strategy = get_strategy("best-of-n@2,scripted:x")  # resolved now, built only when a sweep needs it
    assert strategy.name == "best-of-n@2,scripted:x"
    with pytest.raises(UserError, match="unknown backend 'nope'"):
        get_strategy("best-of-n@2,nope:x")
    load = strategy.load_judge  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="cannot score steps"):
        load("scripted:x")
