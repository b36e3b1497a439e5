"""`overthink analyze | compute | report | export | simulate | power`: the commands that read (or fake) a store.

They never touch a backend. A missing or foreign store raises StoreError and a bad argument raises
UserError, both of which the app turns into one line on stderr and exit code 2. Names that came from
a store (model, task, strata) are printed as plain text, never as console markup.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from overthink.cli.common import stderr_console, stdout_console
from overthink.errors import UserError

if TYPE_CHECKING:
    from overthink.analysis.bootstrap import Curve
    from overthink.analysis.summary import Analysis
    from overthink.analysis.wording import FamilyNames

StoreOpt = Annotated[Path, typer.Option("--store", help="store file written by `overthink run`")]
BootOpt = Annotated[int, typer.Option("--boot", help="bootstrap replicates (problems resampled)")]
SeedOpt = Annotated[int, typer.Option("--seed", help="seed of the bootstrap")]
AlphaOpt = Annotated[float, typer.Option("--alpha", help="family-wise error rate of the trend tests")]


def check_args(n_boot: int, alpha: float) -> None:
    """--boot and --alpha of every reading command (a UserError, exit 2, when out of range)."""
    if n_boot < 100:
        raise UserError(f"--boot {n_boot} is too few for 95% intervals; use at least 100 (default 1000)")
    if not 0.0 < alpha < 0.5:
        raise UserError(f"--alpha {alpha} must be between 0 and 0.5 (default 0.05)")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _phase_text(curve: Curve) -> str:
    """Phases only where the verdict found a trend, each breakpoint with its interval (wording.phases_text)."""
    from overthink.analysis.wording import phases_text

    return phases_text(curve) or "-"


def _curve_name(curve: Curve, names: FamilyNames | None = None) -> str:
    if names is not None:
        return f"{names(*curve.family)} / {curve.stratum}"
    mode = "" if (curve.mechanism, curve.strategy) == ("forced", "single") else \
        f" ({curve.mechanism}, {curve.strategy})"
    return f"{curve.model} / {curve.task}{mode} / {curve.stratum}"


def _p_cell(p: float, alpha: float) -> str:
    return f"{p:.4f}" if p < alpha else f"{p:.4f} n.s."


def verdict_table(curves: list[Curve], title: str, names: FamilyNames | None = None) -> Table:
    """Verdicts of tested curves: fits a 100-column terminal (cells fold, nothing is cut).

    The trend cell names the test that made the call; an untested curve shows why and no p-value;
    a p-value that does not reach alpha is marked "n.s." so a slope against the call never reads as one."""
    from overthink.analysis.wording import call_text

    table = Table(title=title, title_justify="left")
    for name in ("curve", "n", "trend (test that made it)", "change [CI]", "p", "largest loss [≥ bound]",
                 "p loss", "phases"):
        table.add_column(name, overflow="fold")
    for curve in curves:
        verdict = curve.verdict
        if verdict is None:
            continue
        trend = f"{verdict.arrow} {call_text(curve, reasons=False)}"
        if not verdict.tested:
            table.add_row(escape(_curve_name(curve, names)), str(curve.n_items), escape(trend), "-", "-", "-", "-",
                          "-")
            continue
        ci = verdict.ci or (None, None)
        loss = verdict.loss
        loss_text = (f"{_fmt(loss.loss)} {escape(loss.from_budget)}→{escape(loss.to_budget)} [≥{_fmt(loss.lower)}]"
                     if loss else "-")
        table.add_row(
            escape(_curve_name(curve, names)), str(curve.n_items), escape(trend),
            f"{_fmt(verdict.effect)} [{_fmt(ci[0])}, {_fmt(ci[1])}]", _p_cell(verdict.p, verdict.alpha),
            loss_text, _p_cell(loss.p, verdict.alpha) if loss else "-", escape(_phase_text(curve)),
        )
    return table


def _print_curves(result: Analysis, names: FamilyNames) -> None:
    """Main curves, then tested strata, then one line for the descriptive ones."""
    out = stdout_console
    strata = [c for c in result.strata_curves if not c.descriptive]
    small = [c for c in result.strata_curves if c.descriptive]
    alpha = result.settings["alpha"]
    out.print(verdict_table(result.main_curves,
                            f"Main curves (x = mean realized reasoning tokens; family-wise alpha {alpha})", names))
    if strata:
        out.print(verdict_table(strata, "Strata with at least 10 common problems (same family-wise control)", names))
    if small:
        out.print(escape(f"{len(small)} strata have fewer than 10 common problems: not tested, no verdict and no "
                         "p-value (see --json or the report)."))
    for curve in result.main_curves:
        lost = "; ".join(f"{m.budget}: {m.error} errored, {m.unparsed} unparsed, {m.absent} absent"
                         for m in curve.missing if m.total)
        if lost:
            out.print(escape(f"{_curve_name(curve, names)}: compared on {curve.n_items} of {curve.n_items_total} "
                             f"items present at every budget ({lost})."))
    for curve in result.parse_failures:
        shares = ", ".join(f"{b}: {v:.0%}" for b, v in zip(curve.budgets, curve.values, strict=True))
        call = curve.verdict.call if curve.verdict else "-"
        out.print(escape(f"unparsed answers {names(*curve.family)}: {shares} ({call}, {curve.n_items} problems)"))


def _print_diagnostics(result: Analysis, names: FamilyNames) -> None:
    from overthink.analysis.findings import did_groups, natural_vs_zero_counts, same_answer_text
    from overthink.analysis.wording import change, number

    out = stdout_console
    for item in result.did:
        last = item.steps[-1]
        groups = did_groups(item)
        iv = last.interval
        interval = f"[{_fmt(iv.lo)}, {_fmt(iv.hi)}], p={_fmt(iv.p, 4)}" if iv else "(too few items for an interval)"
        name = names(item.model, item.task, item.mechanism, item.strategy)
        out.print(escape(
            f"DiD {name} ({item.baseline}→{last.budget}): {last.n_treated} {groups[0]} "
            f"{change(item.metric, last.treated_drop, item.higher_is_better)}, {last.n_control} {groups[1]} "
            f"{change(item.metric, last.control_drop, item.higher_is_better)}; difference of the drops "
            f"{number(last.did)} {interval}"))
    for loop in result.looping:
        shares = ", ".join(f"{r['budget']}: {r['looping_share']:.0%} of {r['n']}" for r in loop["by_budget"])
        out.print(escape(f"looping traces {names.of(loop)}: {shares}"))
    for pair in result.natural_vs_zero:
        ci = pair["ci"]
        interval = f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci[0] is not None else "(too few items for an interval)"
        out.print(escape(
            f"natural end vs budget 0 {names.of(pair)} {natural_vs_zero_counts(pair)}: {pair['metric']} "
            f"{number(pair['natural'])} vs "
            f"{number(pair['budget0'])} (difference {number(pair['difference'])} {interval}, "
            f"{same_answer_text(pair)})"))
    for warning in result.warnings:
        stderr_console.print(escape(f"warning: {warning}"))


def analyze_cmd(
    store: StoreOpt,
    as_json: Annotated[bool, typer.Option("--json", help="print the full analysis as JSON")] = False,
    n_boot: BootOpt = 1000, seed: SeedOpt = 0, alpha: AlphaOpt = 0.05,
) -> None:
    """Verdict table (model x task x stratum): trend, effect with CI, p-values, phases; diagnostics."""
    from overthink.analysis.crystallize import probe_frame
    from overthink.analysis.findings import family_names, findings
    from overthink.analysis.frame import load, open_store
    from overthink.analysis.judge_agreement import store_agreement
    from overthink.analysis.summary import analyze
    from overthink.cli.inside import print_inside
    from overthink.cli.traits import store_traits
    from overthink.tasks.catalog import metric_named

    check_args(n_boot, alpha)
    with open_store(store) as opened:  # one open for the traits, the records and the judge's verdicts
        traits = store_traits(opened)
        frame = load(opened, text=False)
        probes = probe_frame(opened.probe_decisions())
        # rules vs the judge, when the store has judge verdicts (only tasks of a judged metric are ever judged)
        judged = store_agreement(opened, [name for name, t in traits.items() if metric_named(t.metric).judged])
    analysis = analyze(frame, n_boot=n_boot, seed=seed, alpha=alpha, traits=traits, probes=probes)
    if as_json:
        data = analysis.to_json()
        if judged:
            data["judge_agreement"] = [item.to_json() for item in judged]
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if not analysis.curves:
        stdout_console.print(f"no finished records with budgets in {escape(str(store))}")
    else:
        names = family_names(analysis)
        _print_curves(analysis, names)
        _print_diagnostics(analysis, names)
        if analysis.equal_compute:
            from overthink.cli.compute import print_equal_compute

            stdout_console.print("\n[bold]Equal compute[/] (also: overthink compute --store PATH)")
            print_equal_compute(analysis.equal_compute)
        print_inside(analysis)
        stdout_console.print("\n[bold]Findings[/]")
        for finding in findings(analysis):
            stdout_console.print(escape(f"- {finding.text}"))
    for item in judged:
        stdout_console.print(escape(item.line()), soft_wrap=True)


def compute_cmd(
    store: StoreOpt,
    as_json: Annotated[bool, typer.Option("--json", help="print the tables as JSON")] = False,
    n_boot: BootOpt = 1000, seed: SeedOpt = 0, alpha: AlphaOpt = 0.05,
) -> None:
    """Equal compute: each strategy's metric against total compute, and each vs chain of thought at matched compute."""
    from overthink.analysis.equal_compute import equal_compute
    from overthink.analysis.frame import load, open_store
    from overthink.analysis.summary import clean, slim
    from overthink.analysis.versions import latest_versions
    from overthink.cli.compute import print_equal_compute
    from overthink.cli.traits import store_traits

    check_args(n_boot, alpha)
    with open_store(store) as opened:
        traits = store_traits(opened)
        frame, _ = latest_versions(load(opened, text=False))
    tables = equal_compute(slim(frame), n_boot=n_boot, seed=seed, alpha=alpha, traits=traits)
    if as_json:
        typer.echo(json.dumps(clean([t.to_json() for t in tables]), indent=2, ensure_ascii=False))
        return
    if not tables:
        stdout_console.print("no (model, task) in this store was run with two or more strategies; run e.g. "
                             "`overthink run --strategy cot --strategy vote@5 ...` to compare them at equal compute")
        return
    print_equal_compute(tables)


