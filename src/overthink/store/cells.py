"""One curve family's records aggregated per (budget, problem) in SQL: the end-of-run table's input.

One row per (budget, problem) reaches Python, never one per record, so the table a sweep prints at
its end costs memory per problem, not per record. The statistic built on these cells lives in
analysis/run_table.py; this module only knows how to ask the store for them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

GROUP_SQL = {  # the raw group of a record (see summary.group_label), chosen by the grouping, never by data
    "control": """CASE WHEN json_type(metadata, '$.control') IS NULL THEN 'all'
            WHEN json_extract(metadata, '$.control') THEN 'control' ELSE 'treated' END""",
    "label": "COALESCE(CAST(json_extract(metadata, '$.label') AS TEXT), 'all')",
}

CELLS_SQL = """
SELECT budget, sample_id, {group},
       MAX(requested_tokens),
       SUM(status = 'ok'), SUM(status != 'ok'),
       AVG(CASE WHEN status = 'ok' THEN score END),
       TOTAL(CASE WHEN status = 'ok' THEN reasoning_tokens END),
       COUNT(CASE WHEN status = 'ok' AND reasoning_tokens IS NOT NULL THEN 1 END),
       SUM(CASE WHEN status = 'ok' AND looping THEN 1 ELSE 0 END),
       COALESCE(CAST(json_extract(metadata, ?) AS TEXT), ''),
       SUM(CASE WHEN status = 'ok' AND json_extract(extra, '$.censored') THEN 1 ELSE 0 END)
FROM records WHERE experiment = ? AND model = ? AND task = ? AND strategy = ?
GROUP BY budget, sample_id
"""


@dataclass(frozen=True)
class CellRow:
    """One problem at one budget, aggregated over its repeats (what the table needs, no text)."""

    budget: str
    sample_id: str
    group: str  # raw group: control/treated/all, or the record's label
    requested: int | None
    ok: int
    errors: int
    mean_score: float | None  # mean over its finished records with a score
    realized_sum: float
    realized_n: int
    looping: int
    level: str = ""  # the item's value of the grouping key ("8" for shots=8), "" without one
    censored: int = 0  # finished records whose trace never ended by itself (censored at the cap)


def _json_path(key: str | None) -> str:
    """A JSON path to one metadata key, quoted so any key name is a key (NULL result without a key)."""
    return '$."' + key.replace('"', '""') + '"' if key else "$.__no_grouping_key__"


def curve_cells(conn: sqlite3.Connection, *, experiment: str, model: str, task: str, strategy: str,
                by_label: bool, key: str | None) -> list[CellRow]:
    """The cells of one (experiment, model, task, strategy), grouped by label or by control, with each
    problem's value of metadata `key`."""
    sql = CELLS_SQL.format(group=GROUP_SQL["label" if by_label else "control"])
    cursor = conn.execute(sql, (_json_path(key), experiment, model, task, strategy))
    return [CellRow(str(b), str(s), str(g), None if q is None else int(q), int(ok), int(err),
                    None if mean is None else float(mean), float(total), int(n), int(loops), str(level),
                    int(censored or 0))
            for b, s, g, q, ok, err, mean, total, n, loops, level, censored in cursor]
