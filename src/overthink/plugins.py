"""The open registry's hooks: what a backend, a strategy or a verifier registers, and the entry points.

A plugin is a distribution that declares an entry point in one of `GROUPS`; the entry point names a
function taking no arguments that calls `register_backend`, `register_strategy` or `register_verifier`.
The built-ins (overthink/builtin_plugins.py) register through exactly these hooks, so a plugin's backend
is a first-class one: listed, documented by `overthink models options`, refused up front when it lacks a
capability. The built-ins are registered on import; entry points are read once, the first time a name
is looked up (`load_entry_points`), so commands that never resolve a name never scan the environment.

Every entry declares its options as a pydantic model (extra="forbid", every field described): that
model is what validates a config's `options:`, and what `overthink models options` prints. A backend's
model may be given as a function returning it, because importing it can import an optional SDK or the
llama.cpp engine, which listing the backends must not do.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel

from overthink.errors import UserError

if TYPE_CHECKING:
    from overthink.models.base import Backend
    from overthink.strategies.base import Strategy
    from overthink.strategies.verifiers import Verifier

__all__ = [
    "BACKENDS", "GROUPS", "STRATEGIES", "VERIFIERS", "BackendEntry", "BuildContext", "StrategyEntry", "VerifierEntry",
    "load_entry_points", "register_backend", "register_strategy", "register_verifier",
]

GROUPS = ("overthink.backends", "overthink.strategies", "overthink.verifiers")

# (model name, **validated-by-the-factory options) -> a backend
BackendFactory = Callable[..., "Backend"]
OptionsSource = type[BaseModel] | Callable[[], type[BaseModel]]


class BuildContext(Protocol):
    """What a strategy or verifier factory may ask of the edge that builds it: a backend, a verifier.

    `backend` resolves the name now (an unknown backend is a UserError before anything runs) and returns
    a loader that builds it on first call, once: a judge model is loaded only if a sweep needs it.
    `options` are the backend's own (e.g. the judge's `base_urls`); None lets the edge choose (a run
    model's of the same backend). `verifier` is the registered verifier of that name built with the
    options the run configured for it (`verifiers:` in a config, `--verifier-option NAME.KEY=VALUE`),
    once per run; None when no verifier has that name."""

    def backend(self, backend: str, model: str, options: dict[str, Any] | None = None) -> Callable[[], Backend]: ...

    def verifier(self, name: str) -> Verifier | None: ...


StrategyFactory = Callable[[BaseModel, BuildContext], "Strategy"]
VerifierFactory = Callable[[BaseModel, BuildContext], "Verifier"]


@dataclass(frozen=True)
class BackendEntry:
    name: str
    factory: BackendFactory
    options: OptionsSource
    help: str = ""

    def options_model(self) -> type[BaseModel]:
        """The options model, importing its module only now (SDK backends are extras)."""
        source = self.options
        if isinstance(source, type):
            return source
        return source()


@dataclass(frozen=True)
class StrategyEntry:
    name: str
    factory: StrategyFactory
    options_model: type[BaseModel]
    help: str = ""


@dataclass(frozen=True)
class VerifierEntry:
    name: str
    factory: VerifierFactory
    options_model: type[BaseModel]
    help: str = ""


BACKENDS: dict[str, BackendEntry] = {}
STRATEGIES: dict[str, StrategyEntry] = {}
VERIFIERS: dict[str, VerifierEntry] = {}
E = TypeVar("E", BackendEntry, StrategyEntry, VerifierEntry)
_loaded: set[str] = set()  # entry points already called ("group:value"), so a re-scan calls none twice


def _add(table: dict[str, E], kind: str, entry: E) -> None:
    """A name is registered once: a second registration with another factory is refused, never silent
    (registering the same factory again is a no-op: the built-ins are also declared as entry points)."""
    name = entry.name
    if not name or "@" in name or ":" in name or "," in name:
        raise UserError(f"{kind} name {name!r}: must be non-empty, without '@', ':' or ','")
    old = table.get(name)
    if old is not None and old.factory is not entry.factory:
        raise UserError(f"{kind} {name!r} is registered twice (a plugin may not replace a registered {kind})")
    table[name] = entry


def register_backend(name: str, factory: BackendFactory, options_model: OptionsSource, help: str = "") -> None:
    """Make `name` a backend: `factory(model, **options)` builds it; `options_model` validates options."""
    _add(BACKENDS, "backend", BackendEntry(name, factory, options_model, help))


def register_strategy(name: str, factory: StrategyFactory, options_model: type[BaseModel], help: str = "") -> None:
    """Make `name` a strategy: "name@a,b" fills the fields of `options_model` in order (or "name@k=v,...")."""
    _add(STRATEGIES, "strategy", StrategyEntry(name, factory, options_model, help))


def register_verifier(name: str, factory: VerifierFactory, options_model: type[BaseModel], help: str = "") -> None:
    """Make `name` a verifier best-of-n can rerank with ("best-of-n@4,name"); `options_model` validates the
    options a run gives it (`verifiers: {name: {...}}`), which `overthink verifiers NAME` lists."""
    _add(VERIFIERS, "verifier", VerifierEntry(name, factory, options_model, help))


def load_entry_points() -> None:
    """Call every plugin's registration function once; a broken plugin is a UserError naming it."""
    for group in GROUPS:
        for point in importlib.metadata.entry_points(group=group):
            key = f"{group}:{point.value}"
            if key in _loaded:
                continue
            _loaded.add(key)
            try:
                hook = point.load()
                hook()
            except UserError:
                raise
            except Exception as exc:
                where = f"{point.dist.name} " if point.dist is not None else ""
                raise UserError(f"plugin {where}entry point {point.name} = {point.value} ({group}) failed: "
                                f"{type(exc).__name__}: {exc}") from None
