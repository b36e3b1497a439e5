"""The refusal judge's runner side: its agreement with the rules, read from a store.

scoring/judge.py holds the rubric and the `Judge`; neither it nor the runner imports the registry: the
edge (registry.resolve_run, called by cli/resolve.py) builds the judge's backend once per run, through
the same factories as the run's own models (a bad judge is a UserError before any store exists).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from overthink.scoring.judge import Agreement, agreement
from overthink.store import Store


def store_agreement(store: Store | Path, tasks: Iterable[str] | None = None) -> list[Agreement]:
    """Rules vs judge over a store's ok records that hold a judge verdict (an empty list when none do).

    `tasks` narrows the search to those tasks (the refusal ones: no other kind is ever judged); a store
    holding none of them is answered from its index, without scanning every record's details. An open
    `Store` is read as it is (a command opens its store once); a path is opened for this one read.
    """
    if not isinstance(store, Store):
        with Store(store, create=False) as opened:
            return store_agreement(opened, tasks)
    names = None if tasks is None else sorted(store.tasks_present().intersection(tasks))
    if names is not None and not names:
        return []
    return agreement(store.judged_details(names))
