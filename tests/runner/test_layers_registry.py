"""The registry edge: only cli/ (and inspect/, Inspect's own entry point) looks names up or owns an event loop.

The CLI resolves every name of a config once and hands the built tasks, backends, strategy and judges
down (cli/resolve.py); the runner, strategies and models never ask the registry, so a plugin's backend
is run exactly like a built-in one and a run is one `asyncio.run`. Read from the source, like the other
layer rules (tests/runner/test_layers.py); both rules fail on a runner that imports the registry or
starts its own loops.
"""

from __future__ import annotations

import ast
from pathlib import Path

from test_layers import SRC, _imports

EDGES = ("overthink.cli", "overthink.inspect")
REGISTRY = {"overthink.registry", "overthink.plugins", "overthink.builtin_plugins"}


def test_only_the_edges_resolve_names_through_the_registry() -> None:
    graph = _imports()
    lookups = {name for name, targets in graph.items() if "overthink.registry" in targets}
    assert lookups and {n for n in lookups if not n.startswith(EDGES)} == set()
    hooks = {name for name, targets in graph.items() if targets & (REGISTRY - {"overthink.registry"})}
    assert {n for n in hooks if not n.startswith(EDGES) and n not in REGISTRY} == set()  # tables: via the registry
    assert "overthink.runner.experiment" in graph and "overthink.cli.resolve" in lookups


def _loops(path: Path) -> int:
    calls = 0
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {
                "run", "run_until_complete", "new_event_loop"}:
            owner = node.func.value
            calls += isinstance(owner, ast.Name) and owner.id in {"asyncio", "loop"}
    return calls


def test_event_loops_are_started_only_at_the_edges() -> None:
    starters = {str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if _loops(p)}
    assert starters and {p for p in starters if not p.startswith(("cli/", "inspect/"))} == set()
    assert _loops(SRC / "cli" / "resolve.py") == 1  # one asyncio.run per `overthink run`
