"""`analyze` and `report` open their store once (the traits, records, judge verdicts and texts of one
command read one connection): before issue 17 each opened it three times."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from overthink.analysis.simulate import parse_curve, simulate_frame, write_store
from overthink.cli import app
from overthink.store import store as store_module

runner = CliRunner()


def _opens(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every Store opened from now on, by path (the real class does the work)."""
    opened: list[Path] = []
    original = store_module.Store.__init__

    def counting(self: store_module.Store, path: str | Path, *, create: bool = True) -> None:
        opened.append(Path(path))
        original(self, path, create=create)

    monkeypatch.setattr(store_module.Store, "__init__", counting)
    return opened


@pytest.mark.parametrize("command", [["analyze", "--json", "--boot", "200"], ["report", "--boot", "200"]])
def test_one_open_per_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    store = tmp_path / "s.db"
    write_store(simulate_frame(parse_curve("0:0.9,1024:0.7"), 40, 2, 3), store)
    opened = _opens(monkeypatch)
    extra = ["--out", str(tmp_path / "r.html")] if command[0] == "report" else []
    result = runner.invoke(app, [*command, "--store", str(store), *extra])
    assert result.exit_code == 0, result.output
    assert opened == [store]
    assert command[0] != "report" or "<html" in (tmp_path / "r.html").read_text(encoding="utf-8")[:500].lower()
