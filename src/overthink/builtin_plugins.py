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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from overthink.errors import UserError
from overthink.models.base import Backend
from overthink.models.capabilities import StepScorer
from overthink.plugins import VERIFIERS, BuildContext, register_backend, register_strategy, register_verifier
from overthink.strategies.base import CotStrategy, Strategy
from overthink.strategies.verifiers import StepJudge, Verifier

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
    if judge is not None and judge in VERIFIERS:
        entry = VERIFIERS[judge]
        return BestOfNStrategy(chosen.n, verifier=entry.factory(entry.options_model(), ctx), judge_model=judge)
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


class StepJudgeOptions(_Options):
    backend: str = Field(default=EMBEDDED, description="the judge's backend; it must score steps")
    model: str = Field(default="tiny", description="the judge model's name")


def _step_judge(options: BaseModel, ctx: BuildContext) -> Verifier:
    chosen = cast(StepJudgeOptions, options)
    spec = f"{chosen.backend}:{chosen.model}"
    return StepJudge(step_scorer(ctx.backend(chosen.backend, chosen.model), spec))


def register_verifiers() -> None:
    """The built-in verifiers (entry point `overthink.verifiers: builtin`)."""
    register_verifier("step-judge", _step_judge, StepJudgeOptions,
                      "process reward model from P(Yes) of a step-scoring model (tiny)")


def register_all() -> None:
    register_backends()
    register_strategies()
    register_verifiers()
