"""The one sampling/generation settings type, used by config files, the command line and every backend.

`GenerationConfig` says what the user asked for; a field left at None means "the backend's default".
Layers combine with `merge` (the later layer's set fields win: defaults < config file < command line),
and a backend that decodes itself calls `resolve()` to get the concrete `Sampling` it runs with.

The defaults (`DEFAULT_SAMPLING`) are the ones every stored sweep has used so far, because the command
line always filled them in from config.py: T=0.6 and top-p 0.95 (the paper's decoding for open-weight
models), top-k 40 (llama.cpp's default), 32 answer tokens (an answer is a tag around a number, a letter
or a word: the longest target of the bundled tasks is six characters, "refuse") and a natural cap of
1024 thinking tokens (a hard stop for traces no budget limits: the embedded 1.5B model on two cores
needs about 80 s for 1024 tokens, and docs/benchmarks.md measured the default sweep with it). The
dataclass defaults of an earlier SamplingParams (48 answer tokens, natural cap 2048) were never what
a sweep ran with; they only reached code that built a request by hand.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Sampling:
    """Concrete decoding settings a backend runs with (every field set)."""

    temperature: float
    top_p: float
    top_k: int
    max_answer_tokens: int
    natural_cap: int


DEFAULT_SAMPLING = Sampling(temperature=0.6, top_p=0.95, top_k=40, max_answer_tokens=32, natural_cap=1024)


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling and length settings of a sweep; None leaves a field to the backend's default."""

    temperature: float | None = None
    """Softmax temperature; 0 means greedy decoding (deterministic)."""
    top_p: float | None = None
    """Nucleus sampling: keep the smallest set of tokens whose probability adds up to top_p."""
    top_k: int | None = None
    """Keep only the k most likely tokens before top-p; 0 disables the cut."""
    max_answer_tokens: int | None = None
    """Tokens allowed for the answer after thinking ends (the `<answer>...</answer>` part)."""
    natural_cap: int | None = None
    """Hard cap on thinking tokens when no budget limits them (natural and prompt budgets)."""

    def merge(self, other: GenerationConfig) -> GenerationConfig:
        """This config with every field `other` sets replacing ours (later layers win)."""
        changes = {f.name: getattr(other, f.name) for f in dataclasses.fields(other)}
        changes = {name: value for name, value in changes.items() if value is not None}
        return dataclasses.replace(self, **changes)

    def resolve(self, defaults: Sampling = DEFAULT_SAMPLING) -> Sampling:
        """The concrete settings: our set fields, `defaults` for the rest."""
        return Sampling(
            temperature=defaults.temperature if self.temperature is None else self.temperature,
            top_p=defaults.top_p if self.top_p is None else self.top_p,
            top_k=defaults.top_k if self.top_k is None else self.top_k,
            max_answer_tokens=defaults.max_answer_tokens if self.max_answer_tokens is None else self.max_answer_tokens,
            natural_cap=defaults.natural_cap if self.natural_cap is None else self.natural_cap,
        )

    @classmethod
    def from_sampling(cls, sampling: Sampling) -> GenerationConfig:
        return cls(**dataclasses.asdict(sampling))
