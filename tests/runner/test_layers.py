"""Layer rules read from the source: no import cycles, and the registry stays at the top.

Only cli/ and inspect/ (the entry points that decide what runs) may import the registry.
Analysis, report and mitigations read a task's metric, direction and strata from the traits the
store declares, handed to them by their caller, so they can read stores of tasks no registry knows;
models, strategies and tasks sit below the registry. Strategies must not reach into the llama.cpp
engine.
A task family's meaning (its typed Metric, its catalog Family) lives in tasks/: outside it no code
compares a family's or a metric's name. Only store/ holds an SQLite connection or writes SQL.
"""

from __future__ import annotations

import ast
import re
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


REGISTRY_USERS = ("overthink.cli", "overthink.inspect")  # the edges (test_layers_registry.py)


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


# A family's meaning lives in tasks/ (its typed Metric, its catalog Family): outside tasks/ nothing
# compares a family's or a metric's name, it asks the Metric's fields (direction, unit, per_label, ...).
METRIC_NAMES = ("accuracy", "refusal", "over_refusal", "abs_error", "rmse", "matching_behavior", "parse_failure",
                "mean")
NAMED_COMPARISONS = (
    re.compile(r"\bfamily\s*[!=]=|[!=]=\s*family\b|\bfamily\s+(not\s+)?in\s+[(\[{]"),
    re.compile(r"\bmetric\s*[!=]=\s*[\"']|[\"']\s*[!=]=\s*\w*\.?metric\b|\bmetric\s+(not\s+)?in\s+[(\[{]\s*[\"']"),
    re.compile(r"[!=]=\s*[\"'](" + "|".join(METRIC_NAMES) + r")[\"']|[\"'](" + "|".join(METRIC_NAMES)
               + r")[\"']\s*[!=]="),
)


def named_comparisons(text: str) -> list[str]:
    """Lines comparing a family's or a metric's name (what the rule below forbids outside tasks/)."""
    return [line.strip() for line in text.splitlines() if any(p.search(line) for p in NAMED_COMPARISONS)]


def test_no_family_or_metric_name_comparisons_outside_tasks() -> None:
    found = {str(path.relative_to(SRC)): hits for path in SRC.rglob("*.py")
             if path.relative_to(SRC).parts[0] != "tasks"
             and (hits := named_comparisons(path.read_text(encoding="utf-8")))}
    assert found == {}


def test_the_name_comparison_rule_catches_what_the_old_code_did() -> None:
    old = ['    if family == "grades":', 'if metric == "refusal" and x:', 'task.metric == "refusal"',
           'if metric in ("abs_error", "rmse"):', 'if task_metric(t) != "refusal":', 'family != "refusal"']
    assert [named_comparisons(line) for line in old] == [[line.strip()] for line in old]
    assert named_comparisons('if info.per_label and name == "zebra_x":\n    metric = info.name') == []


# SQL as the store writes it: a statement's opening words (upper case, as every statement here is written).
SQL = re.compile(r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+(OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
                 r"|\bCREATE\s+(TEMP\s+|TEMPORARY\s+)?TABLE\b|\bPRAGMA\s+\w+")
DB_ATTRIBUTES = ("conn", "execute", "executemany", "executescript", "read_sql_query", "read_sql")


def sql_users(src: Path) -> list[tuple[str, int, str]]:
    """(module path, line, what) of every connection, sqlite3 use or SQL string in `src`, store/ included."""
    found: list[tuple[str, int, str]] = []
    for path in sorted(src.rglob("*.py")):
        rel = str(path.relative_to(src))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in DB_ATTRIBUTES:
                found.append((rel, node.lineno, f".{node.attr}"))
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n.split(".")[0] == "sqlite3" for n in names):
                    found.append((rel, node.lineno, "import sqlite3"))
            elif isinstance(node, ast.Name) and node.id == "sqlite3":
                found.append((rel, node.lineno, "sqlite3"))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (m := SQL.search(node.value)):
                found.append((rel, node.lineno, f"SQL {m.group(0)[:30]!r}"))
    return found


def test_only_the_store_holds_a_connection_or_writes_sql() -> None:
    """Before issue 17 runner/merge.py, inspect/importer.py, analysis/frame.py and others wrote SQL on
    `store.conn`; the store's interface is now its query methods, so its schema can change alone."""
    found = sql_users(SRC)
    outside = [hit for hit in found if not hit[0].startswith("store/")]
    assert outside == []
    inside = {hit[0] for hit in found}
    assert {"store/absorb.py", "store/queries.py", "store/schema.py"} <= inside  # the check sees real SQL


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


# The two sides meet only at the store: the run side (plan, execute, strategies, backends, prompts) writes
# records, the read side (analysis, mitigations that read, report) reads them. Names and types both sides
# use (strategy labels, derive_seed, BudgetRow) live in types.py; the end-of-run table, a read-side
# statistic, is handed to the runner by the edge (cli/resolve.py), never imported by it.
RUN_SIDE = ("overthink.runner", "overthink.strategies", "overthink.models", "overthink.prompts")
READ_SIDE = ("overthink.analysis", "overthink.report", "overthink.mitigations")


def side_crossings(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) pairs where one side imports the other."""
    found = set()
    for name, targets in graph.items():
        for target in targets:
            run_to_read = name.startswith(RUN_SIDE) and target.startswith(READ_SIDE)
            read_to_run = name.startswith(READ_SIDE) and target.startswith(RUN_SIDE)
            if read_to_run or run_to_read:
                found.add((name, target))
    return found


def test_the_two_sides_meet_only_at_the_store() -> None:
    graph = _imports()
    assert side_crossings(graph) == set()
    assert side_crossings({"overthink.analysis.families": {"overthink.runner.plan"}}) != set()  # the rule bites
    assert side_crossings({"overthink.mitigations.anchoring": {"overthink.prompts.shots"}}) != set()
    assert side_crossings({"overthink.runner.experiment": {"overthink.analysis.run_table"}}) != set()


def test_no_two_modules_share_a_name_across_the_sides() -> None:
    def stems(prefixes: tuple[str, ...]) -> dict[str, str]:
        return {name.rsplit(".", 1)[-1]: name for name in _imports() if name.startswith(prefixes)
                and name.count(".") >= 2}

    run, read = stems(RUN_SIDE), stems((*READ_SIDE, "overthink.scoring"))
    shared = {stem: (run[stem], read[stem]) for stem in run.keys() & read.keys()}
    assert shared == {}
