"""`overthink verifiers [NAME]`: the verifiers best-of-n can rerank with, and how each is configured.

A verifier is named as best-of-n's judge (`--strategy best-of-n@4,prm`); its options come from the
config's `verifiers:` section or from `overthink run --verifier-option NAME.KEY=VALUE`, which
`verifier_overrides` merges on top of the config (a key given twice becomes a list: two replicas).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer
import yaml

from overthink.cli.common import stdout_console
from overthink.cli.models import option_rows
from overthink.errors import UserError
from overthink.registry import VERIFIERS, get_verifier_entry, verifier_names

EXAMPLE = "prm.base_urls=http://127.0.0.1:8001/v1"


def _value(raw: str) -> Any:
    """A value as YAML reads it (numbers, true/false, null, [lists]); anything YAML cannot read stays text."""
    try:
        return yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        return raw


def verifier_overrides(values: list[str], current: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The config's `verifiers:` with every `--verifier-option NAME.KEY=VALUE` applied (the option wins)."""
    merged = {name: dict(options) for name, options in current.items()}
    seen: set[tuple[str, str]] = set()
    for text in values:
        head, sep, raw = text.partition("=")
        name, dot, key = head.strip().partition(".")
        name, key = name.strip(), key.strip()
        if not (sep and dot and name and key):
            raise UserError(f"--verifier-option {text!r} is not NAME.KEY=VALUE (e.g. {EXAMPLE})")
        options = merged.setdefault(name, {})
        value = _value(raw.strip())
        if (name, key) in seen:  # given again: one more item of a list (replicas, ...)
            previous = options[key]
            options[key] = [*(previous if isinstance(previous, list) else [previous]), value]
        else:
            options[key] = value
            seen.add((name, key))
    return merged


def verifiers(
    name: Annotated[Optional[str], typer.Argument(help="a verifier: its options (default: list them all)")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """The verifiers best-of-n reranks with (--strategy best-of-n@4,NAME), or the options of one."""
    from rich.markup import escape
    from rich.table import Table

    if name is None:
        rows = [{"name": n, "help": VERIFIERS[n].help} for n in verifier_names()]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title="verifiers (best-of-n@N,NAME; options: overthink verifiers NAME)")
        for column in ("verifier", "what it is"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(escape(row["name"]), escape(row["help"]))
        stdout_console.print(table)
        stdout_console.print("A judge may also be [BACKEND:]MODEL, the built-in step judge on that model.",
                             markup=False)
        return
    entry = get_verifier_entry(name)
    if entry is None:
        raise UserError(f"unknown verifier {name!r}; choose one of: {', '.join(verifier_names())}")
    options = option_rows(entry.options_model)
    if as_json:
        typer.echo(json.dumps(options, indent=2, default=str))
        return
    table = Table(title=f"{name} options (config `verifiers: {{{name}: {{KEY: VALUE}}}}`, or "
                        f"--verifier-option {name}.KEY=VALUE)")
    for column in ("option", "type", "default", "description"):
        table.add_column(column, overflow="fold")
    for row in options:
        default = "(required)" if row["required"] else json.dumps(row["default"], default=str)
        table.add_row(escape(row["name"]), escape(row["type"]), escape(default), escape(row["description"]))
    stdout_console.print(table)


def register(app: typer.Typer) -> None:
    app.command("verifiers")(verifiers)