def report_cmd(
    store: StoreOpt,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write")] = Path("report.html"),
    n_boot: BootOpt = 1000, seed: SeedOpt = 0, alpha: AlphaOpt = 0.05,
    max_samples: Annotated[int, typer.Option("--max-samples", help="records in the sample browser")] = 200,
    figures_dir: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--figures", help="also save every figure as PNG and SVG in this folder")] = None,
) -> None:
    """One self-contained HTML report: verdicts, curves, diagnoses, inside the trace and a sample browser."""
    from overthink.analysis.crystallize import probe_frame, probe_points_of
    from overthink.analysis.frame import load, open_store, texts
    from overthink.cli.traits import store_traits
    from overthink.report.html import write_report

    check_args(n_boot, alpha)
    if max_samples < 0:
        raise UserError("--max-samples must be >= 0")
    with open_store(store) as opened:  # one open: the records, the browser's texts and the traits
        frame = load(opened, text=False)
        if figures_dir is not None and figures_dir.exists() and not figures_dir.is_dir():
            raise UserError(f"--figures {figures_dir} is a file; give a folder for the PNG and SVG figures")
        write_report(frame, out, title=f"overthink report: {store.name}", n_boot=n_boot, seed=seed, alpha=alpha,
                     max_samples=max_samples, figures_dir=figures_dir, texts=lambda keys: texts(opened, keys),
                     traits=store_traits(opened), probes=probe_frame(opened.probe_decisions()),
                     probe_points=lambda keys: probe_points_of(opened, keys))
    stdout_console.print(f"wrote {escape(str(out))}")


