"""overthink's own backends, strategies and verifiers, registered through the hooks a plugin calls.

Nothing here is special: each `register_*` function is what a plugin's entry point names, and
pyproject.toml declares these three as entry points too (the registry also calls them directly, so an
install whose metadata predates them still has its built-ins). Backend modules are imported only when
a backend is built or its options are asked for: the SDK backends are extras, and the embedded engine
is slow to import.

The strategies' options models live here, next to their registration: "vote@5" fills `VoteOptions.k`,
"scheduler@32,2" fills `every` then `agree`, and "best-of-n@4,JUDGE" names the judge: a registered
verifier, or the `[BACKEND:]MODEL` of a step judge built through the backend registry (any backend with
the `StepScorer` capability; a bare name is an embedded llama.cpp model, as before).

The verifiers: `step-judge` (the built-in P(Yes) judge on a named model of any step-scoring backend)
and `prm` (a process reward model served over HTTP, models/remote/reward.py). Their options are set per
run (`verifiers: {prm: {base_urls: ..., aggregate: last}}` in a config, or `--verifier-option
prm.aggregate=last`) and listed by `overthink verifiers NAME`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from overthink.errors import UserError
from overthink.models.base import Backend
from overthink.models.capabilities import StepScorer, StepScores
from overthink.plugins import BuildContext, register_backend, register_strategy, register_verifier
from overthink.strategies.base import CotStrategy, Strategy
from overthink.strategies.verifiers import Aggregation, StepJudge, Verifier

EMBEDDED = "llamacpp"  # the backend of a judge named without one ("best-of-n@4,tiny")


def _llamacpp(model: str, **options: object) -> Backend:
    from overthink.models.llamacpp.backend import LlamaCppBackend

    return LlamaCppBackend.from_model_name(model, **options)


def _llamacpp_options() -> type[BaseModel]:
    from overthink.models.llamacpp.backend import LlamaCppOptions

    return LlamaCppOptions


def _openai_compat(model: str, **options: object) -> Backend:
    from overthink.models.remote.openai_compat import OpenAICompatBackend

    return OpenAICompatBackend.from_options(model, **options)


def _openai_compat_options() -> type[BaseModel]:
    from overthink.models.remote.openai_compat import OpenAICompatOptions

    return OpenAICompatOptions


def _anthropic(model: str, **options: object) -> Backend:
    from overthink.models.hosted.anthropic import AnthropicBackend

    return AnthropicBackend.from_options(model, **options)


def _anthropic_options() -> type[BaseModel]:
    from overthink.models.hosted.anthropic import AnthropicOptions

    return AnthropicOptions


def _openai(model: str, **options: object) -> Backend:
    from overthink.models.hosted.openai import OpenAIBackend

    return OpenAIBackend.from_options(model, **options)


def _openai_options() -> type[BaseModel]:
    from overthink.models.hosted.openai import OpenAIOptions

    return OpenAIOptions


def _scripted(model: str, **options: object) -> Backend:
    from overthink.models.scripted import ScriptedBackend

    return ScriptedBackend.from_options(model, **options)


def _scripted_options() -> type[BaseModel]:
    from overthink.models.scripted import ScriptedOptions

    return ScriptedOptions


def register_backends() -> None:
    """The built-in backends (entry point `overthink.backends: builtin`)."""
    register_backend("llamacpp", _llamacpp, _llamacpp_options, "the embedded llama.cpp engine (exact forcing)")
    register_backend("scripted", _scripted, _scripted_options, "deterministic test/dry-run backend")
    register_backend("openai-compat", _openai_compat, _openai_compat_options, "an OpenAI-compatible server")
    register_backend("anthropic", _anthropic, _anthropic_options, "Anthropic's API (extra: anthropic)")
    register_backend("openai", _openai, _openai_options, "OpenAI's API (extra: openai)")


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CotOptions(_Options):
    """`cot` takes no parameter: one chain of thought per budget."""


class VoteOptions(_Options):
    k: int = Field(ge=1, description="samples per budget; the most common answer is the record (vote@5)")


class BestOfNOptions(_Options):
    n: int = Field(ge=1, description="candidates per budget, reranked by the verifier (best-of-n@4)")
    judge: str | None = Field(default=None, description=(
        "a registered verifier, or [BACKEND:]MODEL of a step judge (a bare name is an embedded model); "
        "default: the generating model when it scores steps, else the default embedded model"))


class SchedulerOptions(_Options):
    every: int = Field(default=64, ge=1, description="probe the answer every this many thinking tokens")
    agree: int = Field(default=3, ge=1, description="stop when this many probes in a row agree")

    @model_validator(mode="after")
    def _both_or_neither(self) -> SchedulerOptions:
        if len(self.model_fields_set) == 1:  # "scheduler@32": the second number was forgotten, not defaulted
            raise ValueError("expected two numbers M,S (probe every M tokens, stop when S agree)")
        return self


class SettleOptions(_Options):
    every: int = Field(ge=1, description="probe the answer every this many thinking tokens")
    window: int = Field(ge=1, description="probes per window: the last `window` are compared with the ones before")
    tolerance: float = Field(ge=0.0, lt=1.0, description="stop when the two windows' answer distributions are "
                             "within this total variation distance (0 = identical)")


def _settle(options: BaseModel, ctx: BuildContext) -> Strategy:
    from overthink.strategies.scheduler import SchedulerStrategy

    chosen = cast(SettleOptions, options)
    return SchedulerStrategy(chosen.every, chosen.window, tolerance=chosen.tolerance)


def _cot(options: BaseModel, ctx: BuildContext) -> Strategy:
    return CotStrategy()


def _vote(options: BaseModel, ctx: BuildContext) -> Strategy:
    from overthink.strategies.vote import VoteStrategy

    return VoteStrategy(cast(VoteOptions, options).k)


def _scheduler(options: BaseModel, ctx: BuildContext) -> Strategy:
    from overthink.strategies.scheduler import SchedulerStrategy

    chosen = cast(SchedulerOptions, options)
    return SchedulerStrategy(chosen.every, chosen.agree)


def step_scorer(load: Callable[[], Backend], judge: str) -> StepScorer:
    """The judge's backend, refused unless it has the StepScorer capability."""
    backend = load()
    if not isinstance(backend, StepScorer):
        raise UserError(f"best-of-n judge {judge!r}: {backend.model_id} cannot score steps "
                        "(llamacpp and openai-compat can; or name a registered verifier)")
    return backend


