"""Shipped experiment designs: plain config files, listed by `overthink presets`, run by `run --preset`.

A preset is an ordinary YAML config (what `overthink run CONFIG` reads), so `overthink presets NAME >
mine.yaml` gives a file to edit and run; its first comment line is its one-line summary, the comment
lines after it its description. Command-line
options given with `--preset` override the preset as they override any config (`--model`, `--backend`,
`--n`, `--budgets`, ...), so one design runs on any backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from overthink.errors import UserError

__all__ = ["Preset", "get_preset", "presets"]


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str  # the file's first comment line
    description: str  # the comment lines after it, joined
    text: str  # the YAML itself, comments included


def _parse(name: str, text: str) -> Preset:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    summary = lines[0] if lines else ""
    return Preset(name, summary, " ".join(part for part in lines[1:] if part), text)


def presets() -> list[Preset]:
    """Every shipped preset, by name."""
    folder = resources.files(__name__)
    found = [_parse(entry.name.removesuffix(".yaml"), entry.read_text(encoding="utf-8"))
             for entry in folder.iterdir() if entry.name.endswith(".yaml")]
    return sorted(found, key=lambda preset: preset.name)


def get_preset(name: str) -> Preset:
    """The preset called `name`; an unknown name is a UserError listing the ones there are."""
    for preset in presets():
        if preset.name == name:
            return preset
    names = ", ".join(p.name for p in presets())
    raise UserError(f"unknown preset {name!r}; shipped presets: {names} (overthink presets)")
