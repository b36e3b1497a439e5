"""Nested budget sweep vs independent per-budget runs, on the embedded model or a real llama.cpp server.

For each sample, the nested sweep generates one forced trace up to the largest budget and forks an
answer at every budget; the independent sweep runs each budget from scratch with the same seed. Both
should give identical records (checked here too); the point is what the nested one saves.

    python benchmarks/sweep_cost.py [--model tiny] [--samples 3] [--budgets 0,64,128,256,512]
    python benchmarks/sweep_cost.py --served [--cache]   # the same through `python -m llama_cpp.server`

`--served` starts llama-cpp-python's OpenAI-compatible server on a free loopback port with the same
GGUF and sends the sweep through the openai-compat backend's forced mode (`/v1/completions`, the
server's tokenizer endpoint for exact cut points). The server reuses the longest prefix of the
previous request's tokens by itself; `--cache` also turns on its RAM cache of earlier prompt states.

Ends with one machine-readable line: tokens_ratio=… wall_ratio=…
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from overthink.models.base import Backend
from overthink.models.budget import parse_budgets
from overthink.models.generation import GenerationConfig
from overthink.models.llamacpp.backend import LlamaCppBackend
from overthink.models.llamacpp.gguf import ensure_model
from overthink.models.remote.openai_compat import OpenAICompatBackend
from overthink.prompts.render import request_for
from overthink.tasks.misleading_math import generate
from overthink.types import Budget, Completion, Mechanism


@contextmanager
def llama_server(model: str, cache: bool) -> Iterator[str]:
    """`python -m llama_cpp.server` on a free loopback port; yields its /v1 URL, stops it afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(ensure_model(model)), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"] + (["--cache", "true"] if cache else [])
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(url + "/models", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise SystemExit("llama_cpp.server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def measure(backend: Backend, budgets: list[Budget], samples: int, sampling: GenerationConfig) -> None:
    items = generate(samples * 6, seed=7)[::6][:samples]
    # warm-up: load the model (with the context the sweep needs) outside the timed region
    await backend.generate_nested(request_for(items[0], budgets[0], 0, sampling), [budgets[0], budgets[-1]])
    tokens = {"nested": 0, "independent": 0}
    wall = {"nested": 0.0, "independent": 0.0}
    identical = True
    for index, sample in enumerate(items):
        request = request_for(sample, budgets[0], 1000 + index, sampling)
        started = time.perf_counter()
        nested: dict[str, Completion] = await backend.generate_nested(request, budgets)
        wall["nested"] += time.perf_counter() - started
        tokens["nested"] += sum(c.total_generated for c in nested.values())
        for budget in budgets:
            started = time.perf_counter()
            alone = (await backend.generate_nested(request, [budget]))[budget.label]
            wall["independent"] += time.perf_counter() - started
            tokens["independent"] += alone.total_generated
            identical = identical and (alone.reasoning, alone.text) == (nested[budget.label].reasoning,
                                                                        nested[budget.label].text)
        print(f"sample {index}: nested {sum(c.total_generated for c in nested.values())} tokens", flush=True)
    await backend.aclose()
    thinking = [b.tokens or 0 for b in budgets]
    print(f"model={backend.model_id} samples={samples} budgets={','.join(b.label for b in budgets)} "
          f"T={sampling.temperature}")
    for kind in ("independent", "nested"):
        print(f"{kind + ':':13s}{tokens[kind]} generated tokens, {wall[kind]:.1f} s")
    print(f"ideal thinking-token ratio (sum/max of budgets): {sum(thinking) / max(thinking):.2f}")
    print(f"records identical: {identical}")
    print(f"tokens_ratio={tokens['independent'] / tokens['nested']:.2f} "
          f"wall_ratio={wall['independent'] / wall['nested']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--budgets", default="0,64,128,256,512")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--served", action="store_true", help="through a real llama.cpp server on loopback")
    parser.add_argument("--cache", action="store_true", help="with --served: the server's RAM prompt cache too")
    args = parser.parse_args()

    budgets = parse_budgets(args.budgets, Mechanism.FORCED)
    sampling = GenerationConfig(temperature=args.temperature, max_answer_tokens=16)
    if not args.served:
        asyncio.run(measure(LlamaCppBackend.from_model_name(args.model), budgets, args.samples, sampling))
        return
    with llama_server(args.model, args.cache) as url:
        backend = OpenAICompatBackend.from_options(args.model, base_urls=[url], max_attempts=2)
        asyncio.run(measure(backend, budgets, args.samples, sampling))


if __name__ == "__main__":
    main()
