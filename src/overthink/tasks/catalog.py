"""The family catalog: every task family the tool knows, registered through one hook.

Analysis, the gate, the report and calibration used to name families ("if family == 'grades'"), so
adding one meant editing five files. Now a family is a `Family` -- its task (generator, scorer,
checker, strata, metric), its null model for calibration, its calibration size -- and readers
iterate the catalog and ask the family's fields. The built-ins register through `register_family`
exactly as a plugin does: a plugin distribution declares an entry point in the group
`overthink.tasks` naming a function of no arguments that calls `register_family(...)`.

The catalog sits in tasks/, below the registry, so the read side (analysis, report, mitigations)
may use it without importing the registry. A store never needs it: a family no catalog knows is
still analysed from the traits the store declares.
"""

from __future__ import annotations

import logging
from importlib import metadata

from overthink.errors import UserError
from overthink.tasks.family import REGISTERED, Family, register_family
from overthink.tasks.metric import Metric, registered, resolve

__all__ = ["ENTRY_POINT_GROUP", "Family", "families", "family", "known_metrics", "load_families", "metric_named",
           "register_family"]

ENTRY_POINT_GROUP = "overthink.tasks"
log = logging.getLogger(__name__)
_state = {"loaded": False, "loading": False}


def load_families() -> None:
    """Register the built-in families, then every plugin of the `overthink.tasks` entry-point group.

    Done once, on first use. A plugin that fails to load is logged and skipped: one broken plugin
    must not stop the tool from reading stores of every other family."""
    if _state["loaded"] or _state["loading"]:
        return
    _state["loading"] = True
    try:
        from overthink.tasks.builtins import register_builtins

        register_builtins()
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                entry.load()()
            except Exception as exc:  # a plugin's own bug: reported and skipped
                log.warning("task plugin %s (%s) failed to load: %s", entry.name, entry.value, exc)
        _state["loaded"] = True
    finally:
        _state["loading"] = False


def families() -> dict[str, Family]:
    """Every registered family by name, built-ins first in their registration order."""
    load_families()
    return dict(REGISTERED)


def family(name: str) -> Family:
    """One family by name; a UserError listing the known ones otherwise."""
    known = families()
    if name not in known:
        raise UserError(f"unknown family {name!r}; choose one of: {', '.join(known)}")
    return known[name]


def known_metrics() -> dict[str, Metric]:
    """Every registered metric by name: the built-ins and those of loaded plugin families."""
    load_families()
    return registered()


def metric_named(name: str, higher_is_better: bool | None = None) -> Metric:
    """The metric a stored name means, as analysis reads it (`metric.resolve` once plugins are loaded)."""
    if not _state["loaded"]:  # asked per curve and per record column: the loaded check stays a flag read
        load_families()
    return resolve(name, higher_is_better)
