"""The typed outcome of `run_experiment`: what was planned, stored, skipped and failed, and why it stopped.

A report is data, not text: the CLI prints it (tables, a summary line, `--json`), tests assert on it,
and `exit_code` is the single mapping from an outcome to the documented exit codes (docs/scale.md), so a sweep whose
items are still errors can never end with 0 again.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from overthink.types import BudgetRow


class StopReason(str, Enum):
    """Why the run ended: all planned work was tried, or something stopped it first."""

    COMPLETED = "completed"
    INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM: exit 130
    CAPPED = "capped"  # --max-cost / --max-tokens would have been crossed by the next request
    CIRCUIT_BREAKER = "circuit_breaker"  # the same failure kept repeating (or one that cannot heal, e.g. auth)


def sweep_title(model: str, task: str, strategy: str) -> str:
    """How progress and stop messages name a sweep: "model · task", with the strategy unless cot."""
    return f"{model} · {task}" + ("" if strategy == "cot" else f" · {strategy}")


@dataclass(frozen=True)
class SweepReport:
    """One (model, task) of the run. `ok + errors` counts stored records of this plan after the run."""

    model: str
    task: str
    strategy: str
    metric: str
    planned: int  # work items of this plan
    skipped: int  # already stored before this run (not sent again)
    written: int  # records written by this run
    new_errors: int  # of those, error records
    ok: int
    errors: int  # items of this plan whose stored record is an error
    exhausted: int  # of those, the ones that used up their attempts (a re-run skips them)
    generated_tokens: int
    elapsed_s: float
    error_classes: Mapping[str, int] = field(default_factory=dict)  # this run's failures by kind
    rows: tuple[BudgetRow, ...] = ()

    @property
    def title(self) -> str:
        return sweep_title(self.model, self.task, self.strategy)

    @property
    def missing(self) -> int:
        """Items never tried (the run stopped before them)."""
        return self.planned - self.ok - self.errors

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model, "task": self.task, "strategy": self.strategy, "metric": self.metric,
            "planned": self.planned, "skipped": self.skipped, "written": self.written,
            "new_errors": self.new_errors, "ok": self.ok, "errors": self.errors, "exhausted": self.exhausted,
            "missing": self.missing,
            "generated_tokens": self.generated_tokens, "elapsed_s": round(self.elapsed_s, 3),
            "error_classes": dict(self.error_classes), "budgets": [_row_json(r) for r in self.rows],
        }


@dataclass(frozen=True)
class RunReport:
    """Every (model, task) sweep of one `run_experiment` call, and how the run ended."""

    store: str
    experiment: str
    mode: str
    sweeps: tuple[SweepReport, ...]
    stop: StopReason = StopReason.COMPLETED
    stop_detail: str | None = None  # one line: the cap that stopped it, or the breaker's reason
    spent: str = ""  # the spending tracker's summary ("spent 1200 tokens, $0.0300")
    warnings: tuple[str, ...] = ()  # preflight's inconclusive checks (a busy server); the sweep ran anyway
    max_attempts: int = 3  # the attempts limit the run used (items in error beyond it are not retried)
    shard: str | None = None  # "K/N" when the run was one shard

    @property
    def ok(self) -> int:
        return sum(s.ok for s in self.sweeps)

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.sweeps)

    @property
    def exhausted(self) -> int:
        return sum(s.exhausted for s in self.sweeps)

    @property
    def skipped(self) -> int:
        return sum(s.skipped for s in self.sweeps)

    @property
    def written(self) -> int:
        return sum(s.written for s in self.sweeps)

    @property
    def planned(self) -> int:
        return sum(s.planned for s in self.sweeps)

    @property
    def error_classes(self) -> dict[str, int]:
        """This run's failures by kind, over every sweep (e.g. {"server": 20, "auth": 1})."""
        total: Counter[str] = Counter()
        for sweep in self.sweeps:
            total.update(sweep.error_classes)
        return dict(sorted(total.items()))

    @property
    def exit_code(self) -> int:
        """130 interrupted; 1 a breaker stopped it or items remain errors; else 0 (a cap stop is not a failure)."""
        if self.stop is StopReason.INTERRUPTED:
            return 130
        if self.stop is StopReason.CIRCUIT_BREAKER or self.errors:
            return 1
        return 0

    def errors_line(self) -> str | None:
        """The summary line about items still in error, and whether a re-run retries them (None: none)."""
        if not self.errors:
            return None
        kinds = ", ".join(f"{kind} {count}" for kind, count in self.error_classes.items())
        head = f"{self.errors} of {self.planned} items are errors" + (f" (failures this run: {kinds})" if kinds else "")
        again = f"run the same command again (or `overthink resume --store {self.store}`)"
        if not self.exhausted:
            return f"{head}; {again} to retry them."
        spent = f"used up their {self.max_attempts} attempts"
        if self.exhausted == self.errors:
            return f"{head}; they {spent}, so a re-run skips them: add --max-attempts N (N > {self.max_attempts})."
        return (f"{head}; {again} to retry {self.errors - self.exhausted} of them ({self.exhausted} {spent}: "
                f"add --max-attempts N to retry those too).")

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store, "experiment": self.experiment, "mode": self.mode, "stop": self.stop.value,
            "stop_detail": self.stop_detail, "exit_code": self.exit_code, "spent": self.spent, "shard": self.shard,
            "max_attempts": self.max_attempts,
            "records": {"planned": self.planned, "ok": self.ok, "errors": self.errors, "exhausted": self.exhausted,
                        "skipped": self.skipped,
                        "written": self.written, "missing": sum(s.missing for s in self.sweeps)},
            "error_classes": self.error_classes, "warnings": list(self.warnings),
            "sweeps": [s.to_json() for s in self.sweeps],
        }


def _number(value: float) -> float | None:
    """JSON has no NaN: an empty cell (no ok record at a budget) is null."""
    return None if math.isnan(value) else round(value, 6)


def _row_json(row: BudgetRow) -> dict[str, Any]:
    return {
        "budget": row.budget, "requested": row.requested, "mean_realized": _number(row.mean_realized),
        "metric": _number(row.metric), "low": _number(row.low), "high": _number(row.high),
        "n_items": row.n_items, "n_records": row.n_records, "looping": _number(row.looping), "errors": row.errors,
        "censored": row.censored, "pooled": row.pooled,
        "by_group": {name: {"metric": _number(v[0]), "low": _number(v[1]), "high": _number(v[2]), "n": v[3]}
                     for name, v in row.by_group.items()},
    }
