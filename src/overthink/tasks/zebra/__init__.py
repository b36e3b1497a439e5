"""Zebra puzzles: the family's generator and scorer (zebra.py) over its clue model, parser, solver and text.

The family spans five modules, so it is a package; `overthink.tasks.zebra` re-exports what the rest
of the tool uses of it (the task, its name, version and levels), so callers never name the modules.
"""

from overthink.tasks.zebra.zebra import (
    DEFAULT_SIZES,
    DISTRACTORS,
    MAX_SIZE,
    MIN_SIZE,
    NAME,
    TASK,
    VERSION,
    check,
    generate,
    score,
)

__all__ = ["DEFAULT_SIZES", "DISTRACTORS", "MAX_SIZE", "MIN_SIZE", "NAME", "TASK", "VERSION", "check", "generate",
           "score"]
