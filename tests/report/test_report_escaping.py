"""The HTML report escapes every piece of model text; checked in the markup and in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from headless import run_chromium, without_csp

from overthink.analysis.frame import tidy
from overthink.analysis.simulate import simulate_frame
from overthink.report.html import write_report

MARK = "data-pwned"
SCRIPT = f"<script>document.body.setAttribute('{MARK}', 'script')</script>"
IMG = f"<img src=x onerror=\"document.body.setAttribute('{MARK}', 'img')\">"
CLOSE = "</pre></details><script>document.body.setAttribute('data-pwned','breakout')</script>"


def _hostile_frame() -> pd.DataFrame:
    """A small simulated store whose model text (and even model name) carries script payloads."""
    raw = simulate_frame({0: 0.9, 1024: 0.8, 4096: 0.7}, 40, 2, 7, natural=True)
    raw["prompt"] = f"Count the apples. {SCRIPT}"
    raw["reasoning"] = f"Let me think {IMG} and then {CLOSE}"
    raw["answer_text"] = f"{{{{ 7*7 }}}} {SCRIPT}"
    raw["model"] = "evil<b>model</b>"
    raw["error"] = None
    raw["score_details"] = json.dumps({})
    raw["extra"] = json.dumps({})
    return tidy(raw)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    write_report(_hostile_frame(), out, n_boot=200, max_samples=12)
    return out


def test_markup_contains_payloads_only_as_escaped_text(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "onerror=" not in html.replace("onerror=&#34;", "")  # only inside escaped text
    assert "&lt;script&gt;document.body.setAttribute" in html
    assert "&lt;img src=x onerror=" in html
    assert "evil&lt;b&gt;model&lt;/b&gt;" in html and "<b>model" not in html
    assert "{{ 7*7 }}" in html  # template syntax in model text is not evaluated either
    assert html.count('<details class="sample">') == 12
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 3  # figures are embedded




@pytest.mark.browser
def test_chromium_runs_no_payload_and_shows_the_text(report: Path, tmp_path: Path) -> None:
    control = tmp_path / "control.html"  # proves the harness would notice a payload that runs
    control.write_text(f"<html><body><p>x</p>{SCRIPT}</body></html>", encoding="utf-8")
    assert MARK in run_chromium(["--dump-dom", control.as_uri()], tmp_path).stdout
    dom = run_chromium(["--dump-dom", without_csp(report, tmp_path).as_uri()], tmp_path).stdout
    assert "Sample browser" in dom
    assert MARK + "=" not in dom.split("<body", 1)[1].split(">", 1)[0]  # body attribute never set
    assert "&lt;script&gt;document.body.setAttribute" in dom  # shown as text
    assert "&lt;img src=x onerror=" in dom
    assert dom.lower().count("<script") == 0


@pytest.mark.browser
def test_screenshot_shows_the_report_with_figures(report: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    result = run_chromium(["--window-size=1280,1600", f"--screenshot={shot}", report.as_uri()], tmp_path)
    assert shot.exists(), result.stderr[-500:]
    pixels = imread(str(shot))[..., :3]
    assert pixels.shape[0] == 1600 and pixels.shape[1] == 1280
    non_white = (pixels < 0.95).any(axis=2).mean()
    saturated = (pixels.max(axis=2) - pixels.min(axis=2) > 0.3).mean()  # coloured plot lines and bands
    assert non_white > 0.03 and saturated > 0.001, (non_white, saturated)  # one main curve in view


def test_report_on_a_sparse_store_still_renders(tmp_path: Path) -> None:
    bare = pd.DataFrame({"model": ["m"], "task": ["x"], "mechanism": ["forced"], "strategy": ["single"],
                         "sample_id": ["a"], "budget": ["0"], "repeat": [0], "status": ["error"],
                         "score": [None], "error": ["<b>boom</b>"], "prompt": ["<i>p</i>"]})
    out = write_report(tidy(bare), tmp_path / "r.html", n_boot=100)
    html = out.read_text(encoding="utf-8")
    assert "No finished records" in html and "&lt;b&gt;boom&lt;/b&gt;" in html
