"""`overthink merge STORE... --out STORE`: combine the stores of a sharded (or split) sweep into one.

The rules live in store/merge.py: dedupe by key, ok supersedes error, two different ok records for
one key are a conflict that names the key and writes nothing (exit 2, like any bad input). The
command only parses, calls it and prints one summary line (or `--json` for scripts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from overthink.cli.common import stdout_console


def merge_cmd(
    stores: Annotated[list[Path], typer.Argument(metavar="STORE...", help="stores to merge (shards, or any runs)")],
    out: Annotated[Path, typer.Option("--out", help="merged store: a new file, or one of the inputs to merge into it")],
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Merge stores into one: dedupe by key, ok rows supersede error rows, all attempts are kept."""
    from overthink.store.merge import merge_stores

    report = merge_stores(stores, out)
    if as_json:
        print(json.dumps(report.to_json(), sort_keys=True))
        return
    count = len(report.inputs)
    line = (f"Merged {count} store{'s' if count > 1 else ''} into {report.out}: {report.records} records "
            f"({report.ok} ok, {report.errors} errors), {report.attempts} failed attempts kept; "
            f"{report.superseded} error rows superseded, {report.duplicates} duplicate rows dropped.")
    if report.traits_replaced:
        line += (f" Inputs declared {', '.join(report.traits_replaced)} differently; the last input's "
                 "declaration was kept.")
    if report.errors:
        line += " Re-run the sweep (or its shard) on a store holding the errors to retry them, then merge again."
    stdout_console.print(line, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("merge")(merge_cmd)
