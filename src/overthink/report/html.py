"""One self-contained HTML report: verdicts first, then curves and diagnoses per task, then samples.

Figures are embedded as base64 PNG, so the file can be mailed or archived without its neighbours.
The template is rendered by Jinja2 with autoescaping on for every value; model output (prompts,
reasoning, answers, even model and task names) is data and reaches the page only as escaped text.
Nothing is marked safe except the base64 image payloads this module produced itself.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from overthink import __version__
from overthink.analysis.findings import findings, same_answer_text
from overthink.analysis.metrics import NO_TRAITS, Traits
from overthink.analysis.summary import Analysis, analyze
from overthink.analysis.wording import call_text, phases_shown
from overthink.errors import UserError
from overthink.report import figures
from overthink.report.inside import ProbePoints, inside_context

TEMPLATES = Path(__file__).with_name("templates")
BROWSER_FIELDS = ("prompt", "reasoning", "answer_text")
MAX_TEXT = 20_000  # characters per field in the sample browser (the store keeps everything)


def _num(value: Any, digits: int = 3) -> str:
    """Number formatting for the template; None / NaN show as a dash."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}"
    return str(value)


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.globals["call_text"] = call_text  # the call and the test that made it (analysis/wording.py)
    env.globals["phases_shown"] = phases_shown  # phases only beside a trend verdict
    env.globals["same_answer_text"] = same_answer_text  # a count, and a share only above the minimum
    return env


def _img(fig: Any, stem: str, figures_dir: Path | None) -> str:
    """Base64 PNG of a figure; also saves PNG+SVG under figures_dir when given."""
    if figures_dir is not None:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)[:80]
        figures.save(fig, figures_dir / safe)
        png = (figures_dir / safe).with_suffix(".png").read_bytes()
    else:
        png = figures.to_png(fig)
    return base64.b64encode(png).decode("ascii")


def _series(rows: list[dict[str, Any]], field: str) -> tuple[list[str], list[float | None]]:
    return [str(r["budget"]) for r in rows], [r.get(field) for r in rows]


def _panels(result: dict[str, Any], model: str, task: str) -> list[tuple[str, list[str], dict[str, Any]]]:
    """Failure-mode panels that have data for this (model, task)."""
    panels: list[tuple[str, list[str], dict[str, Any]]] = []

    def mine(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i["model"] == model and i["task"] == task]

    modes = result["failure_modes"]
    curves = {(i.get("mechanism"), i.get("strategy")) for items in modes.values() for i in mine(items)}

    def titled(title: str, item: dict[str, Any]) -> str:
        """The panel title, naming the curve when this task's tables come from several strategies."""
        return title if len(curves) < 2 else f"{title} ({item.get('mechanism')}, {item.get('strategy')})"

    for item in mine(result["looping"]):
        budgets, share = _series(item["by_budget"], "looping_share")
        _, all_metric = _series(item["by_budget"], "metric")
        _, clean = _series(item["by_budget"], "metric_non_looping")
        panels.append(("looping share", budgets, {"looping": share}))
        panels.append((f"{item['metric']}: all vs non-looping", budgets,
                       {"all": all_metric, "non-looping": clean}))
    for name, title in (("distraction", "wrong answers = a distractor number"),
                        ("framing", "answers = the famous paradox's answer"), ("risky", "")):
        for item in mine(modes.get(name, [])):
            budgets, share = _series(item["by_budget"], "share" if name != "risky" else "rate")
            panels.append((titled(title or f"{item['mode']} rate", item), budgets, {item["mode"]: share}))
    for item in mine(modes.get("spurious", [])):
        budgets = [str(r["budget"]) for r in item["by_budget"]]
        series = {f: [r.get(f) for r in item["by_budget"]] for f in item["features"][:4]}
        panels.append((titled(f"corr(prediction, feature), shots={item['shots']}", item), budgets, series))
    for item in mine(modes.get("drift", [])):
        if item["mode"] == "drift_grid" and item["cells"]:
            budgets = list(dict.fromkeys(c["budget"] for c in item["cells"]))
            grid: dict[str, list[float | None]] = {}
            for cell in item["cells"]:
                grid.setdefault(f"grid {cell['grid_size']}", [None] * len(budgets))[
                    budgets.index(cell["budget"])] = cell["accuracy"]
            panels.append((titled("accuracy by grid size", item), budgets, grid))
        if item["mode"] == "drift_nested" and item["steps"]:
            labels = [f"{s['from']}→{s['to']}" for s in item["steps"]]
            panels.append((titled("answer changed vs previous budget", item), labels,
                           {"changed": [s["changed_share"] for s in item["steps"]]}))
    return panels


