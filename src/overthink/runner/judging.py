"""The refusal judge's runner side: its agreement with the rules, read from a store.

scoring/judge.py holds the rubric and the `Judge`; neither it nor the runner imports the registry: the
edge (registry.resolve_run, called by cli/resolve.py) builds the judge's backend once per run, through
the same factories as the run's own models (a bad judge is a UserError before any store exists).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from overthink.runner.store import Store
from overthink.scoring.judge import Agreement, agreement


def store_agreement(path: Path, tasks: Iterable[str] | None = None) -> list[Agreement]:
    """Rules vs judge over a store's ok records that hold a judge verdict (an empty list when none do).

    `tasks` narrows the search to those tasks (the refusal ones: no other kind is ever judged); a store
    holding none of them is answered from its index, without scanning every record's details.
    """
    with Store(path, create=False) as store:
        where: str = ""
        params: tuple[str, ...] = ()
        if tasks is not None:
            present = {str(row[0]) for row in store.conn.execute("SELECT DISTINCT task FROM records")}
            names = sorted(present.intersection(tasks))
            if not names:
                return []
            where, params = f" AND task IN ({', '.join('?' for _ in names)})", tuple(names)
        cursor = store.conn.execute(
            "SELECT score_details FROM records WHERE status = 'ok' AND score_details LIKE '%\"judge_model\"%'"
            + where, params)
        return agreement(json.loads(text) for (text,) in cursor if text)
