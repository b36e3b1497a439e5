"""What the hosted-API backends (Anthropic, OpenAI) share: `HostedBackend` (SDK client per event loop,
retries, prices, the batch queue, `generate` and `generate_nested`), prompts and estimates.

Native reasoning happens in the provider's own channel, so a native request asks only for the answer
format; asking for `<think>` tags as well would make the model think twice, once where we cannot see
it and once in the visible text. The rendered prompt (models/prompt.py) carries both chats.
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from overthink.errors import UserError
from overthink.models.base import Backend, GenerationRequest, per_budget, settle
from overthink.models.hosted.batches import DEFAULT_STATE_FILE, BatchApi, BatchOutcome, BatchQueue, BatchState
from overthink.models.preflight import PREFLIGHT_TIMEOUT, require_sdk, verdict
from overthink.models.pricing import PriceTable
from overthink.models.retry import AttemptLog, RetryPolicy, classify_sdk, with_retries
from overthink.models.secrets import api_key
from overthink.types import Budget, Completion, Mechanism

T = TypeVar("T")
CHARS_PER_TOKEN = 4.0  # the usual English average; used only for values recorded as `estimate`


def messages_for(request: GenerationRequest) -> tuple[str, list[dict[str, str]]]:
    """(system text, other messages) of a request: format-only for native budgets, the full format otherwise."""
    native = request.budget.mechanism is Mechanism.NATIVE
    return request.prompt.system_and_turns(request.budget, answer_only=native)


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

    api_key_env: str = Field(default="", description="environment variable holding the API key")
    key_file: str | None = Field(default=None, description="file whose first line is the key (instead of the env)")
    base_url: str | None = Field(default=None, description="API base URL (a proxy or gateway); default: the SDK's")
    base_urls: list[str] = Field(default_factory=list, description="accepted from --base-url; the first is used")
    batch: bool = Field(default=False, description="send requests through the provider's batch API (cheaper, slow)")
    batch_state: str | None = Field(default=None, description="file that remembers submitted batches across runs")
    poll_interval: float = Field(default=30.0, gt=0, description="seconds between batch status checks")
    batch_window: float = Field(default=2.0, ge=0, description="seconds to gather requests into one batch")
    timeout: float = Field(default=600.0, gt=0, description="seconds per request")
    max_attempts: int = Field(default=6, ge=1, description="HTTP attempts per request "
                              "within one run (retries with backoff) before the item is stored as an "
                              "error; not --max-attempts, which counts an item's stored failures over re-runs")
    price_file: str | None = Field(default=None, description="TOML/JSON price table (default: the bundled one)")


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


OptionsT = TypeVar("OptionsT", bound=HostedOptions)


class HostedBackend(Backend, Generic[OptionsT]):
    """One hosted model: its SDK client, retry policy, prices and (with `batch`) the batch queue.

    A subclass says how to build the request (`request_params`), send it (`_create`) and read the
    answer (`parse`), and how to talk to its batch API; sending, batching and `generate_nested` are here.
    """

    sdk: ClassVar[str]  # the SDK module, which is also the name of its extra ("openai", "anthropic")

    def __init__(self, model: str, options: OptionsT, sdk: Callable[..., Any], *, http_client: Any = None) -> None:
        require_sdk(self.sdk, self.sdk, self.sdk)  # before the key: installing the SDK is the first step
        self._model_id = model
        self.options = options
        self._sdk = LoopBoundClient(sdk, options, api_key(options.api_key_env, options.key_file), http_client)
        self.call = SdkCaller(RetryPolicy(max_attempts=options.max_attempts, timeout=options.timeout))
        self.prices = PriceTable.load(options.price_file)
        self.queue: BatchQueue | None = None
        if options.batch:
            api = BatchApi(self._submit_batch, self._batch_status, self._batch_results)
            state = BatchState(options.batch_state or DEFAULT_STATE_FILE)
            self.queue = BatchQueue(api, state, poll_interval=options.poll_interval, window=options.batch_window)

    @property
    def model_id(self) -> str:
        return self._model_id

    @abstractmethod
    def request_params(self, request: GenerationRequest) -> dict[str, Any]:
        """The exact API parameters for a request (also the body of a batch line)."""

    @abstractmethod
    async def _create(self, params: dict[str, Any]) -> Any:
        """One direct API call with these parameters."""

    @abstractmethod
    def parse(self, data: dict[str, Any], budget: Budget, seconds: float = 0.0) -> Completion:
        """A Completion from a response body (direct or from a batch)."""

    @abstractmethod
    async def _submit_batch(self, items: list[tuple[str, dict[str, Any]]]) -> str: ...

    @abstractmethod
    async def _batch_status(self, batch_id: str) -> str: ...

    @abstractmethod
    async def _batch_results(self, batch_id: str) -> dict[str, BatchOutcome]: ...

    def estimate_cost(self, input_tokens: int, output_tokens: int) -> float:
        return self.prices.cost(self._model_id, input_tokens, output_tokens, batch=self.queue is not None)

    async def preflight(self, budgets: Sequence[Budget]) -> str | None:
        """The SDK imports, and the API knows the model and accepts the key: one free `models.retrieve`
        (no tokens are billed). The key's presence was checked when the backend was built."""
        require_sdk(self.sdk, self.sdk, self.sdk)
        base = self.options.base_url or (self.options.base_urls[0] if self.options.base_urls else None)
        where = f"{self.sdk} {self._model_id}" + (f" at {base}" if base else "")
        hint = f"check the key in {self.options.key_file or self.options.api_key_env}"
        try:
            await self._sdk.get().models.retrieve(self._model_id, timeout=min(PREFLIGHT_TIMEOUT, self.options.timeout))
        except Exception as exc:  # classified by `verdict`: raises PreflightError or gives a warning
            return verdict(exc, where=where, model=self._model_id, key_hint=hint)
        return None

    async def generate(self, request: GenerationRequest) -> Completion:
        reason = self.unsupported_reason(request.budget)
        if reason:
            raise UserError(reason)
        params = self.request_params(request)
        started = time.perf_counter()
        if self.queue is not None:
            data = as_dict(await self.queue.run(params))
        else:
            data = as_dict(await self.call(lambda: self._create(params)))
        return self.parse(data, request.budget, time.perf_counter() - started)

    async def generate_nested(self, request: GenerationRequest, budgets: Sequence[Budget]) -> dict[str, Completion]:
        """One request per budget; in batch mode all of them at once, so they land in the same batch.
        A budget whose request failed costs only itself (`PartialFailure` carries the others)."""
        if self.queue is None:
            return await per_budget(budgets, lambda budget: self.generate(request.at(budget)))
        done = await asyncio.gather(*(self.generate(request.at(b)) for b in budgets), return_exceptions=True)
        out: dict[str, Completion] = {}
        failures: dict[str, Exception] = {}
        for budget, result in zip(budgets, done, strict=True):
            if isinstance(result, Completion):
                out[budget.label] = result
            elif isinstance(result, Exception) and not isinstance(result, UserError):
                failures[budget.label] = result
            else:
                raise result  # a mistake of the sweep, or cancellation: not one budget's failure
        return settle(out, failures)

    async def aclose(self) -> None:
        if self.queue is not None:
            await self.queue.aclose()
        await self._sdk.aclose()
