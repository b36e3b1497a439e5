"""`overthink gate`: exit codes on simulated stores (inverse, flat, positive, U-shaped), JUnit XML, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from typer.testing import CliRunner

from overthink.cli import app
from overthink.errors import UserError
from overthink.store import StoreError

runner = CliRunner()

CURVES = {
    "inverse": "0:0.9,1024:0.9,4096:0.82,16384:0.72",
    "flat": "0:0.8,1024:0.8,4096:0.8,16384:0.8",
    "positive": "0:0.5,1024:0.7,4096:0.8,16384:0.85",
    "u_shape": "0:0.9,1024:0.72,4096:0.9",
}


def _invoke(args: list[str]) -> tuple[int, str]:
    """Exit code as the console script gives it (UserError/StoreError -> 2) and the output."""
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    if isinstance(result.exception, (UserError, StoreError)):
        return 2, str(result.exception)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gate")
    out = {}
    for name, curve in CURVES.items():
        path = folder / f"{name}.db"
        code, text = _invoke(["simulate", "--out", str(path), "--curve", curve, "--n", "150", "--repeats", "2",
                              "--seed", "4"])
        assert code == 0, text
        out[name] = path
    return out


@pytest.mark.parametrize(("name", "expected"), [("inverse", 1), ("flat", 0), ("positive", 0), ("u_shape", 1)])
def test_exit_code_follows_the_curve(stores: dict[str, Path], name: str, expected: int) -> None:
    code, out = _invoke(["gate", "--store", str(stores[name]), "--boot", "400"])
    assert code == expected, out
    assert ("FAIL" in out) == (expected == 1)


def test_u_shape_is_named_and_inverse_reports_the_pair(stores: dict[str, Path]) -> None:
    _, out = _invoke(["gate", "--store", str(stores["u_shape"]), "--boot", "400"])
    assert "U-shaped" in out and "0 -> " in out.replace("\n", " ")
    _, out = _invoke(["gate", "--store", str(stores["inverse"]), "--boot", "400"])
    flat = " ".join(out.split())
    assert "significant drop" in flat and "at 16384" in flat


def test_budget_subset_and_tolerance_change_the_decision(stores: dict[str, Path]) -> None:
    # the inverse curve is flat between 0 and 1024: gating only those budgets passes
    code, out = _invoke(["gate", "--store", str(stores["inverse"]), "--budgets", "0,1024", "--boot", "400"])
    assert code == 0, out
    # a tolerance larger than the whole drop passes the same store
    code, out = _invoke(["gate", "--store", str(stores["inverse"]), "--tolerance", "0.5", "--boot", "400"])
    assert code == 0, out


def test_junit_file_lists_each_curve_and_the_failure(stores: dict[str, Path], tmp_path: Path) -> None:
    report = tmp_path / "gate.xml"
    code, _ = _invoke(["gate", "--store", str(stores["inverse"]), "--junit", str(report), "--boot", "400"])
    assert code == 1
    root = ElementTree.parse(report).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "1"
    case = suite.find("testcase")
    assert case is not None and case.get("classname") == "overthink-gate.sim"
    failure = case.find("failure")
    assert failure is not None and "significant drop" in (failure.get("message") or "")
    passing = tmp_path / "pass.xml"
    code, _ = _invoke(["gate", "--store", str(stores["positive"]), "--junit", str(passing), "--boot", "400"])
    assert code == 0
    ok_root = ElementTree.parse(passing).getroot()
    assert ok_root.get("failures") == "0" and ok_root.find(".//failure") is None


def test_json_output_has_every_result(stores: dict[str, Path]) -> None:
    import json

    code, out = _invoke(["gate", "--store", str(stores["flat"]), "--json", "--boot", "400"])
    assert code == 0
    data = json.loads(out)
    assert data["passed"] is True and len(data["results"]) == 1
    assert data["results"][0]["budgets"] == ["0", "1024", "4096", "16384"]


@pytest.mark.parametrize("args", [
    ["--budgets", "0,512"],  # a budget the store does not have
    ["--budgets", "1024"],  # one budget cannot be compared
    ["--budgets", "0,lots"],
    ["--alpha", "0.9"],
    ["--tolerance", "-0.1"],
    ["--boot", "10"],
    ["--missing-tolerance", "1.5"],
])
def test_bad_input_exits_2(stores: dict[str, Path], args: list[str]) -> None:
    code, message = _invoke(["gate", "--store", str(stores["flat"]), *args])
    assert code == 2, message


def test_missing_store_and_console_script_exit_codes(stores: dict[str, Path], tmp_path: Path) -> None:
    code, _ = _invoke(["gate", "--store", str(tmp_path / "nope.db")])
    assert code == 2
    env = dict(os.environ, COLUMNS="200")
    for name, expected in (("inverse", 1), ("positive", 0)):
        result = subprocess.run([sys.executable, "-m", "overthink", "gate", "--store", str(stores[name]),
                                 "--boot", "200"], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == expected, result.stderr
    bad = subprocess.run([sys.executable, "-m", "overthink", "gate", "--store", str(tmp_path / "nope.db")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_a_store_too_small_to_test_does_not_pass(tmp_path: Path) -> None:
    """Six items collapsing 0.9 -> 0.5 -> 0.1 used to print "gate passed: 0 curve(s) checked" and exit 0."""
    path = tmp_path / "tiny.db"
    code, text = _invoke(["simulate", "--out", str(path), "--curve", "0:0.9,1024:0.5,4096:0.1", "--n", "6",
                          "--seed", "1"])
    assert code == 0, text
    report = tmp_path / "tiny.xml"
    code, out = _invoke(["gate", "--store", str(path), "--boot", "200", "--junit", str(report)])
    assert code == 3, out
    assert "gate passed" not in out and "not gated" in out
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite is not None and suite.get("skipped") == "1" and suite.get("failures") == "0"
    skipped = suite.find("testcase/skipped")
    assert skipped is not None and "6 problems" in (skipped.get("message") or "")
    code, out = _invoke(["gate", "--store", str(path), "--boot", "200", "--json"])
    import json

    data, _ = json.JSONDecoder().raw_decode(out)  # the exit message follows on stderr
    assert code == 3 and data["passed"] is False and data["tested"] == 0 and data["skipped"] == 1


def test_budgets_gate_the_families_that_have_them_and_name_the_rest(tmp_path: Path) -> None:
    """`--budgets 0,32` used to exit 2 as soon as one strategy lacked budget 32."""
    import pandas as pd

    from overthink.analysis.simulate import simulate_frame, write_store

    both = simulate_frame({0: 0.9, 32: 0.6, 1024: 0.6}, 150, 1, 3, strategy="single")
    other = simulate_frame({0: 0.8, 1024: 0.8}, 150, 1, 4, strategy="vote")
    path = tmp_path / "two.db"
    write_store(pd.concat([both, other], ignore_index=True), path)
    report = tmp_path / "two.xml"
    code, out = _invoke(["gate", "--store", str(path), "--budgets", "0,32", "--boot", "300", "--junit", str(report)])
    flat = " ".join(out.split())
    assert code == 1, out  # the strategy with both budgets is gated (and drops)
    assert "vote" in flat and "no finished records at budget(s) 32" in flat
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite is not None and suite.get("skipped") == "1" and suite.get("failures") == "1"
    code, message = _invoke(["gate", "--store", str(path), "--budgets", "0,64", "--boot", "300"])
    assert code == 2 and "64" in message  # no family has it: still bad input


def test_size_and_missing_data_reach_json_and_junit(stores: dict[str, Path], tmp_path: Path) -> None:
    """Beside the (inflated) largest loss, the cross-fitted size is in the JSON, the table and the JUnit
    reason; a store whose records error at the largest budget fails on its error-share check."""
    import json

    report = tmp_path / "inverse.xml"
    code, out = _invoke(["gate", "--store", str(stores["inverse"]), "--json", "--boot", "400", "--junit", str(report)])
    data, _ = json.JSONDecoder().raw_decode(out)
    (result,) = data["results"]
    assert code == 1 and result["size"] is not None and 0.1 < result["size"] < 0.3
    failure = ElementTree.parse(report).getroot().find(".//failure")
    assert failure is not None and "size" in (failure.get("message") or "")

    import numpy as np

    from overthink.analysis.simulate import simulate_frame, write_store

    raw = simulate_frame({0: 0.8, 1024: 0.8, 4096: 0.8}, 150, 1, 2)
    broken = (raw["budget"] == "4096").to_numpy() & (np.random.default_rng(0).random(len(raw)) < 0.3)
    raw = raw.assign(status=np.where(broken, "error", "ok"), score=raw["score"].where(~broken))
    path = tmp_path / "timeouts.db"
    write_store(raw, path)
    code, out = _invoke(["gate", "--store", str(path), "--boot", "400", "--json"])
    data, _ = json.JSONDecoder().raw_decode(out)
    checks = {r["check"]: r for r in data["results"]}
    assert code == 1 and checks["errors"]["failed"] and not checks["metric"]["failed"]
    assert checks["metric"]["missing_bounds"] is not None and checks["metric"]["loss_bounds"] is not None
    code, out = _invoke(["gate", "--store", str(path), "--boot", "400", "--missing-tolerance", "1"])
    assert code == 0, out
