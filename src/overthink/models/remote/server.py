"""The raw endpoints of an OpenAI-compatible server that forcing and step scoring need.

`/v1/completions` (one raw completion, optionally with the top log-probabilities of its first token)
and the server's tokenizer, in whichever dialect it speaks: llama-cpp-python's `/extras/tokenize`,
llama.cpp's `/tokenize`, or vLLM's. The backend (openai_compat.py) adds budgets and records on top.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from overthink.models.base import BackendError
from overthink.models.http import JsonClient
from overthink.models.remote.served_forcing import Segment
from overthink.models.retry import Malformed


def check_completion(data: Any) -> None:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Malformed("response has no choices")
    first = choices[0]
    if "text" not in first and not isinstance(first.get("message"), dict):
        raise Malformed("response choice has neither text nor message")


class ServerEndpoints:
    """Completions and tokenizer calls on one served model (one or more replicas behind `client`)."""

    def __init__(self, client: JsonClient, served: str, *, tokenizer: bool, token_prompts: bool) -> None:
        self.client = client
        self.served = served
        self.use_tokenizer = tokenizer
        self.token_prompts = token_prompts
        self._tokenizer: str | None = None  # detected endpoint dialect, "" when none
        self._detect_lock = asyncio.Lock()
        self.tokenizer_calls = 0

    async def complete(
        self,
        prompt: str | list[int],
        *,
        max_tokens: int,
        stop: Sequence[str],
        seed: int,
        sampling: dict[str, Any] | None = None,
    ) -> Segment:
        """One raw completion (`/completions`); `sampling` holds temperature, top_p, top_k."""
        body: dict[str, Any] = {
            "model": self.served,
            "prompt": prompt,
            "max_tokens": max(1, max_tokens),
            "stop": list(stop),
            "seed": seed,
            **(sampling or {}),
        }
        data = await self.client.post("/completions", body, validate=check_completion)
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        text = choice.get("text")
        if not isinstance(text, str):
            raise BackendError("completion text is not a string")
        return Segment(
            text,
            str(choice.get("finish_reason") or "stop"),
            int(usage.get("completion_tokens") or 0),
            int(usage.get("prompt_tokens") or 0),
        )

    async def _detect_tokenizer(self) -> str:
        """The server's tokenizer dialect, probed once ("" when it has none).

        Under a lock, so concurrent first requests all wait for the same answer instead of some of them
        counting with estimates. A 4xx means "no such endpoint"; transient failures are retried.
        """
        async with self._detect_lock:
            if self._tokenizer is not None:
                return self._tokenizer
            found = ""
            if self.use_tokenizer:
                for dialect, path, body in (
                    ("extras", "/extras/tokenize", {"input": "a"}),
                    ("llamacpp", "/tokenize", {"content": "a"}),
                    ("vllm", "/tokenize", {"model": self.served, "prompt": "a", "add_special_tokens": False}),
                ):
                    try:
                        data = await self.client.post(path, body, root=True)
                    except BackendError:
                        continue
                    if isinstance(data.get("tokens"), list):
                        found = dialect
                        break
            self._tokenizer = found
            return found

    async def tokenize(self, text: str) -> list[int] | None:
        dialect = await self._detect_tokenizer()
        if not dialect:
            return None
        if not text:
            return []
        self.tokenizer_calls += 1
        bodies: dict[str, dict[str, Any]] = {
            "extras": {"input": text},
            "llamacpp": {"content": text, "add_special": False, "parse_special": True},
            "vllm": {"model": self.served, "prompt": text, "add_special_tokens": False},
        }
        body = bodies[dialect]
        data = await self.client.post("/extras/tokenize" if dialect == "extras" else "/tokenize", body, root=True)
        tokens = data.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise BackendError("tokenizer endpoint returned no token list")
        return [int(t) for t in tokens]

    async def detokenize(self, ids: list[int]) -> str:
        dialect = await self._detect_tokenizer()
        path = "/extras/detokenize" if dialect == "extras" else "/detokenize"
        body: dict[str, Any] = {"tokens": ids} if dialect != "vllm" else {"model": self.served, "tokens": ids}
        data = await self.client.post(path, body, root=True)
        for key in ("text", "content", "prompt"):
            if isinstance(data.get(key), str):
                return str(data[key])
        raise BackendError("detokenize endpoint returned no text")

    async def top_logprobs(self, prompt: str, count: int) -> tuple[dict[str, float], int]:
        """The `count` most likely next tokens with their log-probabilities, and the prompt's tokens."""
        body: dict[str, Any] = {"model": self.served, "prompt": prompt, "max_tokens": 1, "temperature": 0.0,
                                "logprobs": count, "seed": 0}
        data = await self.client.post("/completions", body, validate=check_completion)
        logprobs = data["choices"][0].get("logprobs") or {}
        tops = logprobs.get("top_logprobs") if isinstance(logprobs, dict) else None
        if not isinstance(tops, list) or not tops or not isinstance(tops[0], dict):
            raise BackendError("the server returned no top_logprobs (does it support logprobs on /completions?)")
        prompt_tokens = int((data.get("usage") or {}).get("prompt_tokens") or 0)
        return {str(token): float(value) for token, value in tops[0].items()}, prompt_tokens

    def reset_connections(self) -> None:
        """A new lock for the next event loop (the client closes its own connections)."""
        self._detect_lock = asyncio.Lock()


class BoundServer:
    """The backend seen by the forcer, with one request's sampling settings bound (safe under concurrency)."""

    def __init__(self, backend: ServerEndpoints, sampling: dict[str, Any]) -> None:
        self.backend = backend
        self.sampling = sampling
        self.token_prompts = backend.token_prompts

    async def complete(self, prompt: str | list[int], *, max_tokens: int, stop: Sequence[str], seed: int) -> Segment:
        return await self.backend.complete(prompt, max_tokens=max_tokens, stop=stop, seed=seed, sampling=self.sampling)

    async def tokenize(self, text: str) -> list[int] | None:
        return await self.backend.tokenize(text)

    async def detokenize(self, ids: list[int]) -> str:
        return await self.backend.detokenize(ids)
