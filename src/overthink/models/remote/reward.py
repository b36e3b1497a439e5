"""A served process reward model: per-step rewards from an OpenAI-compatible server's pooling endpoint.

vLLM serves PRMs such as Qwen/Qwen2.5-Math-PRM-7B (`vllm serve Qwen/Qwen2.5-Math-PRM-7B`) through its
Pooling API, documented at https://docs.vllm.ai/en/latest/models/pooling_models/ ("Pooling API") and, for
reward models, https://docs.vllm.ai/en/latest/models/pooling_models/reward/. The shape implemented here:

    POST {server root}/pooling
    {"model": NAME, "task": "token_classify",
     "messages": [{"role": "system", ...}, {"role": "user", "content": PROBLEM},
                  {"role": "assistant", "content": "step 1<extra_0>step 2<extra_0>Final answer: 7<extra_0>"}]}
    -> {"data": [{"index": 0, "object": "pooling", "data": [[p_bad, p_good], [p_bad, p_good], ...]}],
        "usage": {"prompt_tokens": N, "total_tokens": N}}

The chat form lets the server apply the PRM's own chat template (with `add_generation_prompt` false, the
Pooling API's default), and the step separator is the token the PRM was trained to score after each
step (Qwen2.5-Math-PRM: `<extra_0>`, whose "positive" class is index 1 of each probability pair). One
vector comes back per separator, in order, so a candidate's steps are scored in one request. A server
that sends one number per step (a single-label head) is read as that number.

Compute: the PRM evaluates the whole chat (`usage.prompt_tokens`, counted into the record's
`compute_tokens`) and generates nothing. A response without `usage.prompt_tokens`, or with a different
number of rewards than steps, is malformed (retried a bounded number of times, then an error record of
that item). HTTP failures go through the shared retry policy (models/retry.py); an API key comes only
from the environment or a key file and is scrubbed from every message (models/secrets.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from overthink.models.base import BackendError, FailureKind
from overthink.models.capabilities import StepScores
from overthink.models.http import JsonClient
from overthink.models.remote.reward_preflight import preflight_prm
from overthink.models.retry import Malformed, RetryPolicy
from overthink.models.secrets import api_key

__all__ = ["PoolingRewardModel", "prompt_tokens", "step_rewards"]


def step_rewards(data: Any, steps: int, positive: int) -> tuple[float, ...]:
    """The reward of each step from a Pooling API response; Malformed when it cannot be one per step."""
    items = data.get("data")
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        raise Malformed("pooling response has no data")
    rows = items[0].get("data")
    if not isinstance(rows, list):
        raise Malformed("pooling response data is not a list (a base64 encoding_format is not read)")
    if len(rows) != steps:
        raise Malformed(f"pooling response has {len(rows)} step rewards for {steps} steps (is step_separator "
                        "the PRM's step token? did the server truncate the prompt?)")
    rewards: list[float] = []
    for row in rows:
        value = row[positive] if isinstance(row, list) and len(row) > positive else row
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise Malformed(f"pooling response step reward {str(row)[:60]} is not a number (positive_index "
                            f"{positive})")
        rewards.append(float(value))
    return tuple(rewards)


def prompt_tokens(data: Any) -> int:
    """The PRM's evaluated tokens from a Pooling API response; Malformed without them."""
    usage = data.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise Malformed("pooling response has no usage.prompt_tokens (the PRM's tokens are compute)")
    return tokens


class PoolingRewardModel:
    """One PRM on one or more replicas of a server with a Pooling API (vLLM)."""

    def __init__(self, base_urls: Sequence[str], *, model: str | None = None, endpoint: str = "/pooling",
                 task: str | None = "token_classify", step_separator: str = "<extra_0>",
                 system_prompt: str | None = None, positive_index: int = 1, api_key_env: str | None = None,
                 key_file: str | None = None, timeout: float = 600.0, max_attempts: int = 6) -> None:
        key = api_key(api_key_env, key_file, required=False)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.headers = headers  # preflight's own client sends the same key
        self.client = JsonClient(base_urls, headers=headers,
                                 policy=RetryPolicy(max_attempts=max_attempts, timeout=timeout))
        self.model, self.endpoint, self.task = model, "/" + endpoint.lstrip("/"), task
        self.separator, self.system_prompt, self.positive = step_separator, system_prompt, positive_index

    @property
    def model_id(self) -> str:
        return self.model or self.client.pool.urls[0]

    def body(self, problem: str, steps: Sequence[str]) -> dict[str, Any]:
        """The request: the chat with every step followed by the separator (removed from the steps themselves,
        where one would be a step the candidate never wrote)."""
        answer = "".join(step.replace(self.separator, " ") + self.separator for step in steps)
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages = [*system, {"role": "user", "content": problem}, {"role": "assistant", "content": answer}]
        body: dict[str, Any] = {"messages": messages}
        if self.model:
            body["model"] = self.model
        if self.task:
            body["task"] = self.task
        return body

    async def reward_steps(self, problem: str, steps: Sequence[str]) -> StepScores:
        """The PRM's reward of each step, the prompt tokens it evaluated, and none generated."""
        if not steps:
            raise BackendError("nothing to score: a candidate has at least its final answer as a step",
                               kind=FailureKind.BAD_REQUEST)
        found: list[tuple[tuple[float, ...], int]] = []

        def validate(data: Any) -> None:  # inside the retry loop: a malformed body is retried, then an error
            found[:] = [(step_rewards(data, len(steps), self.positive), prompt_tokens(data))]

        await self.client.post(self.endpoint, self.body(problem, steps), validate=validate, root=True)
        rewards, tokens = found[0]
        return StepScores(rewards, tokens, generated=0)

    @property
    def urls(self) -> list[str]:
        return list(self.client.pool.urls)

    @property
    def timeout(self) -> float:
        return self.client.policy.timeout

    def read(self, data: Any, steps: int) -> None:
        """Raise Malformed unless `data` is a Pooling API answer with one reward per step and its tokens."""
        step_rewards(data, steps, self.positive)
        prompt_tokens(data)

    async def preflight(self, label: str) -> str | None:
        """Ask every replica one small pooling request before the sweep (reward_preflight.py); raises
        PreflightError for what cannot heal, returns the warning of a busy or failing server."""
        return await preflight_prm(self, label)

    async def aclose(self) -> None:
        await self.client.aclose()
