"""The study's strategy comparison in the report: refusal and over-refusal against compute for chain of
thought, a vote and best-of-n, with intervals, as headless Chromium renders it.

The store is simulated with the real refusal family (analysis/families.py: its items, labels and scorer),
three strategies on the same problems, the vote and best-of-n at three times CoT's compute and best-of-n
also paying a verifier, so every matched comparison and the verifier's own effect have numbers to show.
A small real run on the embedded model (marked slow) checks the same on records the tiny model wrote.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from headless import run_chromium

from overthink.analysis.families import simulate_family
from overthink.analysis.frame import tidy
from overthink.registry import TASKS
from overthink.report.html import write_report

INTERVAL = r"-?\d\.\d{3} \[-?\d\.\d{3}, -?\d\.\d{3}\]"  # "0.812 [0.700, 0.900]"


def _store() -> tuple[pd.DataFrame, dict[str, object]]:
    family = TASKS["refusal"]
    cot = simulate_family(family, "flat", seed=3, repeats=1)
    vote = simulate_family(family, "flat", seed=4, repeats=1)
    vote = vote[vote["requested_tokens"] <= 1024].assign(strategy="vote@3",
                                                          compute_tokens=lambda f: 3 * f["compute_tokens"])
    best = simulate_family(family, "flat", seed=5, repeats=1)
    best = best[best["requested_tokens"] <= 1024].assign(strategy="best-of-n@3",
                                                          compute_tokens=lambda f: 3 * f["compute_tokens"] + 400)
    for part, name in ((vote, "vote@3"), (best, "best-of-n@3")):
        part["key"] = part["key"] + name
    return tidy(pd.concat([cot, vote, best], ignore_index=True)), {"refusal": family.traits()}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame, traits = _store()
    out = tmp_path_factory.mktemp("strategies") / "report.html"
    write_report(frame, out, n_boot=200, max_samples=3, traits=traits)  # type: ignore[arg-type]
    return out



def _compute_tables(dom: str) -> list[str]:
    return re.findall(r'<table class="equal-compute">(.*?)</table>', dom, flags=re.S)


def _cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]


@pytest.mark.browser
def test_the_strategy_tables_render_with_intervals_for_refusal_and_over_refusal(report: Path,
                                                                                   tmp_path: Path) -> None:
    dom = run_chromium(["--dump-dom", report.as_uri()], tmp_path).stdout
    assert "Equal compute: strategies against chain of thought" in dom
    assert "label=harmful: refusal" in dom and "label=benign: over_refusal" in dom
    tables = _compute_tables(dom)
    assert len(tables) == 2  # one per label, never pooled
    for table in tables:
        rows = [_cells(r) for r in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]]
        assert {r[0] for r in rows} == {"cot", "vote@3", "best-of-n@3"}
        for cells in rows:
            assert re.fullmatch(r"\d+ \[\d+, \d+\]", cells[2]), cells  # compute per problem [95% CI]
            assert re.fullmatch(INTERVAL, cells[3]), cells  # the metric [95% CI]
        tested = [r for r in rows if r[0] != "cot" and len(r) == 8 and re.fullmatch(INTERVAL, r[5])]
        assert len(tested) >= 3  # the vote's and best-of-n's matched differences, with simultaneous intervals
        assert all(r[6] and r[7] for r in tested)  # an adjusted p and a call beside each
    said = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", dom))
    assert re.search(r"best-of-n@3 − vote@3 at budget 0: " + INTERVAL + r" for \d+ more tokens per problem", said)
    assert "the verifier's choice alone" in said


@pytest.mark.browser
def test_the_strategy_figure_shows_every_strategy_with_its_band(report: Path, tmp_path: Path) -> None:
    import base64
    import io

    from matplotlib.image import imread

    html = report.read_text(encoding="utf-8")
    figure = re.search(r'<img alt="Equal compute: [^"]*" src="data:image/png;base64,([^"]+)"', html)
    assert figure is not None
    pixels = imread(io.BytesIO(base64.b64decode(figure.group(1))))[..., :3]
    assert pixels.shape[1] > 2 * pixels.shape[0]  # two panels side by side: refusal, over-refusal
    coloured = (pixels.max(axis=2) - pixels.min(axis=2) > 0.3).mean()
    light = ((pixels.min(axis=2) > 0.75) & (pixels.max(axis=2) - pixels.min(axis=2) > 0.04)).mean()
    assert coloured > 0.002 and light > 0.01, (coloured, light)  # lines, and the pale 95% bands around them
    head, _, rest = html.partition('<h3 id="equal-compute-1">')
    section = tmp_path / "section.html"  # the report's own head and styles, the equal-compute section in view
    section.write_text(head.split("<body>")[0] + "<body><h3>" + rest.split("</table>")[0] + "</table></body></html>",
                       encoding="utf-8")
    shot = tmp_path / "shot.png"
    run_chromium(["--window-size=1280,1400", f"--screenshot={shot}", section.as_uri()], tmp_path)
    assert shot.exists()
    seen = imread(str(shot))[..., :3]
    assert (seen.max(axis=2) - seen.min(axis=2) > 0.3).mean() > 0.001  # the page shows it in colour


@pytest.mark.slow
@pytest.mark.browser
def test_a_real_run_of_three_strategies_on_the_tiny_model_renders_the_comparison(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from overthink.cli import app

    store, out = tmp_path / "s.db", tmp_path / "r.html"
    for strategy in ("cot", "vote@2", "best-of-n@2"):
        budgets = "0,16,48" if strategy == "cot" else "0,16"
        ran = CliRunner().invoke(app, ["run", "--model", "tiny", "--task", "refusal", "--n", "4", "--budgets", budgets,
                                       "--strategy", strategy, "--max-answer-tokens", "8", "--temperature", "0.6",
                                       "--store", str(store), "--quiet"])
        assert ran.exit_code in (0, 1), ran.output
    shown = CliRunner().invoke(app, ["report", "--store", str(store), "--out", str(out)])
    assert shown.exit_code == 0, shown.output
    dom = run_chromium(["--dump-dom", out.as_uri()], tmp_path).stdout
    tables = _compute_tables(dom)
    assert tables and all({"cot", "vote@2", "best-of-n@2"} <= {r[0] for r in map(
        _cells, re.findall(r"<tr>(.*?)</tr>", t, flags=re.S)[1:])} for t in tables)
    assert all(re.search(r"\d+ \[\d+, \d+\]", t) for t in tables)
