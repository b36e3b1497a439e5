"""`overthink tasks ...`: list, show, export and verify the task families, and import public data.

Exit codes: 0 success, 1 a check failed (`verify`, `import --check`), 2 bad input
(unknown task, bad numbers, unreadable or malformed files without --check). Prompts and answers are
printed as plain text (never as rich markup), since an imported file may contain anything.
"""

from __future__ import annotations

import collections
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from overthink.cli.common import stdout_console
from overthink.errors import UserError
from overthink.registry import TASKS, get_task
from overthink.tasks.base import TaskError, TaskSpec
from overthink.types import Sample

tasks_app = typer.Typer(help="List, inspect, export and verify tasks; import public data sets.",
                        no_args_is_help=True)


class ImportKind(str, Enum):
    BBEH_ZEBRA = "bbeh-zebra"
    MWE = "mwe"
    PAPER_JSONL = "paper-jsonl"
    XSTEST = "xstest"


def _generate(spec: TaskSpec, n: int, seed: int) -> list[Sample]:
    return spec.samples(n, seed)  # a bad parameter is a TaskError, a UserError: exit 2 with its message


def _write_jsonl(samples: Sequence[Sample], out: Path) -> None:
    """Write all samples or nothing: a temporary file in the target folder, renamed at the end."""
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"--out {out}: folder {folder} does not exist; create it or choose another path")
    fd, tmp = tempfile.mkstemp(prefix=".overthink-", suffix=".jsonl", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for sample in samples:
                handle.write(sample.to_json() + "\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _strata_summary(spec: TaskSpec | None, samples: Sequence[Sample]) -> str:
    names = spec.strata if spec is not None else ()
    parts = []
    for name in names:
        counts = collections.Counter(str(s.metadata.get(name)) for s in samples)
        parts.append(f"{name}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return "; ".join(parts)


@tasks_app.command("list")
def list_tasks(
    as_json: Annotated[bool, typer.Option("--json", help="print the tasks as JSON")] = False,
) -> None:
    """Every registered task: version, metric, strata and default size."""
    if as_json:
        rows = [{"name": name, "version": spec.version, "metric": spec.metric.name,
                 "higher_is_better": spec.higher_is_better, "strata": list(spec.strata),
                 "default_n": spec.default_n, "description": spec.description}
                for name, spec in sorted(TASKS.items())]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="tasks")
    for column in ("name", "version", "metric", "strata", "default n", "description"):
        table.add_column(column)
    for name in sorted(TASKS):
        spec = TASKS[name]
        direction = "higher better" if spec.higher_is_better else "lower better"
        table.add_row(escape(name), spec.version, f"{spec.metric.name} ({direction})",
                      ", ".join(spec.strata) or "-", str(spec.default_n), escape(spec.description))
    stdout_console.print(table)


@tasks_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="task name (see `overthink tasks list`)")],
    n: Annotated[int, typer.Option("--n", min=1, help="number of items")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="generator seed")] = 0,
) -> None:
    """Print n items of a task: id, strata, prompt and answer key."""
    spec = get_task(name)
    for sample in _generate(spec, n, seed):
        strata = ", ".join(f"{k}={sample.metadata.get(k)}" for k in spec.strata)
        rule = Rule(Text(f"{sample.id}  {strata}"))
        stdout_console.print(rule, width=None if stdout_console.is_terminal else 80)  # piped: not 10,000 wide
        stdout_console.print(Text(sample.prompt))
        stdout_console.print(Text(f"answer: {sample.target}", style="bold"))


