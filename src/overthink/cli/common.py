"""Helpers shared by the CLI modules: one-line errors, and consoles that print tables whole when piped.

A table printed to a terminal fits the terminal. Printed to a pipe or a file (`overthink models list |
cat`, a CI log, a script), it is read by something that cannot scroll sideways or undo a wrap, so there
the console is as wide as any row: no cell is wrapped or cut with "…", and a path stays on one line.
"""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console

PIPED_WIDTH = 10_000  # columns of a console writing to a pipe or file: wider than any row we print


def _is_terminal(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


def console_for(stream: IO[str] | None) -> Console:
    """A console that fits the terminal, or never wraps when `stream` is not one."""
    return Console(highlight=False, emoji=False, width=None if _is_terminal(stream) else PIPED_WIDTH)


# emoji=False: ":x:" in a model name, a path or model output is text, never an emoji code.
stderr_console = Console(stderr=True, highlight=False, emoji=False)  # one-line messages and progress
stdout_console = console_for(sys.stdout)


def console_error(message: str) -> None:
    """Print a one-line error (escaped: a message may quote user or model text)."""
    from rich.markup import escape

    stderr_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # one line at any width
