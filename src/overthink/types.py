"""Core value types shared by every layer: tasks, backends, runner, store and analysis.

They are frozen so a value handed from one layer to the next can never be changed behind its back;
the store writes exactly what the runner built.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class BudgetKind(str, Enum):
    """What a budget asks for. `none` = no thinking at all; `natural` = no limit at all."""

    NONE = "none"
    TOKENS = "tokens"
    EFFORT = "effort"
    NATURAL = "natural"


class Mechanism(str, Enum):
    """How a budget is imposed on the model."""

    NATIVE = "native"  # the provider's own control (thinking budget, reasoning effort)
    PROMPT = "prompt"  # requested in the system prompt, as the paper did for every model
    FORCED = "forced"  # budget forcing on token ids (s1): cut at N, "Wait" below N


class TokenSource(str, Enum):
    """Where a realized reasoning-token count came from, so analysis can weigh its trust."""

    API = "api"
    TOKENIZER = "tokenizer"
    ESTIMATE = "estimate"


@dataclass(frozen=True)
class Budget:
    """A reasoning budget: a value, not a number."""

    kind: BudgetKind
    value: int | str | None = None
    mechanism: Mechanism = Mechanism.FORCED

    @property
    def label(self) -> str:
        """Stable text form used in store keys and tables: "0", "1024", "natural", "effort:high"."""
        if self.kind is BudgetKind.NONE:
            return "0"
        if self.kind is BudgetKind.NATURAL:
            return "natural"
        if self.kind is BudgetKind.EFFORT:
            return f"effort:{self.value}"
        return str(self.value)

    @property
    def tokens(self) -> int | None:
        """Requested thinking tokens, or None when the budget is not a token count."""
        if self.kind is BudgetKind.NONE:
            return 0
        if self.kind is BudgetKind.TOKENS:
            assert isinstance(self.value, int)
            return self.value
        return None

    @staticmethod
    def parse(text: str, mechanism: Mechanism = Mechanism.FORCED) -> Budget:
        """Parse one budget from the command line; raises ValueError with a user-facing message."""
        raw = text.strip().lower()
        if raw in {"natural", "none-limit", "unlimited"}:
            return Budget(BudgetKind.NATURAL, None, mechanism)
        if raw.startswith("effort:") or raw in {"minimal", "low", "medium", "high", "max", "xhigh"}:
            level = raw.split(":", 1)[-1]
            if not level:
                raise ValueError(f"budget {text!r}: effort level is empty (use e.g. effort:high)")
            return Budget(BudgetKind.EFFORT, level, mechanism)
        try:
            number = int(raw)
        except ValueError:
            raise ValueError(
                f"budget {text!r} is not a whole number of tokens, 'natural' or 'effort:LEVEL'"
            ) from None
        if number < 0:
            raise ValueError(f"budget {text!r} is negative; budgets are thinking tokens >= 0")
        if number == 0:
            return Budget(BudgetKind.NONE, 0, mechanism)
        return Budget(BudgetKind.TOKENS, number, mechanism)


@dataclass(frozen=True)
class Sample:
    """One problem with its verified answer key.

    `target` is always text (numbers are written canonically, e.g. "7" or "81.5"); `metadata` holds
    the strata (e.g. num_distractors) and anything a scorer or diagnosis needs (e.g. distractor numbers).
    """

    id: str
    task: str
    prompt: str
    target: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    system: str | None = None
    choices: tuple[str, ...] | None = None

    def to_json(self) -> str:
        """Canonical JSON (sorted keys) so that equal samples serialize to identical bytes."""
        return json.dumps(
            {
                "id": self.id,
                "task": self.task,
                "prompt": self.prompt,
                "target": self.target,
                "metadata": dict(self.metadata),
                "system": self.system,
                "choices": list(self.choices) if self.choices is not None else None,
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Sample:
        choices = data.get("choices")
        return Sample(
            id=str(data["id"]),
            task=str(data["task"]),
            prompt=str(data["prompt"]),
            target=str(data["target"]),
            metadata=dict(data.get("metadata") or {}),
            system=data.get("system"),
            choices=tuple(choices) if choices is not None else None,
        )


@dataclass(frozen=True)
class TaskTraits:
    """What analysis must know about a task to read its records, stored with them (the `tasks` table).

    A store explains itself: analysis takes the metric, its direction, the strata and the independent
    unit from here, so it never imports the task registry and reads tasks it has no code for (an
    Inspect log of a foreign task) the same way as its own. `source` says who declared them.
    """

    name: str
    version: str
    metric: str = "accuracy"  # accuracy | abs_error | matching_behavior | refusal | mean
    higher_is_better: bool = True
    strata: tuple[str, ...] = ()
    cluster: tuple[str, ...] = ()
    source: str = "overthink"  # overthink (a registered task) | inspect (an imported log) | ...

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "version": self.version, "metric": self.metric,
                           "higher_is_better": self.higher_is_better, "strata": list(self.strata),
                           "cluster": list(self.cluster), "source": self.source}, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> TaskTraits:
        data = json.loads(text)
        return TaskTraits(name=str(data["name"]), version=str(data.get("version", "")),
                          metric=str(data.get("metric", "accuracy")),
                          higher_is_better=bool(data.get("higher_is_better", True)),
                          strata=tuple(str(s) for s in data.get("strata", ())),
                          cluster=tuple(str(c) for c in data.get("cluster", ())),
                          source=str(data.get("source", "overthink")))


@dataclass(frozen=True)
class Usage:
    """Token usage of one completion, with the source of the reasoning count."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    reasoning_source: TokenSource = TokenSource.TOKENIZER
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Completion:
    """What a backend returns for one (sample, budget, seed).

    `reasoning` is the thinking text, `text` the answer text after thinking. Two token counts answer
    two questions (docs/strategies.md, "Compute"):

    * `total_generated` -- what did the sweep spend? Every token the backend generated for this
      completion, with the nested convention: a thinking prefix shared by nested budgets is
      attributed to the first (shortest) budget whose trace reaches it, each longer budget owning
      only the thinking since the previous one, so a group's totals add up to the real compute.
    * `compute()` -- what did this answer cost? The tokens a stand-alone run at this budget spends:
      realized thinking and answer tokens of every sample, probe answers, and the verifier's prompt
      and generated tokens; the generating model's prompt is not counted. Strategies that spend more
      than one trace set `compute_tokens`; a single chain of thought leaves it None (then it is its
      thinking plus its answer). It does not depend on whether budgets were nested.
    """

    text: str
    reasoning: str
    usage: Usage
    finish_reason: str
    wall_time_s: float = 0.0
    wait_insertions: int = 0
    answer_tokens: int = 0
    looping: bool = False
    total_generated: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)
    compute_tokens: int | None = None  # None: one chain of thought, see `compute()`
    samples: tuple[SampleAnswer, ...] = ()  # vote / best-of-n: every sample behind this record
    probes: tuple[ProbeAnswer, ...] = ()  # cot with --probe-every: answers forked off the trace before it

    def compute(self) -> int:
        """The tokens this answer cost alone (see the class docstring): the one definition of compute."""
        if self.compute_tokens is not None:
            return self.compute_tokens
        return self.usage.reasoning_tokens + self.answer_tokens