def export_cmd(
    store: StoreOpt,
    fmt: Annotated[str, typer.Option("--format", help="csv | parquet | jsonl")] = "csv",
    out: Annotated[Optional[Path], typer.Option("--out", help="file to write (default: stdout)")] = None,  # noqa: UP045
) -> None:
    """Write the store as one tidy table (one row per record, strata as meta_* columns), streamed."""
    from overthink.analysis.export import export_store

    export_store(store, fmt, out)


def simulate_cmd(
    out: Annotated[Path, typer.Option("--out", help="new store file to write")],
    curve: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--curve", help='true accuracy per budget, "0:0.95,1024:0.93"')] = None,
    n: Annotated[Optional[int], typer.Option("--n", help="items (--family: its calibration size)")] = None,  # noqa: UP045
    repeats: Annotated[int, typer.Option("--repeats", help="samples per item and budget")] = 3,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    control_curve: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--control-curve", help="true curve of control items (adds controls)")] = None,
    control_fraction: Annotated[float, typer.Option("--control-fraction", help="share of controls")] = 0.3,
    natural: Annotated[bool, typer.Option("--natural", help="also write natural-end records")] = False,
    family: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--family", help="simulate this task family's real structure (its null model) instead of --curve")] = None,
    scenario: Annotated[str, typer.Option("--scenario", help="--family: flat | drop5 | drop10 | tail4")] = "flat",
) -> None:
    """Write a synthetic store with a known true curve and per-item difficulty (or a task family's structure)."""
    from overthink.analysis.simulate import parse_curve, simulate_frame, write_store

    if (curve is None) == (family is None):
        raise UserError("give exactly one of --curve (one generic curve) or --family (a task family's structure)")
    if family is not None:
        from overthink.analysis.families import simulate_family
        from overthink.analysis.family_items import as_family

        found = as_family(family)
        raw = simulate_family(found, scenario, n=n, repeats=repeats, seed=seed)
        written = write_store(raw, out, traits=[found.traits()])
        stdout_console.print(f"wrote {written} simulated {escape(found.name)} records ({escape(scenario)}) "
                             f"to {escape(str(out))}")
        return
    if not 0.0 < control_fraction < 1.0:
        raise UserError("--control-fraction must be between 0 and 1")
    assert curve is not None
    raw = simulate_frame(parse_curve(curve), 300 if n is None else n, repeats, seed,
                         control_curve=parse_curve(control_curve) if control_curve else None,
                         control_fraction=control_fraction if control_curve else 0.0, natural=natural)
    written = write_store(raw, out)
    stdout_console.print(f"wrote {written} simulated records to {escape(str(out))}")


