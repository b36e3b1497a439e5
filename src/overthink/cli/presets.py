"""`overthink presets [NAME]`: the shipped experiment designs, listed or printed as the YAML they are."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from overthink.cli.common import stdout_console
from overthink.presets import get_preset, presets


def presets_cmd(
    name: Annotated[Optional[str], typer.Argument(help="a preset to print as YAML (omit to list them)")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="the list as JSON")] = False,
) -> None:
    """List the shipped experiment designs, or print one (a config file: save it, edit it, run it).

    Run one with `overthink run --preset NAME`; options such as --model, --backend or --n override it.
    """
    if name is not None:
        typer.echo(get_preset(name).text, nl=False)
        return
    found = presets()
    if as_json:
        typer.echo(json.dumps([{"name": p.name, "summary": p.summary, "description": p.description}
                               for p in found], indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="presets (overthink presets NAME prints one; overthink run --preset NAME runs it)")
    table.add_column("name", no_wrap=True)
    table.add_column("what it runs")
    for preset in found:
        table.add_row(escape(preset.name), escape(preset.summary))
    stdout_console.print(table)


def register(app: typer.Typer) -> None:
    app.command("presets")(presets_cmd)
