"""`overthink gate | recommend | anchoring`: the mitigation commands that read a store.

`gate` is the release check for CI: exit 1 when a (model, task) gets significantly worse beyond the
tolerance as its budget grows (or dips in a U), 3 when nothing could be tested (every curve has
fewer than 10 common problems, or was left out by --budgets: a gate that checked nothing must not go
green), 0 when at least one curve was tested and every tested curve passes, 2 on bad input (missing
store, bad options, budgets no family has). It prints the reason for every curve and can write JUnit
XML for CI systems (untested curves are <skipped>). Names from a store are printed as plain text,
never as markup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from overthink.cli.common import stderr_console, stdout_console
from overthink.errors import UserError
from overthink.types import Budget

if TYPE_CHECKING:
    from overthink.mitigations.gate import GateResult

StoreOpt = Annotated[Path, typer.Option("--store", help="store file written by `overthink run`")]
ToleranceOpt = Annotated[Optional[float], typer.Option(  # noqa: UP045
    "--tolerance", help="allowed loss in the metric's unit (default: 0.02 accuracy/rate points, 0.05 RMSE)")]
BootOpt = Annotated[int, typer.Option("--boot", help="bootstrap replicates (problems resampled)")]
SeedOpt = Annotated[int, typer.Option("--seed", help="seed of the bootstrap")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as JSON")]
StrategyOpt = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
    "--strategy", help="strategy whose curves to read, e.g. cot or vote@5 (repeatable; default: every strategy in "
    "the store, each its own curve)")]
NOTHING_TESTED = 3  # exit code of a gate that could test no curve (distinct from 1, a real failure)


def _check_boot(n_boot: int) -> None:
    if n_boot < 100:
        raise UserError(f"--boot {n_boot} is too few for 95% intervals; use at least 100 (default 1000)")


def parse_budget_list(text: str | None) -> list[str] | None:
    """"1024,4096" -> ["1024", "4096"] as store labels; a bad entry is a UserError naming it."""
    if text is None:
        return None
    labels: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            labels.append(Budget.parse(part).label)
        except ValueError as exc:
            raise UserError(f"--budgets: {exc}") from None
    if len(set(labels)) != len(labels):
        raise UserError("--budgets lists a budget twice; give each budget once")
    return labels


def gate_cmd(
    store: StoreOpt,
    budgets: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--budgets", help="budgets to gate, e.g. 1024,4096,8192,16384 (default: all in the store); families without "
        "all of them are left out and named")] = None,
    tolerance: ToleranceOpt = None,
    alpha: Annotated[float, typer.Option("--alpha", help="false-fail rate per store (split over its curves)")] = 0.05,
    strata: Annotated[bool, typer.Option("--strata/--main-only",
                                         help="also gate strata with at least 10 common problems")] = True,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="write JUnit XML here")] = None,  # noqa: UP045
    missing_tolerance: Annotated[float, typer.Option(
        "--missing-tolerance", help="allowed rise of the share of items that error, or whose answer is unparsed, "
        "from a budget to a larger one (0.05 = 5 points; 1 turns the check off)")] = 0.05,
    n_boot: BootOpt = 1000, seed: SeedOpt = 0, as_json: JsonOpt = False, strategy: StrategyOpt = None,
) -> None:
    """Release gate: exit 1 if more reasoning makes any model significantly worse (beyond --tolerance).

    Exit 0: every tested curve passed; 1: a curve failed; 3: no curve could be tested (too few
    common problems, or every family left out by --budgets); 2: bad input."""
    from overthink.analysis.frame import load
    from overthink.cli.traits import store_traits
    from overthink.mitigations.gate import junit_xml, run_gate, select_strategies

    _check_boot(n_boot)
    wanted = parse_budget_list(budgets)
    frame, used = select_strategies(load(store, text=False), strategy)
    results = run_gate(frame, budgets=wanted, tolerance=tolerance, alpha=alpha, n_boot=n_boot,
                       seed=seed, strata=strata, traits=store_traits(store), missing_tolerance=missing_tolerance)
    if junit is not None:
        try:
            junit.write_text(junit_xml(results), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write --junit {junit}: {exc.strerror}; choose another path") from None
    failed = [r for r in results if r.failed]
    tested = sum(r.gated for r in results)
    if as_json:
        typer.echo(json.dumps({"passed": not failed and tested > 0, "tested": tested, "strategies": used,
                               "skipped": len(results) - tested, "results": [r.to_json() for r in results]},
                              indent=2))
    else:
        stdout_console.print(escape(f"strategies gated: {', '.join(used)} (each its own curves; see --strategy)"))
        _print_gate(results, tolerance, alpha)
    if failed:
        stderr_console.print(f"gate failed: {len(failed)} of {tested} gated check(s) failed (worse with more "
                             "reasoning beyond the tolerance, or missing data rising beyond --missing-tolerance)")
        raise typer.Exit(1)
    if not tested:
        stderr_console.print(f"gate tested nothing: none of {len(results)} curve(s) could be tested (see the "
                             f"reasons above); exit {NOTHING_TESTED}, not a pass")
        raise typer.Exit(NOTHING_TESTED)
    if not as_json:
        stdout_console.print(f"gate passed: {tested} check(s) tested, {len(results) - tested} not tested")


def _print_gate(results: list[GateResult], tolerance: float | None, alpha: float) -> None:
    """Gated curves as a table (cells fold, nothing is cut), then one reason line per curve."""
    from overthink.analysis.inference import MIN_ITEMS

    limit = "per metric" if tolerance is None else str(tolerance)
    table = Table(title=f"Release gate (tolerance {limit}, blocked at most {alpha} of the time per store when "
                        "every true loss is within it)", title_justify="left")
    for column in ("check", "n", "value by budget", "worst loss [≥ bound]", "size", "p", "trend", "result"):
        table.add_column(column, overflow="fold")
    gated = [r for r in results if r.gated]
    for r in gated:
        share = r.check != "metric"
        values = ", ".join(f"{b}: {v:.1%}" if share else f"{b}: {v:.3f}" for b, v in zip(r.budgets, r.values,
                                                                                         strict=True))
        loss = ("-" if r.worst_drop is None else
                f"{r.worst_drop:.3f} ({r.from_budget}→{r.to_budget}) [≥{r.lower:.3f}]")
        if r.loss_bounds is not None:
            loss += f" (missing at best/worst: {r.loss_bounds[0]:.3f} / {r.loss_bounds[1]:.3f})"
        table.add_row(escape(r.name), str(r.n_items), escape(values), escape(loss),
                      "-" if r.size is None else f"{r.size:.3f}", f"{r.p:.4f}", r.trend,
                      "FAIL" if r.failed else "pass")
    stdout_console.print(table)
    for r in gated:
        stdout_console.print(escape(f"{'FAIL' if r.failed else 'pass'} {r.name}: {r.reason}"))
    for r in results:  # untested main curves and left-out families by name, small strata as a count
        if not r.gated and (r.main or r.kind == "left out"):
            stdout_console.print(escape(f"skipped {r.name}: {r.reason}"))
    strata = sum(not r.gated and not r.main and r.kind != "left out" for r in results)
    if strata:
        stdout_console.print(f"{strata} stratum curve(s) with fewer than {MIN_ITEMS} common problems were not "
                             "gated (descriptive; <skipped> in JUnit).")


def recommend_cmd(
    store: StoreOpt,
    tolerance: ToleranceOpt = 0.02,
    rule: Annotated[str, typer.Option("--rule", help="point (estimate within tolerance) | ci (whole CI)")] = "point",
    out: Annotated[Path, typer.Option("--out", help="YAML snippet to write")] = Path("overthink-guardrail.yaml"),
    n_boot: BootOpt = 1000, seed: SeedOpt = 0, as_json: JsonOpt = False, strategy: StrategyOpt = None,
) -> None:
    """Budget guard-rail: per model, task and strategy, the smallest budget within --tolerance of the best one."""
    from overthink.analysis.frame import load
    from overthink.cli.traits import store_traits
    from overthink.mitigations.gate import select_strategies
    from overthink.mitigations.guardrail import recommend, snippet

    _check_boot(n_boot)
    frame, used = select_strategies(load(store, text=False), strategy)
    recommendations = recommend(frame, tolerance=tolerance, rule=rule, n_boot=n_boot, seed=seed,
                                traits=store_traits(store))
    try:
        out.write_text(snippet(recommendations), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write --out {out}: {exc.strerror}; choose another path") from None
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in recommendations], indent=2))
        return
    limit = "per metric" if tolerance is None else str(tolerance)
    stdout_console.print(escape(f"strategies read: {', '.join(used)} (one clamp per strategy; choose with --strategy)"))
    table = Table(title=f"Budget guard-rail (tolerance {limit}, rule {rule})", title_justify="left")
    for column in ("model", "task", "strategy", "clamp at", "value", "best", "loss [95% CI]", "confident"):
        table.add_column(column, overflow="fold")
    for r in recommendations:
        table.add_row(escape(r.model), escape(r.task), escape(r.strategy), escape(r.budget), f"{r.value:.3f}",
                      f"{r.best_value:.3f} at {escape(r.best_budget)}",
                      f"{r.loss:.3f} [{r.loss_ci[0]:.3f}, {r.loss_ci[1]:.3f}]", "yes" if r.confident else "no")
    stdout_console.print(table)
    stdout_console.print(f"wrote {escape(str(out))}")


def anchoring_cmd(store: StoreOpt, n_boot: BootOpt = 1000, seed: SeedOpt = 0, as_json: JsonOpt = False) -> None:
    """Example anchoring: how k-shot curves (strategy "...+Kshot") differ from zero-shot, per budget."""
    from overthink.analysis.frame import load
    from overthink.cli.traits import store_traits
    from overthink.mitigations.anchoring import anchoring_line, compare_to_zero_shot

    _check_boot(n_boot)
    result = compare_to_zero_shot(load(store, text=False), n_boot=n_boot, seed=seed, traits=store_traits(store))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    if not result:
        stdout_console.print("no k-shot records with a zero-shot twin (run the same sweep with and without --shots)")
        return
    for item in result:
        stdout_console.print(escape(anchoring_line(item)))


def register(app: typer.Typer) -> None:
    app.command("gate")(gate_cmd)
    app.command("recommend")(recommend_cmd)
    app.command("anchoring")(anchoring_cmd)
