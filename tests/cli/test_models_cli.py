"""`overthink models options BACKEND`: every backend option is listed with its type, default and description."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from overthink.cli import app
from overthink.errors import UserError
from overthink.registry import BACKENDS, get_backend_options


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_option_of_every_backend_is_described(backend: str) -> None:
    result = CliRunner().invoke(app, ["models", "options", backend, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == list(get_backend_options(backend).model_fields)
    assert all(row["description"] and row["type"] for row in rows), [r["name"] for r in rows if not r["description"]]


def test_the_listed_defaults_are_the_ones_a_backend_gets() -> None:
    rows = {row["name"]: row for row in json.loads(CliRunner().invoke(
        app, ["models", "options", "openai-compat", "--json"]).output)}
    defaults = get_backend_options("openai-compat")()
    assert rows["base_urls"]["default"] == defaults.base_urls  # type: ignore[attr-defined]
    assert rows["server_sampling"]["default"] == {"repeat_penalty": 1.0, "min_p": 0.0}
    table = CliRunner().invoke(app, ["models", "options", "llamacpp"])
    assert table.exit_code == 0 and "chat_template" in table.output


def test_an_unknown_backend_is_a_user_error() -> None:
    result = CliRunner().invoke(app, ["models", "options", "nope"])
    assert isinstance(result.exception, UserError) and "openai-compat" in str(result.exception)
