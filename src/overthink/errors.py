"""User-facing errors: the CLI turns these into a one-line message and exit code 2, never a traceback."""

from __future__ import annotations

from pydantic import ValidationError


class UserError(Exception):
    """A mistake in the user's input (names, numbers, paths) with a message that says how to fix it."""


class TaskError(UserError):
    """A problem with a task's parameters or data files (bad level, unknown category, malformed line)."""


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """(where, what) of a validation error's first problem, e.g. ("models.0.options", "Extra inputs...")."""
    first = exc.errors()[0]
    message = first["msg"]
    if first["type"] == "value_error":  # our validators' own words, without pydantic's "Value error, " prefix
        message = message.removeprefix("Value error, ")
    return ".".join(str(part) for part in first["loc"]), message
