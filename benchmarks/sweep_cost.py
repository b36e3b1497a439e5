"""Nested budget sweep vs independent per-budget runs on the embedded model.

For each sample, the nested sweep generates one forced trace up to the largest budget and forks an
answer at every budget; the independent sweep runs each budget from scratch with the same seed. Both
must give identical records (checked here too); the point is what the nested one saves.

    python benchmarks/sweep_cost.py [--model tiny] [--samples 3] [--budgets 0,64,128,256,512]

Ends with one machine-readable line: tokens_ratio=… wall_ratio=…
"""

from __future__ import annotations

import argparse
import asyncio
import time

from overthink.models.base import GenerationRequest
from overthink.models.budget import parse_budgets
from overthink.models.generation import GenerationConfig
from overthink.models.llamacpp.backend import LlamaCppBackend
from overthink.tasks.misleading_math import generate
from overthink.types import Mechanism


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--budgets", default="0,64,128,256,512")
    parser.add_argument("--temperature", type=float, default=0.0)
    args = parser.parse_args()

    budgets = parse_budgets(args.budgets, Mechanism.FORCED)
    backend = LlamaCppBackend.from_model_name(args.model)
    sampling = GenerationConfig(temperature=args.temperature, max_answer_tokens=16)
    samples = generate(args.samples * 6, seed=7)[:: 6][: args.samples]
    # warm-up: load the model (with the context the sweep needs) outside the timed region
    warm = GenerationRequest(samples[0], budgets[0], 0, sampling)
    asyncio.run(backend.generate_nested(warm, [budgets[0], budgets[-1]]))

    nested_tokens = independent_tokens = 0
    nested_wall = independent_wall = 0.0
    identical = True
    for index, sample in enumerate(samples):
        request = GenerationRequest(sample, budgets[0], 1000 + index, sampling)
        started = time.perf_counter()
        nested = asyncio.run(backend.generate_nested(request, budgets))
        nested_wall += time.perf_counter() - started
        nested_tokens += sum(c.total_generated for c in nested.values())
        for budget in budgets:
            started = time.perf_counter()
            alone = asyncio.run(backend.generate_nested(request, [budget]))[budget.label]
            independent_wall += time.perf_counter() - started
            independent_tokens += alone.total_generated
            same = alone.reasoning == nested[budget.label].reasoning and alone.text == nested[budget.label].text
            identical = identical and same
        print(f"sample {index}: nested {sum(c.total_generated for c in nested.values())} tokens")

    asyncio.run(backend.aclose())
    token_ratio = independent_tokens / nested_tokens
    wall_ratio = independent_wall / nested_wall
    thinking = [b.tokens or 0 for b in budgets]
    ideal = sum(thinking) / max(thinking)
    print(f"model={backend.model_id} samples={len(samples)} budgets={args.budgets} T={args.temperature}")
    print(f"independent: {independent_tokens} generated tokens, {independent_wall:.1f} s")
    print(f"nested:      {nested_tokens} generated tokens, {nested_wall:.1f} s")
    print(f"ideal thinking-token ratio (sum/max of budgets): {ideal:.2f}")
    print(f"records identical: {identical}")
    print(f"tokens_ratio={token_ratio:.2f} wall_ratio={wall_ratio:.2f}")


if __name__ == "__main__":
    main()
