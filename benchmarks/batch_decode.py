"""Decode throughput of the embedded engine at batch 1, 2, 4, 8, 16 against its prompt-evaluation rate and
raw llama-cpp-python at batch 1, all in one process, sizes alternated within each round.

Decoding is memory-bound (every token reads all the weights), prompt evaluation is compute-bound (one
read serves the whole prompt): the prompt rate is the ceiling a batch of decodes can approach. Each
batch size runs B threads, each driving one slot of one `BatchDecoder` (benchmarks/_batch_decoder.py,
an experiment kept beside the benchmark: the engine itself still decodes one sequence at a time; see
docs/benchmarks.md for why) with a greedy `push` of its own argmax; the prompt is evaluated before the
clock starts. Raw is
`Llama.generate` on a default `Llama` (llama-cpp-python's own loop, weights repacked as it does).

    python benchmarks/batch_decode.py [--model default] [--tokens 48] [--rounds 2] [--sizes 1,2,4,8,16]
                                      [--repack] [--lockstep]

`--lockstep` steps the sequences from one thread instead of one thread per slot: what the ggml kernels
give with no Python threading around them, the upper bound for any batched engine built on them.

Ends with one machine-readable line: speedup8=...  (batch-8 tok/s / batch-1 tok/s, median over rounds)
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import threading
import time

import numpy as np
from _batch_decoder import BatchDecoder, SlotEngine  # benchmarks/ is on the path when run as a script

from overthink.models.llamacpp.engine import LlamaEngine
from overthink.models.llamacpp.gguf import resolve_model_path

PROMPT = (
    "<|im_start|>system\nThink step by step inside <think> and </think>.<|im_end|>\n<|im_start|>user\n"
    "Write a detailed essay about the history of counting, with many examples.<|im_end|>\n"
    "<|im_start|>assistant\n<think>\n"
)


def batched(decoder: BatchDecoder, prompt: list[int], size: int, tokens: int) -> float:
    """Decode tokens/s with `size` sequences decoded together (the prompt is evaluated first, unclocked)."""
    ready = threading.Barrier(size + 1)
    finished = threading.Barrier(size + 1)

    def run(engine: SlotEngine) -> None:
        engine.reset()
        engine.sync(prompt)
        ready.wait()
        for _ in range(tokens):
            engine.push(int(np.argmax(engine.logits)))
        finished.wait()

    with contextlib.ExitStack() as slots:
        engines = [slots.enter_context(decoder.slot()) for _ in range(size)]
        threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        ready.wait()
        started = time.perf_counter()
        finished.wait()
        elapsed = time.perf_counter() - started
        for thread in threads:
            thread.join()
    return size * tokens / elapsed


def lockstep(decoder: BatchDecoder, prompt: list[int], size: int, tokens: int) -> float:
    """Decode tokens/s of `size` sequences stepped together from this thread: one `llama_decode` of one
    token per sequence per step, no Python threads, barriers or locks (the ggml kernels' own batch rate)."""
    logits = [decoder.evaluate_together([(slot, 0, prompt)])[0] for slot in range(size)]
    started = time.perf_counter()
    for step in range(tokens):
        entries = [(slot, len(prompt) + step, [int(np.argmax(logits[slot]))]) for slot in range(size)]
        logits = decoder.evaluate_together(entries)
    return size * tokens / (time.perf_counter() - started)


def prompt_rate(decoder: BatchDecoder, prompt: list[int]) -> float:
    """Prompt-evaluation tokens/s of the same decoder (one slot, fresh cache)."""
    with decoder.slot() as engine:
        engine.reset()
        started = time.perf_counter()
        engine.sync(prompt * 2)  # ~120 tokens: one n_batch chunk, as an item's prompt is
        return len(prompt) * 2 / (time.perf_counter() - started)


def raw(engine: LlamaEngine, prompt: list[int], tokens: int) -> float:
    """llama-cpp-python's own greedy loop, decode only (the prompt's first token is excluded)."""
    llm = engine.llm
    llm.reset()  # type: ignore[no-untyped-call]
    started = None
    for produced, _token in enumerate(llm.generate(prompt, temp=0.0, top_k=1, reset=True)):
        if produced == 0:
            started = time.perf_counter()  # the prompt is evaluated before the first token comes out
        if produced >= tokens:
            break
    assert started is not None
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", default="1,2,4,8,16")
    parser.add_argument("--repack", action="store_true",
                        help="keep ggml's repacked CPU weights (faster batches; logits then depend on the batch)")
    parser.add_argument("--lockstep", action="store_true",
                        help="step all sequences from one thread (no threads or locks): the kernels' own rate")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    _, path = resolve_model_path(args.model)
    plain = LlamaEngine(path, n_ctx=512)
    prompt = plain.tokenize(PROMPT)
    decoder = BatchDecoder(path, n_ctx_seq=len(prompt) * 2 + args.tokens + 64, slots=max(sizes),
                           repack=args.repack)
    batched(decoder, prompt, 1, 4)  # warm-up
    rates: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        rates.setdefault("raw", []).append(raw(plain, prompt, args.tokens))
        rates.setdefault("prompt", []).append(prompt_rate(decoder, prompt))
        for size in sizes:
            measure = lockstep if args.lockstep else batched
            rates.setdefault(str(size), []).append(measure(decoder, prompt, size, args.tokens))
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"model={args.model} tokens={args.tokens} rounds={args.rounds} prompt={len(prompt)} tokens "
          f"repack={args.repack} lockstep={args.lockstep}")
    print(f"raw llama-cpp-python batch 1: {median['raw']:.1f} tok/s; engine prompt evaluation: "
          f"{median['prompt']:.1f} tok/s")
    for size in sizes:
        rate = median[str(size)]
        print(f"batch {size:>2}: {rate:6.1f} tok/s  x{rate / median['1']:.2f} of batch 1, "
              f"{rate / median['prompt']:.2f} of the prompt rate, x{rate / median['raw']:.2f} of raw")
    if "8" in median:
        print(f"speedup8={median['8'] / median['1']:.2f}")
    decoder.close()
    plain.close()


if __name__ == "__main__":
    main()
