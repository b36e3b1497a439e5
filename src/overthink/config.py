"""Experiment configuration: pydantic models with extra="forbid", loaded from YAML/TOML or the CLI.

A typo in a config key is an error naming the key, never a silently ignored setting: a sweep that ran
with a default the user thought they had overridden is worse than one that did not run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import tomllib
import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from overthink.errors import UserError, first_problem
from overthink.models.generation import GenerationConfig
from overthink.models.llamacpp.gguf import DEFAULT_MODEL
from overthink.store import DEFAULT_MAX_ATTEMPTS

DEFAULT_STORE = "overthink-results.db"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskConfig(_Strict):
    name: str = "misleading_math"
    n: int = Field(default=16, ge=1)
    seed: int = 0
    params: dict[str, Any] = Field(default_factory=dict)
    samples: str | None = None  # JSONL of samples (from `tasks export` / `tasks import --out`) instead of generating


class ModelConfig(_Strict):
    backend: str = "llamacpp"
    name: str = DEFAULT_MODEL
    options: dict[str, Any] = Field(default_factory=dict)
    base_urls: list[str] = Field(default_factory=list)
    concurrency: int = Field(default=1, ge=1)


class JudgeConfig(ModelConfig):
    """The optional refusal judge (scoring/judge.py): a model like any other, with its own concurrency.

    Written as "BACKEND:MODEL" (e.g. llamacpp:tiny) or as a mapping. With no options and no base_urls of
    its own, it takes those of the run's first model of the same backend (the same server, the same
    n_ctx), so `--judge openai-compat:NAME --base-url URL` asks NAME on the run's server.
    """

    name: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        backend, sep, name = value.partition(":")
        if not sep or not backend.strip() or not name.strip():
            raise ValueError(f"judge {value!r} is not BACKEND:MODEL (e.g. llamacpp:tiny or openai-compat:NAME)")
        return {"backend": backend.strip(), "name": name.strip()}


class ExperimentConfig(_Strict):
    """One sweep: models x strategies x tasks x samples x budgets x repeats."""

    experiment: str = "default"
    tasks: list[TaskConfig] = Field(default_factory=lambda: [TaskConfig()])
    models: list[ModelConfig] = Field(default_factory=lambda: [ModelConfig()])
    mode: Literal["forced", "prompt", "native", "natural"] = "forced"
    budgets: list[str] = Field(default_factory=lambda: ["0", "64", "128"])
    strategy_budgets: dict[str, list[str]] = Field(default_factory=dict, description=(
        "budgets of one strategy instead of `budgets`, by strategy name: `strategy_budgets: {cot: [0, 64, 128, "
        "256, 512]}` gives chain of thought the longer budgets that reach the compute of vote@K or best-of-n "
        "(an equal-compute comparison needs CoT's compute range to cover the others')"))
    repeats: int = Field(default=1, ge=1)
    strategies: list[str] = Field(
        default_factory=lambda: ["cot"], min_length=1,
        validation_alias=AliasChoices("strategies", "strategy"),
        description="how compute is spent per item, each its own curve in one store: cot, vote@K, best-of-n@N, "
                    "scheduler@M,S (YAML `strategy: cot` or `strategies: [cot, vote@5]`; --strategy, repeatable)")
    # Sampling: None leaves a setting to the backend's default (models/generation.py DEFAULT_SAMPLING for
    # the backends that decode themselves); `generation()` hands them on as one GenerationConfig.
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="0 = greedy")
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, description="nucleus sampling mass")
    top_k: int | None = Field(default=None, ge=0, description="most likely tokens kept; 0 = all")
    max_answer_tokens: int | None = Field(default=None, ge=1, description="tokens for the answer after thinking")
    natural_cap: int | None = Field(default=None, ge=1, description="thinking cap when no budget limits it")
    shots: int = Field(default=0, ge=0)
    probe_every: int | None = Field(default=None, ge=1, description=(
        "fork an answer off cot's trace every M thinking tokens up to each budget (--probe-every; records "
        "as cot+probes@M, probes in the store's `probes` table; embedded or openai-compat, --mode forced)"))
    seed: int = 0
    store: str = DEFAULT_STORE
    max_cost: float | None = Field(default=None, ge=0.0)
    max_tokens: int | None = Field(default=None, ge=1)
    stop_after_failures: int = Field(default=20, ge=1, description="circuit breaker: the smallest window of "
                                     "records it reads; the sweep stops when 95% of the last max(this, 2 x "
                                     "records in flight) records failed (auth failures stop at once)")
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, description="attempts an item gets over every "
                              "run of the sweep (--max-attempts); a re-run retries failed items until they "
                              "have used them. A backend's own max_attempts option is HTTP retries inside "
                              "one request, counted before the item is stored as an error")
    shard: str | None = Field(default=None, description="K/N: run only shard K of N of the work groups")
    judge: JudgeConfig | None = Field(default=None, description="BACKEND:MODEL asked the refusal rubric for "
                                      "every refusal record, beside the rules (scoring/judge.py)")
    verifiers: dict[str, dict[str, Any]] = Field(default_factory=dict, description=(
        "options of the verifiers best-of-n strategies name, by verifier: `verifiers: {prm: {base_urls: "
        "[http://HOST:8001/v1], aggregate: last}}` for `best-of-n@4,prm` (--verifier-option prm.KEY=VALUE; "
        "`overthink verifiers NAME` lists each verifier's options)"))

    def generation(self) -> GenerationConfig:
        """The sampling settings of this sweep (unset fields stay None: the backend decides)."""
        return GenerationConfig(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                                max_answer_tokens=self.max_answer_tokens, natural_cap=self.natural_cap)

    def shard_part(self) -> tuple[int, int] | None:
        """`shard` as (k, n), None for the whole sweep; a malformed K/N is a UserError saying what is expected."""
        return parse_shard(self.shard) if self.shard is not None else None

    @field_validator("strategies", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, str):  # one name; not split at commas, which scheduler@M,S uses itself
            return [value.strip()]
        return value

    @field_validator("strategies")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"strategies {value} name one strategy twice")
        return value

    @field_validator("budgets", mode="before")
    @classmethod
    def _split_budgets(cls, value: Any) -> Any:
        return _budget_list(value)

    @field_validator("strategy_budgets", mode="before")
    @classmethod
    def _split_strategy_budgets(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _budget_list(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _budgets_of_run_strategies(self) -> ExperimentConfig:
        """Budgets for a strategy the run does not have are a mistake (a typo would silently do nothing)."""
        unknown = [name for name in self.strategy_budgets if name not in self.strategies]
        if unknown:
            raise ValueError(f"strategy_budgets names {', '.join(unknown)}, which this run does not have "
                             f"(its strategies: {', '.join(self.strategies)})")
        return self

    def budgets_of(self, strategy: str) -> list[str]:
        """The budgets a strategy sweeps: its own `strategy_budgets` entry, else the run's `budgets`."""
        return self.strategy_budgets.get(strategy, self.budgets)


def _budget_list(value: Any) -> Any:
    """Budgets as the config may write them: "0,64,128" or a list of numbers / strings."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return value


def load_config(path: str | Path | None) -> ExperimentConfig:
    """Read a YAML or TOML config file; a missing file or bad key is a UserError naming it."""
    if path is None:
        return ExperimentConfig()
    file = Path(path)
    if not file.is_file():
        raise UserError(f"config file {file} not found")
    try:
        text = file.read_text(encoding="utf-8")
        data = tomllib.loads(text) if file.suffix == ".toml" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read config {file}: {str(exc).splitlines()[0]}") from None
    return validate_config(data or {}, source=str(file))


def validate_config(data: dict[str, Any], source: str = "config") -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        where, what = first_problem(exc)
        raise UserError(f"{source}: {where}: {what}") from None


def parse_shard(text: str) -> tuple[int, int]:
    """`"K/N"` (as typed after --shard) as (k, n); anything else is a UserError saying what is expected."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise UserError(f"--shard {text!r}: expected K/N, e.g. 1/4 for the first of four shards")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise UserError(f"--shard {text}: K must be between 1 and N (shards are numbered 1..N)")
    return k, n
