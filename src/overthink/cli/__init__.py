"""The `overthink` command line: one typer app; each submodule registers its own commands.

User mistakes surface as one line on stderr and exit code 2; checks that fail exit 1.
"""

from __future__ import annotations

import sys

import typer

from overthink.cli import analysis as analysis_commands
from overthink.cli import gate as gate_commands
from overthink.cli import imports as import_commands
from overthink.cli import merge as merge_commands
from overthink.cli import models as model_commands
from overthink.cli import presets as preset_commands
from overthink.cli import run as run_commands
from overthink.cli import tasks as task_commands
from overthink.cli import verifiers as verifier_commands
from overthink.cli.common import console_error
from overthink.errors import UserError
from overthink.store import StoreError

app = typer.Typer(
    name="overthink",
    help="Measure how accuracy and safety change with test-time compute; find and gate inverse scaling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
run_commands.register(app)
model_commands.register(app)
task_commands.register(app)
analysis_commands.register(app)
gate_commands.register(app)
merge_commands.register(app)
preset_commands.register(app)
import_commands.register(app)
verifier_commands.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        # With standalone_mode=False click *returns* the code of a `typer.Exit(n)` instead of raising.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as exc:
        console_error(str(exc))
        sys.exit(2)
    except StoreError as exc:
        console_error(str(exc))
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console_error("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        console_error("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and friends
        import click

        # typer >= 0.2x vendors its own click (typer._click) whose exceptions are not click's.
        vendored = getattr(getattr(typer, "_click", None), "exceptions", None)
        kinds: tuple[type[BaseException], ...] = (click.exceptions.ClickException,)
        if vendored is not None:
            kinds += (vendored.ClickException,)
        if isinstance(exc, kinds):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(2)
        raise