def _equal_compute(result: dict[str, Any], model: str, task: str, figures_dir: Path | None
                   ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The equal-compute tables of one (model, task) and their figure (one per task; none without a
    comparison of at least two strategies)."""
    tables = [t for t in result["equal_compute"] if t["model"] == model and t["task"] == task]
    if not tables:
        return [], []
    made: list[dict[str, str]] = []
    for mechanism in dict.fromkeys(t["mechanism"] for t in tables):
        mine = [t for t in tables if t["mechanism"] == mechanism]
        name = f"{model} / {task} ({mechanism})"
        caption = (f"Equal compute: {name}, every strategy's metric against its mean total compute per problem "
                   "(log axis) with 95% bands from one problem bootstrap; rings mark budgets significantly "
                   "better or worse than chain of thought at matched compute")
        made.append({"caption": caption, "png": _img(figures.equal_compute(mine, name), f"compute-{name}",
                                                     figures_dir)})
    return tables, made


Texts = Callable[[list[str]], dict[str, dict[str, str]]]


def _samples(frame: pd.DataFrame, limit: int, texts: Texts | None = None) -> list[dict[str, Any]]:
    """A spread of records for the browser: a few per (model, task, budget), capped at `limit`.

    With `texts`, the long fields are fetched for these records only (the frame holds no text)."""
    if limit <= 0 or frame.empty:
        return []
    groups = frame.groupby(["model", "task", "budget"], sort=True, observed=True).ngroups
    per = max(1, limit // max(1, groups))
    picked = frame.groupby(["model", "task", "budget"], sort=True, observed=True).head(per).head(limit)
    fetched = texts([str(k) for k in picked["key"]]) if texts is not None and "key" in picked else {}
    out = []
    for row in picked.to_dict("records"):
        source: dict[Any, Any] = {**row, **fetched.get(str(row.get("key")), {})}
        item = {k: ("" if source.get(k) is None or (isinstance(source.get(k), float) and np.isnan(source[k]))
                    else str(source[k])[:MAX_TEXT]) for k in BROWSER_FIELDS}
        for k in ("model", "task", "budget", "sample_id", "repeat", "extracted", "target", "score", "status",
                  "error", "realized", "looping"):
            value = source.get(k)
            item[k] = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
        out.append(item)
    return out


def _curve_figures(result: dict[str, Any], figures_dir: Path | None
                   ) -> dict[tuple[str, str], list[dict[str, str]]]:
    """Per (model, task): the main curves of each family in one figure, strata as small multiples."""
    by_family: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for curve in result["curves"]:
        by_family[(curve["model"], curve["task"], curve["mechanism"], curve["strategy"])].append(curve)
    out: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for (model, task, mechanism, strategy), curves in by_family.items():
        name = f"{model} / {task} ({mechanism}, {strategy})"
        mains = [c for c in curves if c["main"]]
        strata = [c for c in curves if not c["main"]]
        out[(model, task)].append({"caption": f"Main curve(s) with 95% bands: {name}", "png": _img(
            figures.scaling_curves(mains or curves, name), f"curves-{name}", figures_dir)})
        if strata:
            caption = (f"Strata of {name}: one panel each (grey: the main curve; dashed: descriptive, "
                       "fewer than 10 common problems)")
            out[(model, task)].append({"caption": caption, "png": _img(
                figures.strata_multiples(mains, strata, name), f"strata-{name}", figures_dir)})
    return out


def build_context(frame: pd.DataFrame, analysis: Analysis, title: str, max_samples: int = 200,
                  figures_dir: Path | None = None, texts: Texts | None = None,
                  probe_points: ProbePoints | None = None) -> dict[str, Any]:
    """Everything the template shows; figures rendered here, text left for Jinja2 to escape."""
    result = analysis.to_json()
    sections: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"figures": [], "did": [], "natural_vs_zero": [], "compliance": [], "compute": []})
    for where, made in _curve_figures(result, figures_dir).items():
        sections[where]["figures"].extend(made)
    for (model, task), section in sections.items():
        sub = frame[(frame["model"] == model) & (frame["task"] == task) & (frame["status"] == "ok")]
        budgets = list(dict.fromkeys(p["budget"] for c in result["curves"]
                                     if c["model"] == model and c["task"] == task for p in c["points"]))
        budgets += ["natural"] if (sub["budget"] == "natural").any() else []
        boxes = figures.token_boxplots(sub, budgets, f"{model} / {task}")
        section["figures"].append({"caption": "Requested vs realized reasoning tokens",
                                   "png": _img(boxes, f"tokens-{model}-{task}", figures_dir)})
        natural = [n for n in result["natural"] if n["model"] == model and n["task"] == task]
        if natural:
            section["figures"].append({"caption": "Natural overthinking: metric by length rank within item",
                                       "png": _img(figures.natural_ranks(natural, f"{model} / {task}"),
                                                   f"natural-{model}-{task}", figures_dir)})
        panels = _panels(result, model, task)
        if panels:
            section["figures"].append({"caption": "Failure-mode and method diagnostics", "png": _img(
                figures.failure_panels(panels, f"{model} / {task}"), f"modes-{model}-{task}", figures_dir)})
        section["compute"], made = _equal_compute(result, model, task, figures_dir)
        section["compute_figures"] = made
        for part in ("did", "natural_vs_zero", "compliance"):
            section[part] = [i for i in result[part] if i["model"] == model and i["task"] == task]
        section["natural"] = natural
    found = findings(analysis)
    return {
        "title": title, "version": __version__, "settings": analysis.settings, "counts": analysis.counts,
        "main_curves": analysis.main_curves,
        "tested_strata": [c for c in analysis.strata_curves if not c.descriptive],
        "descriptive_strata": [c for c in analysis.strata_curves if c.descriptive],
        "parse_failures": analysis.parse_failures, "warnings": analysis.warnings,
        "headlines": [f.text for f in found if f.headline], "notes": [f.text for f in found if not f.headline],
        "sections": [{"model": m, "task": t, **s} for (m, t), s in sorted(sections.items())],
        "samples": _samples(frame, max_samples, texts), "max_samples": max_samples,
        "inside": inside_context(result, _img, figures_dir, texts, probe_points),
    }


def render(context: dict[str, Any]) -> str:
    return _environment().get_template("report.html.j2").render(**context)


def write_report(frame: pd.DataFrame, out: str | Path, *, title: str = "overthink report", n_boot: int = 1000,
                 seed: int = 0, alpha: float = 0.05, max_samples: int = 200,
                 figures_dir: Path | None = None, texts: Texts | None = None,
                 traits: Traits = NO_TRAITS, probes: pd.DataFrame | None = None,
                 probe_points: ProbePoints | None = None) -> Path:
    """Analyse `frame` (its tasks read by the store's declared `traits`) and write the HTML report to `out`."""
    target = Path(out)
    if target.is_dir():
        raise UserError(f"--out {target} is a directory; give a file name such as report.html")
    analysis = analyze(frame, n_boot=n_boot, seed=seed, alpha=alpha, traits=traits, probes=probes)
    html = render(build_context(frame, analysis, title, max_samples, figures_dir, texts, probe_points))
    try:
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror}; choose another --out path") from None
    return target
