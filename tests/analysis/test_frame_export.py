"""Store -> tidy frame -> export, and the analysis commands' exit codes."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pandas as pd
import pytest

import overthink
from overthink.analysis.simulate import simulate_frame, write_store
from overthink.cli import main
from overthink.store import StoreError


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "sim.db"
    raw = simulate_frame({0: 0.9, 1024: 0.8}, 20, 2, 3, control_curve={0: 0.9, 1024: 0.9},
                         control_fraction=0.5, natural=True)
    assert write_store(raw, path) == len(raw) == 20 * 2 * 3
    return path


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", ["overthink", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_load_gives_a_tidy_frame(store: Path) -> None:
    frame = overthink.load(store)
    assert overthink.__version__ == "0.1.0"
    assert len(frame) == 120 and frame["key"].is_unique
    derived = {"meta_control", "meta_num_distractors", "budget_tokens", "realized", "censored"}
    assert derived <= set(frame.columns)
    assert frame.loc[frame["budget"] == "1024", "budget_tokens"].eq(1024).all()
    assert frame.loc[frame["budget"] == "natural", "budget_tokens"].isna().all()
    assert frame["metadata"].map(lambda m: isinstance(m, dict)).all()
    assert set(frame["meta_control"]) == {True, False}


def test_load_rejects_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        overthink.load(tmp_path / "nope.db")
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (a)")
    with pytest.raises(StoreError, match="another program"):
        overthink.load(foreign)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_round_trips_every_record(store: Path, tmp_path: Path, fmt: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / f"records.{fmt}"
    assert run_cli(["export", "--store", str(store), "--format", fmt, "--out", str(out)], monkeypatch) == 0
    back = {"csv": pd.read_csv, "parquet": pd.read_parquet,
            "jsonl": lambda p: pd.read_json(p, lines=True)}[fmt](out)
    assert len(back) == 120 and "meta_num_distractors" in back.columns
    assert json.loads(back["metadata"].iloc[0])["num_distractors"] in (0, 3)


def test_analyze_json_and_table(store: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["analyze", "--store", str(store), "--json", "--boot", "200"], monkeypatch) == 0
    result = json.loads(capsys.readouterr().out)
    assert {c["stratum"] for c in result["curves"]} == {"all", "num_distractors=0", "num_distractors=3"}
    assert all(c["verdict"]["verdict"] in {"inverse", "positive", "flat", "noisy", "descriptive"}
               for c in result["curves"])
    assert result["did"] and result["natural"] and result["compliance"]
    assert run_cli(["analyze", "--store", str(store), "--boot", "200"], monkeypatch) == 0
    assert "Main curves" in capsys.readouterr().out


@pytest.mark.parametrize("args", [
    ["analyze", "--store", "{missing}"],
    ["analyze", "--store", "{store}", "--boot", "5"],
    ["export", "--store", "{store}", "--format", "xml"],
    ["export", "--store", "{store}", "--format", "parquet"],
    ["simulate", "--out", "{store}", "--curve", "0:0.9,10:0.8"],
    ["simulate", "--out", "{new}", "--curve", "0:0.9"],
    ["power", "--curve", "0:0.9,1:0.8", "--trials", "0"],
    ["report", "--store", "{foreign}", "--out", "{new}"],
])
def test_user_mistakes_exit_2(args: list[str], store: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("not a store")
    paths = {"missing": tmp_path / "missing.db", "store": store, "new": tmp_path / "new.db",
             "foreign": foreign}
    assert run_cli([a.format(**paths) for a in args], monkeypatch) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_simulate_and_power_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.db"
    assert run_cli(["simulate", "--out", str(out), "--curve", "0:0.95,1024:0.93,4096:0.85", "--n", "30",
                    "--repeats", "2", "--seed", "1"], monkeypatch) == 0
    assert len(overthink.load(out)) == 30 * 3 * 2
    capsys.readouterr()
    assert run_cli(["power", "--curve", "0:0.9,4096:0.7", "--n", "100", "--repeats", "2", "--trials", "3",
                    "--boot", "200", "--json"], monkeypatch) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "power" and result["trials"] == 3
    assert sum(result["verdicts"].values()) == 3 and result["inverse_rate"] == 1.0


def test_report_command_writes_html_and_figure_files(store: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out, figs = tmp_path / "r.html", tmp_path / "figs"
    assert run_cli(["report", "--store", str(store), "--out", str(out), "--boot", "200",
                    "--figures", str(figs)], monkeypatch) == 0
    assert "Summary verdicts" in out.read_text(encoding="utf-8")
    pngs, svgs = sorted(figs.glob("*.png")), sorted(figs.glob("*.svg"))
    assert len(pngs) >= 3 and [p.stem for p in pngs] == [s.stem for s in svgs]


def test_statistics_never_load_the_text_and_the_report_fetches_only_what_it_shows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store of long traces: analysis frames hold no text; the browser gets its records' text by key."""
    from overthink.analysis.frame import load, texts

    path = tmp_path / "long.db"
    write_store(simulate_frame({0: 0.8, 1024: 0.7}, 30, 1, 3), path)
    frame = load(path, text=False)
    assert not {"prompt", "reasoning", "answer_text", "error"} & set(frame.columns)
    assert {"prompt", "reasoning"} <= set(load(path).columns)  # the default (export, users) keeps it
    some = list(frame["key"].iloc[:3])
    got = texts(path, some)
    assert set(got) == set(some) and all(v["reasoning"] == "(simulated)" for v in got.values())
    out = tmp_path / "r.html"
    assert run_cli(["report", "--store", str(path), "--out", str(out), "--boot", "100", "--max-samples", "4"],
                   monkeypatch) == 0
    html = out.read_text(encoding="utf-8")
    assert html.count('<details class="sample">') == 4 and html.count("(simulated)") >= 4