def _best_of_n(options: BaseModel, ctx: BuildContext) -> Strategy:
    from overthink.models.llamacpp.gguf import DEFAULT_MODEL
    from overthink.strategies.best_of_n import BestOfNStrategy

    chosen = cast(BestOfNOptions, options)
    judge = chosen.judge
    verifier = ctx.verifier(judge) if judge is not None and ":" not in judge else None
    if verifier is not None:
        return BestOfNStrategy(chosen.n, verifier=verifier, judge_model=judge)
    backend, sep, model = (judge or "").partition(":")
    if not sep:
        backend, model = EMBEDDED, judge or DEFAULT_MODEL
    load = ctx.backend(backend, model)  # the name is resolved now; the model is loaded only if asked
    return BestOfNStrategy(chosen.n, judge_model=judge,
                           load_judge=lambda _name: step_scorer(load, judge or model))


def register_strategies() -> None:
    """The built-in strategies (entry point `overthink.strategies: builtin`)."""
    register_strategy("cot", _cot, CotOptions, "one chain of thought per budget")
    register_strategy("vote", _vote, VoteOptions, "vote@k: majority of k samples per budget")
    register_strategy("best-of-n", _best_of_n, BestOfNOptions, "best-of-n@n[,judge]: n samples reranked")
    register_strategy("scheduler", _scheduler, SchedulerOptions,
                      "scheduler@m,s: probe every m tokens, stop when s probes agree")
    register_strategy("settle", _settle, SettleOptions,
                      "settle@m,s,eps: probe every m tokens, stop when the answer distribution of the last s "
                      "probes is within eps of the s before")


AGGREGATE = ("how step scores become the candidate's score: min (its weakest step), last (its final "
             "step), product (every step right)")


class StepJudgeOptions(_Options):
    backend: str = Field(default=EMBEDDED, description="the judge's backend; it must score steps (llamacpp, "
                         "openai-compat)")
    model: str = Field(default="tiny", description="the judge model's name")
    options: dict[str, Any] | None = Field(default=None, description=(
        "the judge backend's options, e.g. {base_urls: [http://HOST:PORT/v1]} (overthink models options "
        "BACKEND); default: those of the run's model of the same backend (an embedded judge takes none)"))
    aggregate: Aggregation = Field(default="min", description=AGGREGATE)


