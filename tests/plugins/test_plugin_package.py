"""A third-party plugin, installed the way pip installs one, is resolved and run from the CLI.

The throwaway distribution is written to a temporary folder: its package and a `.dist-info` with an
`entry_points.txt` naming functions that call `overthink.plugins.register_backend` / `register_strategy`.
That folder goes on the subprocess's PYTHONPATH only (the main environment is never touched), and
`overthink run` names the plugin's backend and strategy; the records in the store prove they ran.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import overthink

PLUGIN = '''
from pydantic import BaseModel, ConfigDict, Field

from overthink.models.scripted import ScriptedBackend
from overthink.plugins import register_backend, register_strategy
from overthink.strategies.base import CotStrategy


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accuracy: float = Field(default=1.0, ge=0.0, le=1.0, description="chance that an answer is right")


class EchoBackend(ScriptedBackend):
    def __init__(self, name: str, accuracy: float) -> None:
        super().__init__(accuracy=accuracy)
        self.name = name

    @property
    def model_id(self) -> str:
        return f"echo/{self.name}"


class PlainOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: str = Field(default="x", description="suffix of the strategy's name")


class PlainStrategy(CotStrategy):
    def __init__(self, tag: str) -> None:
        self.tag = tag

    @property
    def name(self) -> str:
        return f"plain@{self.tag}"


def register() -> None:
    register_backend("echo", lambda model, **options: EchoBackend(model, EchoOptions(**options).accuracy),
                     EchoOptions, "the test plugin's backend")


def register_strategies() -> None:
    register_strategy("plain", lambda options, ctx: PlainStrategy(options.tag), PlainOptions)
'''

ENTRY_POINTS = """[overthink.backends]
echo = overthink_echo:register

[overthink.strategies]
plain = overthink_echo:register_strategies
"""


def _install(site: Path) -> None:
    """What `pip install --target site` leaves behind: the package and its dist-info with entry points."""
    (site / "overthink_echo").mkdir(parents=True)
    (site / "overthink_echo" / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "overthink_echo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: overthink-echo\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")


def _overthink(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    src = Path(overthink.__file__).parent.parent  # the checkout under test, whatever is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(src)])}
    return subprocess.run([sys.executable, "-m", "overthink", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_a_plugins_backend_and_strategy_run_from_the_cli(tmp_path: Path) -> None:
    site, store = tmp_path / "site", tmp_path / "plugin.db"
    _install(site)
    result = _overthink(site, "run", "--backend", "echo", "--model", "m1", "--task", "misleading_math",
                        "--n", "3", "--budgets", "0,16", "--strategy", "plain@t", "--store", str(store),
                        "--quiet", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(s["model"], s["strategy"]) for s in report["sweeps"]] == [("echo/m1", "plain@t")]
    with sqlite3.connect(store) as conn:
        rows = conn.execute("SELECT model, strategy, budget, status FROM records ORDER BY sample_id, budget").fetchall()
    assert len(rows) == 6 and {(r[0], r[1], r[3]) for r in rows} == {("echo/m1", "plain@t", "ok")}
    assert {r[2] for r in rows} == {"0", "16"}


def test_a_plugins_names_are_listed_and_unknown_without_it(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _install(site)
    listed = _overthink(site, "models", "options", "echo", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)] == ["accuracy"]
    unknown = _overthink(site, "run", "--strategy", "nope", "--backend", "echo", "--n", "1", "--store",
                         str(tmp_path / "nope.db"), "--quiet")
    assert unknown.returncode == 2 and "plain" in unknown.stderr  # the plugin's strategy is among the choices
    without = _overthink(tmp_path / "empty", "run", "--backend", "echo", "--n", "1", "--store",
                         str(tmp_path / "none.db"), "--quiet")
    assert without.returncode == 2 and "unknown backend 'echo'" in without.stderr
    assert not (tmp_path / "none.db").exists()
