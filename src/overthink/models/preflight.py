"""What preflight shares across backends: the SDK check, and turning one test request's failure into a verdict.

Preflight exists so that a sweep that cannot work fails before the store is created, with one line that
says what to fix, instead of filling the store with thousands of identical error rows. Only failures that
no waiting can heal stop it: a rejected key, an unknown model, a refused request, a server that is not
there, an SDK that is not installed. A busy or failing server (429, 5xx, a slow answer) is no proof the
sweep cannot work; it gives a warning and the sweep starts (the circuit breaker watches it from there).
"""

from __future__ import annotations

import importlib

import httpx

from overthink.models.base import BackendError, FailureKind, PreflightError
from overthink.models.retry import Malformed, Transient, classify_sdk
from overthink.models.secrets import scrub

PREFLIGHT_TIMEOUT = 30.0  # seconds for the test request (connecting: at most 10)


def require_sdk(module: str, extra: str, backend: str) -> None:
    """Import the provider SDK now, so a missing one is a one-line install hint rather than error rows."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise PreflightError(
            f'the {backend} backend needs the {module} SDK, which is not installed: pip install "overthink[{extra}]"',
            FailureKind.MISSING_SDK,
        ) from None


def one_line(text: str, limit: int = 240) -> str:
    """A scrubbed server message on one line, cut to `limit` characters."""
    flat = " ".join(scrub(text).split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def verdict(error: BaseException, *, where: str, model: str, key_hint: str) -> str:
    """The warning line for an inconclusive failure of the test request; raises PreflightError for the rest.

    `where` names the backend and server ("openai-compat m at http://..."); `key_hint` says where the key
    came from, or how to give one, for the message about a rejected key.
    """
    if isinstance(error, PreflightError):
        raise error
    if isinstance(error, httpx.ConnectTimeout):
        kind, detail = FailureKind.CONNECTION, "connection timed out"
    else:
        classified = classify_sdk(error)  # httpx errors and SDK errors alike, with their kind
        if isinstance(classified, (BackendError, Transient)):
            kind, detail = classified.kind, str(classified)
        elif isinstance(classified, Malformed):
            kind, detail = FailureKind.MALFORMED, str(classified)
        elif isinstance(classified, ImportError):
            kind, detail = FailureKind.MISSING_SDK, f"{type(classified).__name__}: {classified}"
        else:
            kind, detail = FailureKind.BACKEND, f"{type(classified).__name__}: {classified}"
    detail = one_line(detail)
    if kind is FailureKind.AUTH:
        raise PreflightError(f"{where}: the key was rejected ({detail}); {key_hint}", kind)
    if kind is FailureKind.NOT_FOUND:
        raise PreflightError(f"{where}: unknown model {model!r} ({detail}); check --model", kind)
    if kind is FailureKind.BAD_REQUEST:
        raise PreflightError(f"{where}: a 1-token test request was refused ({detail})", kind)
    if kind is FailureKind.CONNECTION:
        raise PreflightError(f"{where}: server unreachable ({detail}); is it running, and is the URL right?", kind)
    if kind is FailureKind.MISSING_SDK:
        raise PreflightError(f"{where}: {detail}", kind)
    return f"preflight: {where}: {detail}; starting anyway (the circuit breaker stops the sweep if this persists)"
