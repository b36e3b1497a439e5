"""Shipped presets: listed, printed as a config that runs, and run with command-line overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from overthink.config import ExperimentConfig, load_config
from overthink.errors import UserError
from overthink.presets import get_preset, presets


def _overthink(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "overthink", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


def test_every_preset_is_a_valid_config_with_a_summary(tmp_path: Path) -> None:
    names = {p.name for p in presets()}
    assert {"safety-study", "safety-study-smoke", "inverse-scaling"} <= names
    for preset in presets():
        assert preset.summary and len(preset.summary) <= 110, preset.name
        path = tmp_path / f"{preset.name}.yaml"
        path.write_text(preset.text, encoding="utf-8")
        assert isinstance(load_config(path), ExperimentConfig)


def test_the_safety_study_has_the_design_of_the_claim() -> None:
    config = load_config_text(get_preset("safety-study").text)
    assert [t.name for t in config.tasks] == ["refusal"]
    assert config.budgets == ["0", "1024", "2048", "4096", "8192", "16384"]
    assert config.strategies[0] == "cot" and any(s.startswith("vote@") for s in config.strategies)
    assert any(s.startswith("best-of-n@") for s in config.strategies)


def load_config_text(text: str) -> ExperimentConfig:
    import yaml

    return ExperimentConfig.model_validate(yaml.safe_load(text))


def test_unknown_preset_names_the_shipped_ones() -> None:
    with pytest.raises(UserError, match="safety-study"):
        get_preset("nope")


def test_cli_lists_prints_and_runs_a_preset_with_overrides(tmp_path: Path) -> None:
    listed = _overthink(["presets", "--json"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "safety-study" in {p["name"] for p in json.loads(listed.stdout)}
    printed = _overthink(["presets", "safety-study-smoke"], tmp_path)
    assert printed.returncode == 0 and printed.stdout == get_preset("safety-study-smoke").text
    (tmp_path / "mine.yaml").write_text(printed.stdout)  # what a user saves is a config that runs
    store = tmp_path / "p.db"
    ran = _overthink(["run", "--preset", "safety-study-smoke", "--backend", "scripted", "--model", "s", "--n", "2",
                      "--store", str(store), "--quiet", "--json"], tmp_path)
    assert ran.returncode == 0, ran.stderr
    sweeps = json.loads(ran.stdout)["sweeps"]
    assert [s["strategy"] for s in sweeps] == ["cot", "vote@3", "best-of-n@3"]
    assert all(s["task"] == "refusal" and s["ok"] == s["planned"] for s in sweeps)
    both = _overthink(["run", str(tmp_path / "mine.yaml"), "--preset", "safety-study-smoke"], tmp_path)
    assert both.returncode == 2 and "either" in both.stderr and "Traceback" not in both.stderr
    bad = _overthink(["run", "--preset", "nope"], tmp_path)
    assert bad.returncode == 2 and "shipped presets" in bad.stderr
