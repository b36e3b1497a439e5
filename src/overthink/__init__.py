"""overthink: measure how accuracy and safety change with test-time compute.

`overthink.load(path)` reads a store into a tidy pandas DataFrame (imported lazily, so the command
line does not pay for pandas unless it analyses something); `overthink.load_traits(path)` gives the
traits (metric, direction, strata, clusters) the store declares for its tasks, which the analysis
functions take as `traits=`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from overthink.types import TaskTraits

__version__ = "0.1.0"
__all__ = ["__version__", "load", "load_traits"]


def load(path: str | Path) -> pd.DataFrame:
    """Records of a store as one tidy DataFrame (see overthink.analysis.frame)."""
    from overthink.analysis.frame import load as load_frame

    return load_frame(path)


def load_traits(path: str | Path) -> dict[str, TaskTraits]:
    """The task traits a store declares, with the registered tasks' traits for tasks it does not declare."""
    from overthink.cli.traits import store_traits

    return store_traits(path)
