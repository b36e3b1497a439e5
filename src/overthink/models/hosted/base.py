"""What the hosted-API backends (Anthropic, OpenAI) share: prompts, the SDK retry wrapper, estimates.

Native reasoning happens in the provider's own channel, so a native request asks only for the answer
format; asking for `<think>` tags as well would make the model think twice, once where we cannot see
it and once in the visible text. `prompt` budgets use the shared wording of prompting.py unchanged.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from overthink.models.base import GenerationRequest
from overthink.models.http import AttemptLog, RetryPolicy, classify_sdk, with_retries
from overthink.models.prompting import NO_THINKING_INSTRUCTION, chat_messages, user_prompt
from overthink.types import Mechanism

T = TypeVar("T")
CHARS_PER_TOKEN = 4.0  # the usual English average; used only for values recorded as `estimate`


def messages_for(request: GenerationRequest) -> tuple[str, str]:
    """(system, user) texts for a request: format-only for native budgets, the shared wording otherwise."""
    budget = request.budget
    if budget.mechanism is Mechanism.NATIVE:
        parts = [request.sample.system] if request.sample.system else []
        parts.append(NO_THINKING_INSTRUCTION)
        return "\n\n".join(parts), user_prompt(request.sample, request.shots)
    system, user = chat_messages(request.sample, budget, request.shots)
    return system["content"], user["content"]


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def split_think(text: str) -> tuple[str, str]:
    """(reasoning, answer) from visible text that may hold a <think>…</think> block (prompt budgets)."""
    if "</think>" not in text:
        return "", text
    head, _, tail = text.partition("</think>")
    return head.replace("<think>", "", 1).strip("\n"), tail.lstrip("\n")


class SdkCaller:
    """Runs SDK calls under the shared retry policy (the SDKs' own retries are switched off)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.attempts = AttemptLog()

    async def __call__(self, operation: Callable[[], Awaitable[T]]) -> T:
        return await with_retries(operation, self.policy, classify=classify_sdk, attempts=self.attempts)


def as_dict(value: Any) -> dict[str, Any]:
    """A pydantic SDK object or a plain dict as a plain dict (batch results arrive as either)."""
    if isinstance(value, dict):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        result = dump(mode="json")
        if isinstance(result, dict):
            return result
    raise TypeError(f"cannot read {type(value).__name__} as a response object")


class HostedOptions(BaseModel):
    """Settings every hosted SDK backend takes; each backend adds its own and names its key variable."""

    model_config = ConfigDict(extra="forbid")

    api_key_env: str = ""
    key_file: str | None = None
    base_url: str | None = None
    base_urls: list[str] = Field(default_factory=list)  # accepted from --base-url; the first is used
    batch: bool = False
    batch_state: str | None = None
    poll_interval: float = Field(default=30.0, gt=0)
    batch_window: float = Field(default=2.0, ge=0)  # seconds to gather requests into one batch
    timeout: float = Field(default=600.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    price_file: str | None = None


class LoopBoundClient:
    """An SDK client per running event loop, created on first use: the runner may use one loop per task
    and closes the backend between them, and an async client must not outlive its loop. Retries are ours
    (`SdkCaller`), so the SDK's own are off."""

    def __init__(self, factory: Callable[..., Any], options: HostedOptions, api_key: str | None,
                 http_client: Any = None) -> None:
        self._factory = factory
        self._args: dict[str, Any] = {
            "api_key": api_key,
            "base_url": options.base_url or (options.base_urls[0] if options.base_urls else None),
            "max_retries": 0,
            "timeout": options.timeout,
            "http_client": http_client,
        }
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = self._factory(**self._args)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.close()
