"""The report's "Inside the trace" section: crystallization figure and flip browser, in markup and in Chromium.

The store is a real probed sweep (the probed cot strategy through the executor into SQLite) of a
scripted tracer whose refusal items refuse until a planted prefix and then comply with a hostile
answer (`<script>`, an `<img onerror>`, a tag in the model's reasoning); the report is written the
way `overthink report` writes it, texts and probes fetched by key from the store.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "strategies"))

from headless import run_chromium, without_csp
from scripted_tracer import ScriptedTracer

from overthink.analysis.crystallize import probe_frame, probe_points_of
from overthink.analysis.frame import load, load_traits, texts
from overthink.models.base import GenerationRequest
from overthink.models.generation import GenerationConfig
from overthink.models.scripted import oracle_of
from overthink.report.inside import divergence
from overthink.runner.execute import Executor
from overthink.runner.plan import plan_groups
from overthink.store import Store
from overthink.strategies.probes import ProbedCotStrategy
from overthink.tasks.refusal import TASK, generate
from overthink.types import Budget

MARK = "data-pwned"
SCRIPT = f"<script>document.body.setAttribute('{MARK}', 'script')</script>"
IMG = f"<img src=x onerror=\"document.body.setAttribute('{MARK}', 'img')\">"


def _script(flip_at: dict[str, int]):  # type: ignore[no-untyped-def]
    def script(request: GenerationRequest) -> tuple[str, str]:
        tokens = request.budget.tokens or 0
        reasoning = " ".join(f"w{i}" for i in range(tokens)) + f" {IMG}"
        if tokens < flip_at.get(oracle_of(request).item, 10**9):
            return reasoning, "I can't help with that."
        return reasoning, f"Sure, here it is: {SCRIPT}"
    return script


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from overthink.report.html import write_report

    root = tmp_path_factory.mktemp("inside")
    samples = generate(24, 0)
    flip_at = {s.id: (60, 140, 10**9)[i % 3] for i, s in enumerate(samples)}
    strategy = ProbedCotStrategy(20)
    groups = plan_groups(experiment="r", model="scripted", task=TASK.name, task_version=TASK.version,
                         samples=samples, budgets=[Budget.parse(b) for b in ("0", "80", "160")],
                         strategy=strategy.name, repeats=1, base_seed=0)
    path = root / "s.db"
    with Store(path) as store:
        store.declare_tasks([TASK.name], lambda _: TASK.traits())
        asyncio.run(Executor(ScriptedTracer(_script(flip_at)), TASK, store, GenerationConfig(temperature=0.0),
                             strategy=strategy).run(groups))
    out = root / "report.html"
    with Store(path, create=False) as opened:
        write_report(load(opened, text=False), out, n_boot=200, max_samples=6, traits=load_traits(path),
                     texts=lambda keys: texts(opened, keys), probes=probe_frame(opened.probe_decisions()),
                     probe_points=lambda keys: probe_points_of(opened, keys))
    return out


def test_the_section_lists_flips_by_kind_and_label_with_escaped_text(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html.lower()  # the hostile answer is text; the filters need no script either
    assert "&lt;script&gt;document.body.setAttribute" in html and "&lt;img src=x onerror=" in html
    assert 'id="inside"' in html and "Flips between budgets" in html
    cards = re.findall(r'<details class="flip k-(\d+) l-(\d+)">', html)
    assert cards and {label for _, label in cards} == {"0", "1"}  # harmful and benign items both flipped
    assert "refuse-&gt;comply" in html
    assert html.count('class="fork"') == len(cards)  # each trace marks where the longer budget went on
    assert 'class="probe good"' in html and 'class="probe bad"' in html
    assert html.count('alt="crystallization"') == 1


def test_divergence_is_the_common_prefix_of_the_two_traces() -> None:
    assert divergence("w0 w1 w2", "w0 w1 w2 w3 w4") == len("w0 w1 w2")
    assert divergence("", "abc") == 0 and divergence("abd", "abc") == 2



@pytest.mark.browser
def test_chromium_renders_the_section_and_runs_no_payload(report: Path, tmp_path: Path) -> None:
    page = without_csp(report, tmp_path)  # without the CSP, so the check is of escaping itself
    dom = run_chromium(["--dump-dom", page.as_uri()], tmp_path).stdout
    assert "Inside the trace" in dom and "Flips between budgets" in dom
    assert f'{MARK}="' not in dom  # no payload ran
    # the section alone, with the report's own head (styles and CSP), so the screenshot shows it
    full = report.read_text(encoding="utf-8")
    head = full[:full.index("<body>")]
    section = full[full.index("<style>\n  .flip"):full.index('<h2 id="samples">')]
    alone = tmp_path / "inside.html"
    alone.write_text(f"{head}<body>{section}</body></html>", encoding="utf-8")
    shot = tmp_path / "inside.png"
    run_chromium([f"--screenshot={shot}", "--window-size=1200,1600", alone.as_uri()], tmp_path)
    assert shot.exists() and shot.stat().st_size > 20_000  # a rendered section, not a blank page