@dataclass(frozen=True)
class Score:
    """The scorer's verdict. `value` is the metric (1/0 for accuracy, absolute error for regression)."""

    value: float
    correct: bool | None
    extracted: str | None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleAnswer:
    """One of the k (vote) or n (best-of-n) samples behind a record, kept so every sample can be audited.

    The strategy fills what it saw (the answer text, the answer it compared, its tokens, the
    verifier's score and tokens); the run side adds the task scorer's `score` before the record is
    written. The store keeps these as child rows of the record (the `samples` table), read back by
    key, so a report never holds k answer texts per record in memory. `compute_tokens` is this
    sample's share of the record's `compute_tokens` (the shares add up to it exactly).
    """

    index: int
    seed: int
    text: str
    answer: str | None  # the extracted answer the strategy compared (None: none, an abstention)
    reasoning_tokens: int
    answer_tokens: int
    verifier_score: float | None = None  # best-of-n: the verifier's score of this candidate
    verifier_tokens: int = 0  # tokens the verifier read (its prompt) to judge this candidate
    verifier_generated: int = 0  # tokens the verifier generated to judge it
    score: Score | None = None  # the task scorer's verdict on `text` (set by the run side)

    @property
    def compute_tokens(self) -> int:
        """Thinking and answer tokens of the sample, plus the verifier's prompt and generated tokens."""
        return self.reasoning_tokens + self.answer_tokens + self.verifier_tokens + self.verifier_generated


