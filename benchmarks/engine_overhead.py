"""overthink's generation loop vs raw llama-cpp-python generation of the same length, same process.

overthink samples in numpy and checks every token for a thinking close; this measures what that costs
against llama-cpp-python's own `Llama.generate` loop (greedy, same prompt, same number of tokens).
Runs alternate (raw, ours) to spread machine noise evenly; the median of each is compared.

    python benchmarks/engine_overhead.py [--model tiny] [--tokens 256] [--rounds 3]

Ends with one machine-readable line: overhead=…  (ours / raw time per token - 1)
"""

from __future__ import annotations

import argparse
import statistics
import time

from overthink.models.llamacpp.engine import LlamaEngine, Sampler
from overthink.models.llamacpp.gguf import resolve_model_path
from overthink.models.llamacpp.token_forcing import Forcer

PROMPT = (
    "<|im_start|>system\nThink step by step inside <think> and </think>.<|im_end|>\n<|im_start|>user\n"
    "Write a detailed essay about the history of counting, with many examples.<|im_end|>\n"
    "<|im_start|>assistant\n<think>\n"
)


def raw_run(engine: LlamaEngine, prompt: list[int], tokens: int) -> float:
    """llama-cpp-python's own loop: eval prompt, then sample/eval `tokens` tokens greedily."""
    llm = engine.llm
    llm.reset()
    started = time.perf_counter()
    for produced, _token in enumerate(llm.generate(prompt, temp=0.0, top_k=1, reset=True), start=1):
        if produced >= tokens:
            break
    return time.perf_counter() - started


def ours_run(engine: LlamaEngine, prompt: list[int], tokens: int) -> float:
    """overthink's forced trace of exactly `tokens` thinking tokens (answer fork kept to 1 token)."""
    forcer = Forcer(engine, Sampler(0.0, 1.0, 0), max_answer_tokens=1)
    started = time.perf_counter()
    forcer.run(prompt, [tokens - 1], seed=0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    _, path = resolve_model_path(args.model)
    engine = LlamaEngine(path, n_ctx=args.tokens + 512)
    prompt = engine.tokenize(PROMPT)
    raw_run(engine, prompt, 8)  # warm-up
    raw_times, our_times = [], []
    for _ in range(args.rounds):
        raw_times.append(raw_run(engine, prompt, args.tokens))
        engine.reset()
        our_times.append(ours_run(engine, prompt, args.tokens))
    raw, ours = statistics.median(raw_times), statistics.median(our_times)
    print(f"model={args.model} tokens={args.tokens} rounds={args.rounds} prompt={len(prompt)} tokens")
    print(f"raw llama-cpp-python: {args.tokens / raw:.1f} tok/s (median {raw:.2f} s)")
    print(f"overthink forcing:    {args.tokens / ours:.1f} tok/s (median {ours:.2f} s)")
    print(f"overhead={ours / raw - 1:.3f}")
    engine.close()


if __name__ == "__main__":
    main()
