"""One entry point that runs every analysis on a frame; the CLI, the report and the gate share it.

Keeping the order and the defaults (seed, replicates, alpha) in one place means `overthink analyze`,
`overthink report` and the release gate can never disagree about a verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from overthink.analysis import diagnostics, failure_modes, natural, phases, trends
from overthink.analysis.bootstrap import Curve, families, family_curve, family_curves
from overthink.analysis.compute_results import ComputeTable
from overthink.analysis.crystallize import crystallization
from overthink.analysis.diagnostics import Did
from overthink.analysis.equal_compute import MATCH_RATIO, equal_compute
from overthink.analysis.flips import flips
from overthink.analysis.inference import MIN_ITEMS
from overthink.analysis.metrics import NO_TRAITS, Traits, declared_metric
from overthink.analysis.natural import NaturalResult
from overthink.analysis.versions import SetAside, latest_versions
from overthink.tasks.metric import PARSE_FAILURE

DEFAULT_BOOT = 1000
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Analysis:
    """Everything analysis knows about one store."""

    curves: list[Curve]
    parse_failures: list[Curve] = field(default_factory=list)
    natural: list[NaturalResult] = field(default_factory=list)
    did: list[Did] = field(default_factory=list)
    looping: list[dict[str, Any]] = field(default_factory=list)
    natural_vs_zero: list[dict[str, Any]] = field(default_factory=list)
    compliance: list[dict[str, Any]] = field(default_factory=list)
    failure_modes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    set_aside: list[SetAside] = field(default_factory=list)  # records of older task versions, left out
    equal_compute: list[ComputeTable] = field(default_factory=list)  # strategies against total compute
    crystallization: list[dict[str, Any]] = field(default_factory=list)  # when traces decided (probes)
    flips: dict[str, Any] = field(default_factory=dict)  # answers that changed between budgets of a trace

    @property
    def main_curves(self) -> list[Curve]:
        return [c for c in self.curves if c.main]

    @property
    def strata_curves(self) -> list[Curve]:
        return [c for c in self.curves if not c.main]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (NaN -> null) for `analyze --json` and the report."""
        from overthink.analysis.findings import findings

        result: dict[str, Any] = clean({
            "settings": self.settings, "counts": self.counts,
            "curves": [c.to_json() for c in self.curves],
            "parse_failures": [c.to_json() for c in self.parse_failures],
            "natural": [n.to_json() for n in self.natural], "did": [d.to_json() for d in self.did],
            "looping": self.looping, "natural_vs_zero": self.natural_vs_zero,
            "compliance": self.compliance, "failure_modes": self.failure_modes,
            "findings": [f.to_json() for f in findings(self)],
            "set_aside": [item.to_json() for item in self.set_aside],
            "equal_compute": [table.to_json() for table in self.equal_compute],
            "crystallization": self.crystallization, "flips": self.flips,
        })
        return result

    @property
    def warnings(self) -> list[str]:
        out: list[str] = [item.line() for item in self.set_aside]
        for item in self.compliance:
            out.extend(f"{item['model']} / {item['task']}: {w}" for w in item["warnings"])
        return out


def clean(value: Any) -> Any:
    """Recursively turn numpy scalars into Python numbers and NaN/inf into None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [clean(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    return value


# Long text and bookkeeping columns no analysis reads; dropping them first makes every filter and
# group-by copy a fraction of the bytes (the sample browser reads the full frame separately).
TEXT_COLUMNS = ("prompt", "reasoning", "answer_text", "error", "key", "metadata", "extra", "score_details",
                "reasoning_source", "finish_reason", "experiment", "task_version", "created_at")

KEY_COLUMNS = ("model", "task", "mechanism", "strategy", "sample_id", "budget", "budget_kind", "status",
               "extracted", "target")


def slim(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without the columns analysis never reads; key strings as categoricals.

    Arrow-backed (or object) string columns make every boolean filter and group-by copy or hash
    strings, which dominated the million-record benchmark; categorical codes are plain integers.
    """
    out = frame.drop(columns=[c for c in TEXT_COLUMNS if c in frame.columns])
    if "extra" in frame.columns and "verifier" not in out.columns:  # best-of-n's judge, named in its tables
        names = [e.get("verifier") if isinstance(e, dict) else None for e in frame["extra"]]
        out["verifier"] = pd.Series(names, index=out.index, dtype="category")
    for column in KEY_COLUMNS:
        if column in out.columns and not isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype("category")
    return out


