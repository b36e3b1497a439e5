"""The task traits analysis reads a store with: the store's own, else the registry's (old stores).

Analysis never imports the task registry; it takes a task's metric, direction, strata and clusters
from what the store declares (the `tasks` table). Stores written before traits were kept declare
nothing, and a merge of old and new stores may declare only some tasks, so the command line -- the
one layer that knows the registry -- fills in the registered tasks' traits. The store's declaration
always wins, and a task neither knows is read by analysis's defaults (accuracy, higher is better).
"""

from __future__ import annotations

from pathlib import Path

from overthink.store import Store
from overthink.types import TaskTraits


def registry_traits() -> dict[str, TaskTraits]:
    """Every registered task's traits, as a sweep would write them today."""
    from overthink.registry import TASKS

    return {name: spec.traits() for name, spec in TASKS.items()}


def store_traits(path: Store | str | Path) -> dict[str, TaskTraits]:
    """The traits to analyse the store (open, or at `path`) with: its declared ones over the registry's."""
    from overthink.analysis.frame import load_traits
    from overthink.analysis.metrics import traits_with_fallback

    return traits_with_fallback(load_traits(path), registry_traits())