@tasks_app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="task name")],
    out: Annotated[Path, typer.Option("--out", help="JSONL file to write (one sample per line)")],
    n: Annotated[int | None, typer.Option("--n", min=1, help="items (default: the task's size)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="generator seed")] = 0,
) -> None:
    """Write generated items as JSONL (same task, n and seed give byte-identical files)."""
    spec = get_task(name)
    samples = _generate(spec, n or spec.default_n, seed)
    _write_jsonl(samples, out)
    stdout_console.print(Text(f"wrote {len(samples)} {name} items to {out}"))


@tasks_app.command("verify")
def verify(
    name: Annotated[str, typer.Argument(help="task name")],
    n: Annotated[int | None, typer.Option("--n", min=1, help="items (default: the task's size)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="generator seed")] = 0,
) -> None:
    """Re-derive every answer key with the task's independent checker; exit 1 on any mismatch."""
    spec = get_task(name)
    samples = _generate(spec, n or spec.default_n, seed)
    failed: list[tuple[str, str]] = []
    for sample in samples:
        try:
            ok = spec.check(sample)
            reason = "checker disagrees with the answer key"
        except Exception as exc:  # a crashing checker is a failed check, reported with its reason
            ok, reason = False, f"checker raised {type(exc).__name__}: {exc}"
        if not ok:
            failed.append((sample.id, reason))
    summary = _strata_summary(spec, samples)
    stdout_console.print(Text(f"verified {len(samples) - len(failed)}/{len(samples)} {name} items"
                              + (f" ({summary})" if summary else "")))
    for sample_id, reason in failed[:20]:
        stdout_console.print(Text(f"  mismatch {sample_id}: {reason}", style="red"))
    if failed:
        raise typer.Exit(1)


# --- import -----------------------------------------------------------------------------------

def _bbeh(paths: list[Path], check: bool, problems: list[str]) -> tuple[list[Sample], list[list[str]], bool]:
    from overthink.tasks import bbeh

    samples: list[Sample] = []
    rows: list[list[str]] = []
    ok = True
    for path in paths:
        items = bbeh.import_bbeh(path)
        samples.extend(items)
        status = "-"
        if check:
            solved, total, disagreements = bbeh.check_bbeh(path)
            status = f"solved {solved}/{total}"
            ok = ok and not disagreements
            problems.extend(f"{path} item {d.item}: target {d.target}, solver {d.found}" for d in disagreements[:10])
        rows.append([str(path), "zebra", str(len(items)), status])
    return samples, rows, ok


def _checked(samples: list[Sample], checker: Callable[[Sample], bool]) -> tuple[int, int]:
    good = 0
    for sample in samples:
        try:
            good += bool(checker(sample))
        except Exception:  # a crash is a failed check, not a crash of the command
            continue
    return good, len(samples)


def _mwe(paths: list[Path], check: bool, seed: int) -> tuple[list[Sample], list[list[str]], bool]:
    from overthink.tasks import ai_risk, loaders

    loaded = loaders.load_mwe(paths, seed=seed)
    rows, ok, samples = [], True, []
    for path, items in loaded.items():
        samples.extend(items)
        choices = collections.Counter(int(s.metadata["num_choices"]) for s in items)
        status = "-"
        if check:
            good, total = _checked(items, ai_risk.check)
            ok = ok and good == total
            shape = ", ".join(f"{k}:{v}" for k, v in sorted(choices.items()))
            status = f"verified {good}/{total}; choices {shape}"
        rows.append([path, "ai_risk", str(len(items)), status])
    return samples, rows, ok


def _xstest(paths: list[Path], check: bool, label: str | None) -> tuple[list[Sample], list[list[str]], bool]:
    from overthink.tasks import loaders, refusal

    loaded = loaders.load_xstest(paths, default_label=label)
    rows, ok, samples = [], True, []
    for path, items in loaded.items():
        samples.extend(items)
        labels = collections.Counter(str(s.metadata["label"]) for s in items)
        status = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        if check:
            good, total = _checked(items, refusal.check)
            ok = ok and good == total
            status = f"verified {good}/{total}; {status}"
        rows.append([path, "refusal", str(len(items)), status])
    return samples, rows, ok


def _paper(paths: list[Path], check: bool, task: str | None) -> tuple[list[Sample], list[list[str]], bool]:
    from overthink.tasks import loaders

    loaded = loaders.load_paper_jsonl(paths, task=task)
    rows, ok, samples = [], True, []
    for path, items in loaded.items():
        samples.extend(items)
        name = items[0].task
        status = "-"
        if check and name == "zebra":  # the only paper family with an independent solver for its text
            good, total = _checked(items, get_task("zebra").check)
            ok = ok and good == total
            status = f"solved {good}/{total}"
        elif check:
            status = "shape checked (no solver for the paper's wording)"
        rows.append([path, name, str(len(items)), status])
    return samples, rows, ok


@tasks_app.command("import")
def import_(
    kind: Annotated[ImportKind, typer.Argument(help="format of the files")],
    paths: Annotated[list[Path], typer.Argument(help="files to import")],
    check: Annotated[bool, typer.Option("--check", help="verify the files; exit 1 on any problem")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="write the samples as JSONL")] = None,
    task: Annotated[str | None, typer.Option("--task", help="paper-jsonl: the files' task")] = None,
    label: Annotated[str | None, typer.Option(
        "--label", help="xstest: label for prompt lists without one (harmful or benign)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="mwe: seed of the choice shuffle")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the per-file summary as JSON")] = False,
) -> None:
    """Import public data: BBEH zebra task.json, MWE JSONL, the paper's JSONL, XSTest CSV/JSONL."""
    if label is not None and label not in ("harmful", "benign", "safe", "unsafe"):
        raise UserError(f"--label {label!r}: use harmful or benign")
    problems: list[str] = []
    try:
        if kind is ImportKind.BBEH_ZEBRA:
            samples, rows, ok = _bbeh(paths, check, problems)
        elif kind is ImportKind.MWE:
            samples, rows, ok = _mwe(paths, check, seed)
        elif kind is ImportKind.XSTEST:
            samples, rows, ok = _xstest(paths, check, label)
        else:
            samples, rows, ok = _paper(paths, check, task)
    except TaskError as exc:
        if check:  # --check reports a malformed file as a failed check (exit 1), naming file and line
            if as_json:
                typer.echo(json.dumps({"kind": kind.value, "ok": False, "error": str(exc)}, indent=2))
            else:
                stdout_console.print(Text(f"check failed: {exc}", style="red"), soft_wrap=True)
            raise typer.Exit(1) from None
        raise UserError(str(exc)) from None
    written = out if ok and out is not None else None
    if written is not None:
        _write_jsonl(samples, written)
    if as_json:
        files = [{"file": r[0], "task": r[1], "items": int(r[2]), "check" if check else "summary": r[3]} for r in rows]
        typer.echo(json.dumps({"kind": kind.value, "ok": ok, "items": len(samples), "files": files,
                               "problems": problems, "out": None if written is None else str(written)}, indent=2))
    else:
        _print_import(kind, check, rows, problems, len(samples), written)
    if not ok:
        raise typer.Exit(1)


def _print_import(kind: ImportKind, check: bool, rows: list[list[str]], problems: list[str], count: int,
                  written: Path | None) -> None:
    for problem in problems:
        stdout_console.print(Text(f"  {problem}", style="red"))
    table = Table(title=f"import {kind.value}")
    for column in ("file", "task", "items", "check" if check else "summary"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    stdout_console.print(table)
    if check and kind is ImportKind.BBEH_ZEBRA:
        solved = sum(int(r[3].split()[1].split("/")[0]) for r in rows)
        stdout_console.print(Text(f"solved {solved}/{count}"))
    if written is not None:
        stdout_console.print(Text(f"wrote {count} items to {written}"))


def register(app: typer.Typer) -> None:
    """Attach `overthink tasks ...` to the main app."""
    app.add_typer(tasks_app, name="tasks")
