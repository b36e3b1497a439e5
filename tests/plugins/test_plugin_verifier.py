"""Your own verifier from a Python entry point (group `overthink.verifiers`), configured from the CLI.

A throwaway distribution, installed the way pip leaves one (package + dist-info with entry_points.txt),
registers an outcome verifier with a required option. `overthink run --strategy best-of-n@3,NAME
--verifier-option NAME.prefer=high` must find it (the name is only known once entry points are read),
validate its option, and rerank with it: every record's answer is its candidates' highest number.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import overthink
from overthink.store import Store

PLUGIN = '''
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from overthink.plugins import register_verifier
from overthink.strategies.verifiers import OutcomeVerifier


class PreferOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prefer: Literal["high", "low"] = Field(description="rank numeric answers high first or low first")


def _number(text: str) -> float:
    digits = "".join(c for c in text if c.isdigit())
    return float(digits) if digits else 0.0


def register() -> None:
    def build(options, ctx):
        sign = 1.0 if options.prefer == "high" else -1.0
        return OutcomeVerifier(f"prefer-{options.prefer}", lambda sample, text: sign * _number(text))

    register_verifier("prefer", build, PreferOptions, "the test plugin's outcome verifier")
'''


def _install(site: Path) -> None:
    (site / "overthink_prefer").mkdir(parents=True)
    (site / "overthink_prefer" / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "overthink_prefer-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: overthink-prefer\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[overthink.verifiers]\nprefer = overthink_prefer:register\n",
                                           encoding="utf-8")


def _overthink(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    src = Path(overthink.__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(src)])}
    return subprocess.run([sys.executable, "-m", "overthink", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_a_plugins_verifier_reranks_best_of_n_with_the_options_given(tmp_path: Path) -> None:
    site, store = tmp_path / "site", tmp_path / "prefer.db"
    _install(site)
    common = ["run", "--backend", "scripted", "--n", "6", "--budgets", "0,8", "--strategy", "best-of-n@3,prefer",
              "--store", str(store), "--quiet"]
    missing = _overthink(site, *common)
    assert missing.returncode == 2 and "verifier 'prefer': prefer: Field required" in missing.stderr
    assert not store.exists()
    result = _overthink(site, *common, "--verifier-option", "prefer.prefer=high")
    assert result.returncode == 0, result.stderr
    with Store(store, create=False) as opened:
        rows = list(opened.rows())
    assert len(rows) == 12 and {r["extra"]["verifier"] for r in rows} == {"prefer-high"}
    for row in rows:
        numbers = [int(a) for a in row["extra"]["answers"]]
        assert int(row["extra"]["answers"][row["extra"]["chosen"]]) == max(numbers)
    listed = _overthink(site, "verifiers")
    assert listed.returncode == 0 and "prefer" in listed.stdout
