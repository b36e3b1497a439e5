"""The report's "Inside the trace" section: the crystallization figures and the flip browser.

The flip browser lists answers that changed between two budgets of one trace (analysis/flips.py),
grouped by kind (refuse->comply, right->wrong, ...) and label, filterable by both. Each flip shows the
two answers and the longer budget's trace with the point where it went on thinking past the shorter
budget marked (the shorter budget's reasoning is a prefix of it: both fork off one trace), and the
probe decisions along it when the store has probes. The texts of the flips shown, and their probes,
are fetched by key for those records only (`Texts`, `ProbePoints`), so memory follows the flips
shown, never the store. Every model string reaches the page through Jinja2's autoescaping; the
filters are CSS only (radio buttons and `:has()`), so the report's Content-Security-Policy still
blocks every script, which is what keeps a hostile answer inert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from itertools import zip_longest
from pathlib import Path
from typing import Any

from overthink.report.trace_figures import crystallization_figure

Texts = Callable[[list[str]], dict[str, dict[str, str]]]  # record keys -> {field: text}
ProbePoints = Callable[[list[str]], dict[str, list[dict[str, Any]]]]  # record keys -> [{at, decision}]
Image = Callable[[Any, str, "Path | None"], str]  # (figure, stem, figures dir) -> base64 PNG
MAX_FLIPS = 60  # flips shown in the browser (every flip is counted in the table above it)
MAX_TEXT = 20_000
GOOD = {"refuse", "right"}  # decisions drawn green in the probe strip (the others red)


def divergence(shorter: str, longer: str) -> int:
    """Where the longer trace leaves the shorter one's text: their common prefix's length."""
    limit = min(len(shorter), len(longer))
    index = 0
    while index < limit and shorter[index] == longer[index]:
        index += 1
    return index


def _spread(flips: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Up to `limit` flips, taken in turn from each (kind, label) group so that a rare kind is shown."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for flip in flips:
        groups[(flip["kind"], flip["label"])].append(flip)
    ordered = [f for row in zip_longest(*groups.values()) for f in row if f is not None]
    return ordered[:limit]


def _card(flip: dict[str, Any], texts: dict[str, dict[str, str]], points: dict[str, list[dict[str, Any]]],
          kinds: list[str], labels: list[str]) -> dict[str, Any]:
    before, after = texts.get(flip["from_key"], {}), texts.get(flip["to_key"], {})
    trace = after.get("reasoning", "")[:MAX_TEXT]
    cut = divergence(before.get("reasoning", ""), trace)
    return {
        **{k: flip[k] for k in ("model", "task", "strategy", "sample_id", "repeat", "kind", "label",
                                "from_budget", "to_budget", "from_extracted", "to_extracted", "failure_mode")},
        "strata": ", ".join(f"{k}={v}" for k, v in sorted(flip["strata"].items())),
        "kind_index": kinds.index(flip["kind"]), "label_index": labels.index(flip["label"]),
        "from_answer": before.get("answer_text", "")[:MAX_TEXT], "to_answer": after.get("answer_text", "")[:MAX_TEXT],
        "prompt": after.get("prompt", "")[:MAX_TEXT], "head": trace[:cut], "tail": trace[cut:],
        "probes": [{**p, "good": p["decision"] in GOOD} for p in points.get(flip["to_key"], [])],
    }


def inside_context(result: dict[str, Any], image: Image, figures_dir: Path | None, texts: Texts | None,
                   probe_points: ProbePoints | None, limit: int = MAX_FLIPS) -> dict[str, Any]:
    """The template's `inside` values: figures, the crystallization table, flip counts and cards."""
    figures = [{"caption": f"Share of traces decided by t thinking tokens, 95% problem-bootstrap bands: "
                           f"{family['model']} / {family['task']} ({family['strategy']})",
                "png": image(crystallization_figure(family), f"crystallization-{family['model']}-{family['task']}",
                             figures_dir)} for family in result.get("crystallization", [])]
    flips = result.get("flips") or {}
    shown = _spread(flips.get("flips", []), limit)
    kinds = sorted({f["kind"] for f in shown})
    labels = sorted({f["label"] for f in shown})
    keys = [k for f in shown for k in (f["from_key"], f["to_key"])]
    fetched = texts(keys) if texts is not None and keys else {}
    points = probe_points([f["to_key"] for f in shown]) if probe_points is not None and shown else {}
    return {
        "figures": figures, "crystallization": result.get("crystallization", []),
        "flip_counts": flips.get("counts", []), "flip_total": flips.get("total", 0),
        "kinds": kinds, "labels": labels, "cards": [_card(f, fetched, points, kinds, labels) for f in shown],
    }
