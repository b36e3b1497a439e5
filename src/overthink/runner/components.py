"""What the edge hands the runner: the objects built from the config's names, and the table reader.

The registry (cli/resolve.py through registry.resolve_run) builds these once; below the edge nothing
looks a name up, so a plugin's backend or strategy runs exactly like a built-in one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from overthink.models.base import Backend
from overthink.store import Store
from overthink.strategies.base import Strategy
from overthink.tasks.base import TaskSpec
from overthink.types import BudgetRow

__all__ = ["Closable", "Components", "RunTable"]


@runtime_checkable
class Closable(Protocol):
    """What the run closes when it ends: a backend, or a verifier holding connections (a served PRM)."""

    async def aclose(self) -> None: ...


class RunTable(Protocol):
    """Reads one sweep's end-of-run table from the store. The table is a statistic of the read side
    (analysis/run_table.py); the edge hands it in, so the run side never imports the read side."""

    def __call__(self, store: Store, *, experiment: str, model: str, task: str,
                 strategy: str) -> Sequence[BudgetRow]: ...


@dataclass(frozen=True)
class Components:
    """What the edge (cli/resolve.py) built from the config's names, once: the runner never looks a name
    up. `tasks` and `backends` are in the config's order; `judge_backend` is the refusal judge's (one of
    `backends` when it names a run model); `extra` gives the backends built on demand during the run
    (a best-of-n judge model) and the verifiers holding connections (a served PRM), closed with the
    others when the run ends."""

    tasks: Sequence[TaskSpec]
    strategies: Sequence[Strategy]  # in the config's order; each sweeps every (model, task)
    backends: Sequence[Backend]
    judge_backend: Backend | None = None
    extra: Callable[[], Sequence[Closable]] = tuple
    table: RunTable | None = None  # the end-of-run table's reader (the read side's; None: no table rows)

    def owned(self) -> list[Closable]:
        """Every backend (and connection-holding verifier) of the run, each once, for closing in the run's
        own event loop."""
        seen: dict[int, Closable] = {}
        for backend in (*self.backends, *([self.judge_backend] if self.judge_backend else []), *self.extra()):
            seen.setdefault(id(backend), backend)
        return list(seen.values())
