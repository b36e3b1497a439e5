"""`overthink import inspect PATH... --store S`: Inspect eval logs become records that every command reads.

The reading and mapping live in overthink/inspect/ (logs.py, importer.py), the only place that imports
inspect_ai; without the `inspect` extra the command says how to install it (exit 2). A bad log is one
line naming the file and the problem, exit 2, and nothing is written. The summary goes to stdout (or
one JSON document with `--json`), progress and warnings to stderr.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from overthink.cli.common import stderr_console, stdout_console
from overthink.errors import UserError

if TYPE_CHECKING:
    from overthink.inspect.importer import ImportReport

app = typer.Typer(name="import", help="Import results of other tools into an overthink store.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

INSTALL = 'pip install "overthink[inspect]"'


def _require_inspect() -> None:
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        raise UserError(f"importing Inspect logs needs inspect-ai (Python 3.11+): {INSTALL}") from None


@contextmanager
def _bar(total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    """Samples read / total with elapsed time and ETA, on stderr (left out for small imports)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from overthink.cli.progress import Remaining

    progress = Progress(TextColumn("importing Inspect samples"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("elapsed"), TimeElapsedColumn(), Remaining(), console=stderr_console,
                        disable=quiet or total < 100, transient=False)
    task = progress.add_task("import", total=total, done_now=0, started=time.perf_counter())
    done = 0

    def advance(samples: int) -> None:
        nonlocal done
        done += samples
        progress.update(task, advance=samples, done_now=done)

    with progress:
        yield advance


def _print(report: ImportReport) -> None:
    files = "file" if report.files == 1 else "files"
    line = (f"Imported {report.files} Inspect log {files}, {report.samples} samples: {report.ok} ok records, "
            f"{report.errors} error records; {report.written} written to {report.store}"
            + (f", {report.present} already there" if report.present else "")
            + (f", {report.duplicates} samples repeating a key (first kept)" if report.duplicates else "") + ".")
    stdout_console.print(line, markup=False, soft_wrap=True)
    stdout_console.print(f"experiment: {report.experiment}", markup=False, soft_wrap=True)
    stdout_console.print(f"tasks: {', '.join(report.tasks) or '-'}"
                         + (f" ({report.rescored} samples re-scored by overthink's own scorers)"
                            if report.rescored else ""), markup=False, soft_wrap=True)
    stdout_console.print(f"models: {', '.join(report.models) or '-'}", markup=False, soft_wrap=True)
    stdout_console.print(f"budgets: {', '.join(report.budgets) or '-'}", markup=False, soft_wrap=True)
    stdout_console.print(f"next: overthink analyze --store {report.store}", markup=False, soft_wrap=True)


@app.command("inspect")
def inspect_cmd(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...",
                                                help="Inspect logs (.eval, .json) or directories holding them")],
    store: Annotated[Path, typer.Option("--store", help="store to write (created if new, else added to)")],
    experiment: Annotated[str, typer.Option(
        "--experiment", help="experiment name in the records' keys (keeps imports apart)")] = "inspect",
    scorer: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--scorer", help="Inspect scorer to keep for foreign tasks (default: the log's first)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Import Inspect eval logs: one record per sample, then analyze/report/gate/recommend read the store."""
    _require_inspect()
    from overthink.inspect.importer import import_logs

    report = import_logs(paths, store, experiment=experiment, scorer=scorer,
                         progress=lambda total: _bar(total, quiet))
    for warning in report.warnings:
        stderr_console.print(f"warning: {warning}", markup=False, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
        return
    _print(report)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="import")