@dataclass(frozen=True)
class ProbeAnswer:
    """An answer forked off a record's own trace after `at` thinking tokens (cot with --probe-every).

    Probes show *when* in the trace the answer was decided: the trace is the record's (one forced trace
    forked at the budgets and every M tokens), so the probes before a budget cost no extra thinking, only
    their answers. The run side adds the task scorer's `score` (refuse / comply, right / wrong) before the
    record is written; the store keeps probes as child rows of the record (the `probes` table).
    """

    at: int  # thinking tokens of the prefix the answer was forked at (< the record's budget)
    text: str
    answer: str | None  # the extracted answer (None: none)
    answer_tokens: int
    score: Score | None = None  # the task scorer's verdict on `text` (set by the run side)


class Status(str, Enum):
    OK = "ok"
    ERROR = "error"


@dataclass(frozen=True)
class WorkKey:
    """Identity of one unit of work; its hash is the store's primary key."""

    experiment: str
    model: str
    task: str
    task_version: str
    sample_id: str
    budget: str  # Budget.label
    mechanism: str
    strategy: str
    repeat: int

    def digest(self) -> str:
        """Content hash of the key fields: equal keys give equal hashes on every machine."""
        import hashlib

        text = "\x1f".join(str(getattr(self, name)) for name in self.__dataclass_fields__)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Record:
    """One immutable row of the store: the key, what was asked, what came back, and its score."""

    key: WorkKey
    seed: int
    status: Status
    budget_kind: str
    requested_tokens: int | None
    prompt: str
    target: str
    metadata: Mapping[str, Any]
    completion: Completion | None = None
    score: Score | None = None
    error: str | None = None
    created_at: float = 0.0
    error_kind: str | None = None  # FailureKind value of an error record (auth, server, ...), for the attempts log

@dataclass(frozen=True)
class BudgetRow:
    """One budget's row of the end-of-run table: computed by the read side (analysis/run_table.py),
    carried by the run's report (runner/outcome.py), printed by the CLI."""

    budget: str
    requested: int | None
    mean_realized: float
    metric: float
    low: float
    high: float
    n_items: int
    n_records: int
    looping: float
    errors: int
    by_group: dict[str, tuple[float, float, float, int]]
    censored: int = 0  # finished records whose trace never ended by itself (its length is the cap)
    pooled: bool = True  # False: `metric` over every item means nothing (refusal); only by_group counts


# ---- names and seeds shared by the run side (which writes them) and the read side (which parses them)

_SHOT_LABEL = re.compile(r"^(?P<base>.+)\+(?P<k>\d+)shot$")


def derive_seed(base_seed: int, model: str, task: str, task_version: str, sample_id: str, repeat: int) -> int:
    """The seed of one (item, repeat): a hash of its identity, so it does not depend on run order."""
    text = "\x1f".join(str(p) for p in (base_seed, model, task, task_version, sample_id, repeat))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def strategy_label(strategy: str, shots: int) -> str:
    """Recorded strategy name: "cot" for zero-shot, "cot+3shot" with three examples."""
    return strategy if shots == 0 else f"{strategy}+{shots}shot"


def parse_label(label: str) -> tuple[str, int]:
    """("cot", 3) from "cot+3shot"; ("cot", 0) from "cot"."""
    match = _SHOT_LABEL.match(label)
    return (match["base"], int(match["k"])) if match else (label, 0)
