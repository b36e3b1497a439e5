"""The end-of-run table: problem-level bootstrap, repeats averaged within a problem first."""

from __future__ import annotations

import math

import numpy as np

from overthink.analysis.run_table import bootstrap_mean_ci, summarize


def test_ci_brackets_the_mean_and_is_seeded() -> None:
    values = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    mean, low, high = bootstrap_mean_ci(values, seed=3)
    assert mean == 0.625 and low < mean < high
    assert bootstrap_mean_ci(values, seed=3) == (mean, low, high)
    assert bootstrap_mean_ci(np.ones(5)) == (1.0, 1.0, 1.0)
    assert all(math.isnan(x) for x in bootstrap_mean_ci(np.array([])))


def test_summarize_groups_by_budget_and_averages_repeats() -> None:
    def row(sample: str, budget: str, score: float, control: bool, tokens: int) -> dict[str, object]:
        return {"sample_id": sample, "budget": budget, "score": score, "status": "ok", "requested_tokens": None,
                "reasoning_tokens": tokens, "looping": 0, "metadata": {"control": control}}

    rows = [
        row("a", "0", 1.0, True, 0), row("a", "0", 0.0, True, 0),  # two repeats of one problem: mean 0.5
        row("b", "0", 1.0, False, 0),
        row("a", "64", 1.0, True, 64), row("b", "64", 0.0, False, 64),
        row("a", "natural", 1.0, True, 30),
    ]
    table = summarize(rows)
    assert [r.budget for r in table] == ["0", "64", "natural"]
    first = table[0]
    assert first.metric == 0.75 and first.n_items == 2 and first.n_records == 3
    assert first.by_group["control"][0] == 0.5 and first.by_group["treated"][0] == 1.0
    assert table[1].mean_realized == 64


def test_the_sql_aggregation_gives_the_same_table_as_the_records(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The end-of-run table from per-problem cells aggregated in SQLite equals the one from all rows."""

    from overthink.analysis.run_table import store_cells, summarize_cells
    from overthink.analysis.simulate import simulate_frame, write_store
    from overthink.store import Store

    raw = simulate_frame({0: 0.8, 64: 0.7, 128: 0.6}, 40, 3, 2, control_curve={0: 0.8, 64: 0.8, 128: 0.8},
                         control_fraction=0.3, natural=True)
    raw.loc[raw.index[::17], "score"] = None  # some errors
    write_store(raw, tmp_path / "s.db")
    with Store(tmp_path / "s.db", create=False) as store:
        cells = store_cells(store, experiment="simulated", model="sim", task="sim_task", strategy="single")
        rows = list(store.rows())
    assert cells and any(c.errors for c in cells)
    from_sql, from_rows = summarize_cells(cells), summarize(rows)
    assert [r.budget for r in from_sql] == [r.budget for r in from_rows] == ["0", "64", "128", "natural"]
    for a, b in zip(from_sql, from_rows, strict=True):
        assert (a.n_items, a.n_records, a.errors, a.requested) == (b.n_items, b.n_records, b.errors, b.requested)
        for x, y in ((a.metric, b.metric), (a.low, b.low), (a.high, b.high), (a.mean_realized, b.mean_realized),
                     (a.looping, b.looping)):
            assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        assert a.by_group.keys() == b.by_group.keys() == {"control", "treated"}
