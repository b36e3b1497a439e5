"""`overthink models list | options BACKEND`: what can be run, and how each backend is configured."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from overthink.cli.common import stdout_console
from overthink.registry import get_backend_options

models_app = typer.Typer(help="List the models overthink can run and the options of each backend.",
                         no_args_is_help=True)


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="print the models as JSON")] = False,
) -> None:
    """Show the embedded models and whether they are installed, with paths."""
    from rich.markup import escape
    from rich.table import Table

    rows = embedded_models()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="models")
    for column in ("name", "description", "installed", "path"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            escape(row["name"] + (" (default)" if row["default"] else "")),
            escape(row["description"]),
            "yes" if row["installed"] else "no (pip install -e .)",
            escape(row["path"] + ("" if row["assembled"] else " (assembled on first use)")),
        )
    stdout_console.print(table)
    stdout_console.print("Any local GGUF file also works: --model PATH.gguf")


def embedded_models() -> list[dict[str, Any]]:
    """One row per embedded model: name, whether it is the default, its parts installed, its GGUF path."""
    from overthink.models.llamacpp.gguf import DEFAULT_MODEL, EMBEDDED_MODELS, cache_dir, part_paths

    rows = []
    for name, entry in EMBEDDED_MODELS.items():
        path = cache_dir() / entry.filename
        rows.append({"name": name, "default": name == DEFAULT_MODEL, "description": entry.description,
                     "installed": part_paths(entry) is not None, "path": str(path), "assembled": path.exists()})
    return rows


def option_rows(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One row per option: name, type, default (as JSON), whether it must be given, and the description
    from `Field(description=...)`."""
    rows = []
    for name, info in model.model_fields.items():
        rows.append({"name": name, "type": _type_name(info), "default": _default(info),
                     "required": info.is_required(), "description": info.description or ""})
    return rows


def _type_name(info: FieldInfo) -> str:
    annotation = info.annotation
    text = getattr(annotation, "__name__", None) if not getattr(annotation, "__args__", None) else None
    return text or str(annotation).replace("typing.", "")


def _default(info: FieldInfo) -> Any:
    if info.default is not PydanticUndefined:
        return info.default
    factory = info.default_factory
    return factory() if factory is not None else None  # type: ignore[call-arg]


@models_app.command("options")
def models_options(
    backend: Annotated[str, typer.Argument(help="llamacpp, openai-compat, anthropic, openai or scripted")],
    as_json: Annotated[bool, typer.Option("--json", help="print the options as JSON")] = False,
) -> None:
    """The options a backend takes (set them under `options:` of a model in a config file)."""
    from rich.markup import escape
    from rich.table import Table

    model = get_backend_options(backend)
    rows = option_rows(model)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=f"{backend} options")
    for column in ("option", "type", "default", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(escape(row["name"]), escape(row["type"]), escape(json.dumps(row["default"], default=str)),
                      escape(row["description"]))
    stdout_console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