def power_cmd(
    curve: Annotated[str, typer.Option("--curve", help='true accuracy per budget, "0:0.95,4096:0.85"')],
    n: Annotated[int, typer.Option("--n", help="items")] = 300,
    repeats: Annotated[int, typer.Option("--repeats", help="samples per item and budget")] = 3,
    trials: Annotated[int, typer.Option("--trials", help="simulated stores")] = 200,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    n_boot: BootOpt = 1000, alpha: AlphaOpt = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """How often the verdict is `inverse` on simulated stores (power, or false-positive rate if flat)."""
    from overthink.analysis.simulate import parse_curve, power

    check_args(n_boot, alpha)
    result = power(parse_curve(curve), n, repeats, trials, seed, n_boot=n_boot, alpha=alpha)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    label = "false-positive rate" if result["kind"] == "false_positive_rate" else "power"
    stdout_console.print(
        f"{label}: {result['inverse_rate']:.1%} ± {result['stderr']:.1%} "
        f"({result['verdicts']['inverse']}/{trials} inverse; verdicts {result['verdicts']}; "
        f"n={n}, repeats={repeats}, alpha={alpha})")


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze_cmd)
    app.command("compute")(compute_cmd)
    app.command("report")(report_cmd)
    app.command("export")(export_cmd)
    app.command("simulate")(simulate_cmd)
    app.command("power")(power_cmd)
