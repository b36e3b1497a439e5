"""A task family from a throwaway plugin distribution, with zero edits to core.

The distribution is written into a temporary folder (a package plus a `.dist-info` whose
entry_points.txt names a function in the `overthink.tasks` group) and put on PYTHONPATH of real
`overthink` processes only, never into this environment. Its family brings its own metric (a name
core has never heard of, with its own unit and minimum effect), traits and null model; the CLI must
simulate it, analyse it, gate it with the metric's own tolerance, report it and calibrate it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = '''
"""A coin-call task: say which side a described coin landed on."""

import numpy as np

from overthink.tasks.base import TaskSpec, sample_id
from overthink.tasks.family import Family, register_family
from overthink.tasks.metric import Metric
from overthink.tasks.null_model import BinaryNull
from overthink.types import Sample, Score

CALLS_RIGHT = Metric("calls_right", True, 0.03, unit="calls", task_directed=True)
COINS = ("fair", "bent")


def generate(n, seed):
    return [Sample(id=sample_id("coin", "1", seed, i), task="coin", prompt=f"Coin {i}: heads or tails?",
                   target="heads" if i % 2 else "tails", metadata={"coin": COINS[i % 2]}) for i in range(n)]


def score(sample, text):
    said = "heads" if "heads" in text.lower() else "tails" if "tails" in text.lower() else None
    return Score(value=float(said == sample.target), correct=said == sample.target, extracted=said)


def _items(samples):
    base = np.array([0.9 if s.metadata["coin"] == "fair" else 0.7 for s in samples])
    other = {"heads": "tails", "tails": "heads"}
    return base, [[[f"It is {other[s.target]}."], [f"It is {s.target}."]] for s in samples]


TASK = TaskSpec(name="coin", version="1", description="coin calls (plugin)", generate=generate, score=score,
                check=lambda s: True, strata=("coin",), metric=CALLS_RIGHT)


def register():
    register_family(Family(TASK, BinaryNull(_items), calibration_n=300, description="coin calls"))
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the plugin package and its dist-info (what `pip install --target` writes)."""
    root = tmp_path_factory.mktemp("plugin")
    (root / "coin_plugin").mkdir()
    (root / "coin_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = root / "coin_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: coin-plugin\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[overthink.tasks]\ncoin = coin_plugin:register\n", encoding="utf-8")
    return root


def _run(plugin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    paths = [str(plugin), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p), COLUMNS="240")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=600, check=False)


@pytest.fixture(scope="module")
def stores(plugin_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stores")
    out: dict[str, Path] = {}
    for scenario in ("flat", "drop10"):
        out[scenario] = folder / f"{scenario}.db"
        done = _run(plugin_path, "-m", "overthink", "simulate", "--family", "coin", "--scenario", scenario,
                    "--out", str(out[scenario]), "--seed", "3")
        assert done.returncode == 0, done.stderr
        assert "coin records" in done.stdout
    return out


def test_the_plugin_is_not_in_this_environment() -> None:
    from overthink.tasks.catalog import families

    assert "coin" not in families()  # only the subprocesses see it: nothing was installed here


def test_analyze_reads_the_plugin_metric_and_strata(plugin_path: Path, stores: dict[str, Path]) -> None:
    done = _run(plugin_path, "-m", "overthink", "analyze", "--store", str(stores["drop10"]), "--json", "--boot", "200")
    assert done.returncode == 0, done.stderr
    curves = json.loads(done.stdout)["curves"]
    main = next(c for c in curves if c["stratum"] == "all")
    assert (main["metric"], main["unit"]) == ("calls_right", "calls")
    assert main["verdict"]["verdict"] == "inverse" and main["verdict"]["min_effect"] == 0.03
    assert {c["stratum"] for c in curves} >= {"all", "coin=fair", "coin=bent"}


def test_gate_uses_the_metric_s_own_tolerance_and_unit(plugin_path: Path, stores: dict[str, Path]) -> None:
    failed = _run(plugin_path, "-m", "overthink", "gate", "--store", str(stores["drop10"]), "--json", "--boot", "300")
    assert failed.returncode == 1, failed.stderr
    result = next(r for r in json.loads(failed.stdout)["results"] if r["stratum"] == "all")
    assert (result["metric"], result["unit"], result["tolerance"]) == ("calls_right", "calls", 0.03)
    passed = _run(plugin_path, "-m", "overthink", "gate", "--store", str(stores["flat"]), "--boot", "300")
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_report_shows_the_plugin_family(plugin_path: Path, stores: dict[str, Path], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    done = _run(plugin_path, "-m", "overthink", "report", "--store", str(stores["drop10"]), "--out", str(page),
                "--boot", "200")
    assert done.returncode == 0, done.stderr
    html = page.read_text(encoding="utf-8")
    assert "calls_right" in html and "coin=bent" in html


def test_calibration_runs_the_plugin_family(plugin_path: Path, tmp_path: Path) -> None:
    done = _run(plugin_path, str(ROOT / "benchmarks" / "calibration.py"), "--families", "coin", "--stores", "2",
                "--boot", "200", "--workers", "1", "--out", str(tmp_path / "cal.jsonl"))
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() + done.stderr.splitlines() if x.startswith("family=coin"))
    assert "stores=2" in line and "power10=" in line


def test_the_plugin_task_is_listed_and_runnable_by_name(plugin_path: Path) -> None:
    done = _run(plugin_path, "-m", "overthink", "tasks", "list", "--json")
    assert done.returncode == 0, done.stderr
    coin = next(row for row in json.loads(done.stdout) if row["name"] == "coin")
    assert (coin["metric"], coin["strata"]) == ("calls_right", ["coin"])


def test_a_broken_plugin_is_reported_and_skipped(plugin_path: Path, tmp_path: Path) -> None:
    (tmp_path / "broken_plugin.py").write_text("def register():\n    raise RuntimeError('plugin bug')\n",
                                               encoding="utf-8")
    info = tmp_path / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[overthink.tasks]\nbroken = broken_plugin:register\n", encoding="utf-8")
    paths = [str(tmp_path), str(plugin_path), str(ROOT / "src")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    done = subprocess.run([sys.executable, "-m", "overthink", "tasks", "list", "--json"], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "coin" in {row["name"] for row in json.loads(done.stdout)}  # the working plugin still loads
    assert "broken" in done.stderr and "plugin bug" in done.stderr
