"""Layer rules read from the source: no import cycles, and the registry stays at the top.

Only cli/, runner/ and inspect/ (the entry points that decide what runs) may import the registry.
Analysis, report and mitigations read a task's metric, direction and strata from the traits the
store declares, handed to them by their caller, so they can read stores of tasks no registry knows;
models, strategies and tasks sit below the registry. Strategies must not reach into the llama.cpp
engine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import overthink

SRC = Path(overthink.__file__).parent


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = found
    return {name: {t for t in targets if t in graph and t != name} for name, targets in graph.items()}


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph[node]:
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_import_cycles() -> None:
    graph = _imports()
    cycles = [c for m in graph if (c := _cycle_from(graph, m)) is not None]
    assert cycles == []


REGISTRY_USERS = ("overthink.cli", "overthink.runner", "overthink.inspect")


def test_only_the_entry_layers_import_the_registry() -> None:
    graph = _imports()
    users = {name for name, targets in graph.items() if "overthink.registry" in targets}
    assert {n for n in users if not n.startswith(REGISTRY_USERS)} == set()
    assert any(n.startswith("overthink.cli") for n in users)  # the rule reads real imports, not nothing
    for layer in ("overthink.analysis", "overthink.report", "overthink.mitigations"):
        assert any(n.startswith(layer) for n in graph), layer  # the layers checked still exist


def test_strategies_reach_backends_only_through_the_contract() -> None:
    allowed = {"overthink.models.base", "overthink.models.capabilities", "overthink.models.generation"}
    for name, targets in _imports().items():
        if name.startswith("overthink.strategies"):
            models = {t for t in targets if t.startswith("overthink.models")}
            assert models <= allowed, (name, models - allowed)
    source = "\n".join(p.read_text(encoding="utf-8") for p in (SRC / "strategies").glob("*.py"))
    assert "llama_cpp" not in source and "LlamaCppBackend" not in source and "getattr(" not in source


def test_no_getattr_on_a_backend_in_the_runner_or_the_cli() -> None:
    for folder in ("runner", "cli"):
        for path in (SRC / folder).glob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "getattr(backend" not in text and "getattr(self.backend" not in text, path
            assert 'getattr(strategy, "refusal"' not in text, path


def test_the_model_contract_knows_nothing_of_tasks() -> None:
    """models/ sends rendered prompts: it imports no task, scorer or prompt-building module, and only
    the scripted test double reads the prompt's oracle (the item and its target)."""
    banned = ("overthink.tasks", "overthink.scoring", "overthink.prompts", "overthink.runner", "overthink.mitigations")
    graph = _imports()
    models = [name for name in graph if name.startswith("overthink.models")]
    assert len(models) > 10  # the rule reads real modules
    for name in models:
        assert {t for t in graph[name] if t.startswith(banned)} == set(), name
    readers = {p.name for p in (SRC / "models").rglob("*.py") if ".oracle" in p.read_text(encoding="utf-8")}
    assert readers == {"scripted.py"}
    base = (SRC / "models" / "base.py").read_text(encoding="utf-8")
    assert "Sample" not in base and "scorer" not in base.lower()