def _curves(frame: pd.DataFrame, n_boot: int, seed: int, traits: Traits) -> tuple[list[Curve], list[Curve]]:
    """Every family's curves, and its parse-failure curve where answers can fail to parse."""
    curves: list[Curve] = []
    parse: list[Curve] = []
    for family in families(frame, n_boot, seed, traits):
        curves.extend(family_curves(family))
        if declared_metric(family.traits).parse_failures:
            everything = np.ones(len(family.rows), dtype=bool)
            failures = family_curve(family, everything, PARSE_FAILURE.name, "all", True, PARSE_FAILURE)
            if failures is not None and float(np.nanmax(failures.values)) > 0:
                parse.append(failures)
    return curves, parse


def analyze(frame: pd.DataFrame, n_boot: int = DEFAULT_BOOT, seed: int = DEFAULT_SEED,
            alpha: float = trends.ALPHA, *, traits: Traits = NO_TRAITS, with_phases: bool = True,
            with_diagnostics: bool = True, probes: pd.DataFrame | None = None) -> Analysis:
    """Curves with verdicts and phases, natural overthinking, diagnostics and failure modes.

    `traits` are what the store declares of its tasks (`frame.load_traits`; the CLI fills in the
    registry's for old stores); a task without traits is read as accuracy, higher is better.
    `with_diagnostics=False` stops after the curves (what verdicts and the gate read): calibration
    runs thousands of stores and no verdict reads the diagnostic tables. `probes` are the store's probe
    decisions (`crystallize.probe_frame(store.probe_decisions())`) for the crystallization results."""
    frame, set_aside = latest_versions(frame)
    inside = _inside(frame, probes, n_boot, seed, alpha, traits) if with_diagnostics else {}
    frame = slim(frame)
    curves, parse = _curves(frame, n_boot, seed, traits) if not frame.empty else ([], [])
    curves = trends.annotate(curves, alpha=alpha)
    parse = trends.annotate(parse, alpha=alpha)
    if with_phases:
        curves = phases.annotate_phases(curves, alpha=alpha)
    status = frame["status"] if "status" in frame else pd.Series(dtype=str)
    counts = {"records": len(frame), "ok": int((status == "ok").sum()), "error": int((status == "error").sum())}
    settings = {"n_boot": n_boot, "seed": seed, "alpha": alpha, "min_items": MIN_ITEMS,
                "error_control": "family-wise per (model, task, mechanism, strategy)",
                "equal_compute": {"x": "compute_tokens", "reference": "cot", "match_ratio": MATCH_RATIO,
                                  "error_control": "family-wise per (model, task, mechanism, shots)"}}
    if set_aside:
        counts["set_aside"] = sum(item.records for item in set_aside)
    if frame.empty or not with_diagnostics:
        return Analysis(curves=curves, parse_failures=parse, settings=settings, counts=counts, set_aside=set_aside)
    return Analysis(
        curves=curves, parse_failures=parse, settings=settings, counts=counts, set_aside=set_aside,
        natural=natural.analyze_natural(frame, n_boot=n_boot, seed=seed, alpha=alpha, traits=traits),
        did=diagnostics.difference_in_differences(frame, n_boot=n_boot, seed=seed, alpha=alpha, traits=traits),
        looping=diagnostics.looping(frame, traits),
        natural_vs_zero=diagnostics.natural_vs_zero(frame, n_boot=n_boot, seed=seed, alpha=alpha, traits=traits),
        compliance=diagnostics.compliance(frame), failure_modes=failure_modes.all_modes(frame, traits),
        equal_compute=equal_compute(frame, n_boot=n_boot, seed=seed, alpha=alpha, traits=traits), **inside)


def _inside(frame: pd.DataFrame, probes: pd.DataFrame | None, n_boot: int, seed: int, alpha: float,
            traits: Traits) -> dict[str, Any]:
    """Inside the trace (docs/trace.md): crystallization from the probes, flips between budgets. Read
    before `slim`, which drops the record keys the report fetches texts by."""
    if frame.empty:
        return {}
    found = crystallization(frame, probes, traits, n_boot=n_boot, seed=seed, alpha=alpha) if probes is not None else []
    return {"crystallization": found, "flips": flips(frame, traits)}