class LoadedScorer:
    """The judge's step scorer, its backend built on first use: a judge model is loaded only when a sweep
    judges (and after the run's own models, so a judge naming one of them reuses it)."""

    def __init__(self, load: Callable[[], Backend], spec: str, model: str) -> None:
        self._load, self._spec, self._model = load, spec, model

    @property
    def model_id(self) -> str:
        return self._model

    async def score_steps(self, messages: list[dict[str, str]], placeholder: str, steps: Sequence[str]) -> StepScores:
        return await step_scorer(self._load, self._spec).score_steps(messages, placeholder, steps)


def _step_judge(options: BaseModel, ctx: BuildContext) -> Verifier:
    chosen = cast(StepJudgeOptions, options)
    load = ctx.backend(chosen.backend, chosen.model, chosen.options)  # the backend's name is checked now
    return StepJudge(LoadedScorer(load, f"{chosen.backend}:{chosen.model}", chosen.model), chosen.aggregate)


QWEN_PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


class PRMOptions(_Options):
    """A process reward model served over HTTP (vLLM's Pooling API; models/remote/reward.py)."""

    base_urls: list[str] = Field(min_length=1, description=(
        "the PRM server's URL(s), e.g. http://HOST:8001/v1 (the pooling endpoint is at the server root); "
        "several are replicas used round-robin"))
    model: str | None = Field(default=None, description="the served PRM's name (default: the server's only "
                              "model), e.g. Qwen/Qwen2.5-Math-PRM-7B")
    aggregate: Aggregation = Field(default="min", description=AGGREGATE)
    step_separator: str = Field(default="<extra_0>", description="the token the PRM scores after each step "
                                "(Qwen2.5-Math-PRM: <extra_0>)")
    positive_index: int = Field(default=1, ge=0, description="which class of each step's probability vector "
                                "means 'correct' (Qwen2.5-Math-PRM: 1)")
    system_prompt: str | None = Field(default=QWEN_PRM_SYSTEM, description=(
        "the system message of the chat the PRM reads (Qwen2.5-Math-PRM's own by default; null: none)"))
    task: str | None = Field(default="token_classify", description=(
        "the Pooling API's task field (vLLM >= 0.11 asks for token_classify; null: not sent)"))
    endpoint: str = Field(default="/pooling", description="path of the pooling endpoint at the server root")
    api_key_env: str | None = Field(default="OVERTHINK_PRM_API_KEY", description=(
        "environment variable holding the PRM server's key (optional; never put a key in a config)"))
    key_file: str | None = Field(default=None, description="file whose first line is the key (instead of the env)")
    timeout: float = Field(default=600.0, gt=0, description="seconds per request")
    max_attempts: int = Field(default=6, ge=1, description=(
        "HTTP attempts per request within one run before the record is stored as an error (re-runs retry it)"))

    @field_validator("base_urls", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def _prm(options: BaseModel, ctx: BuildContext) -> Verifier:
    from overthink.models.remote.reward import PoolingRewardModel
    from overthink.strategies.process_reward import ProcessRewardVerifier

    chosen = cast(PRMOptions, options)
    served = PoolingRewardModel(
        chosen.base_urls, model=chosen.model, endpoint=chosen.endpoint, task=chosen.task,
        step_separator=chosen.step_separator, system_prompt=chosen.system_prompt,
        positive_index=chosen.positive_index, api_key_env=chosen.api_key_env, key_file=chosen.key_file,
        timeout=chosen.timeout, max_attempts=chosen.max_attempts)
    return ProcessRewardVerifier(served, chosen.aggregate)


def register_verifiers() -> None:
    """The built-in verifiers (entry point `overthink.verifiers: builtin`)."""
    register_verifier("step-judge", _step_judge, StepJudgeOptions,
                      "process reward model from P(Yes) of a step-scoring model (tiny)")
    register_verifier("prm", _prm, PRMOptions,
                      "a process reward model served over HTTP (vLLM /pooling, e.g. Qwen2.5-Math-PRM)")


def register_all() -> None:
    register_backends()
    register_strategies()
    register_verifiers()
