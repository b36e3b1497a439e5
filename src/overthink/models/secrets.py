"""Secret hygiene: API keys come only from the environment or a key file, and `scrub` removes them.

Every message that could leave the process (stored error records, logs, reports) passes through
`scrub`, which removes every key loaded so far and anything shaped like a common API key. The runner
scrubs stored error messages with the same function, so there is one place that knows what a secret is.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from overthink.errors import UserError

_SECRETS: set[str] = set()
# Shapes of common API keys, scrubbed even when they were never loaded through `api_key`.
_KEY_SHAPES = re.compile(r"\b(sk-ant-[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{16,})")


def register_secret(value: str) -> None:
    """Remember a secret so `scrub` removes it from anything shown to the user."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def scrub(text: str) -> str:
    """`text` with every loaded secret and anything shaped like an API key replaced by '***'."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _KEY_SHAPES.sub("***", text)


def api_key(env_var: str | None, key_file: str | None = None, *, required: bool = True) -> str | None:
    """The API key from a key file (first line) or an environment variable; never from the command line.

    A missing key is a UserError naming where to put it, and never echoes any part of a key.
    """
    value: str | None = None
    if key_file:
        path = Path(key_file).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, IndexError, UnicodeDecodeError):
            raise UserError(f"cannot read the API key file {path}; it must hold the key on its first line") from None
    elif env_var:
        value = os.environ.get(env_var, "").strip() or None
    if value:
        register_secret(value)
        return value
    if required:
        where = f"the environment variable {env_var}" if env_var else "a key file (option key_file)"
        raise UserError(f"no API key found; set {where}")
    return None
