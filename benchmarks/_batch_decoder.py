"""An experiment kept for benchmarks/batch_decode.py, not part of the engine (docs/benchmarks.md says why).

Batched decoding: several sequences' next tokens in one `llama_decode`, each on a KV stream of its own.

Decoding one token is memory-bound: the weights are read once per `llama_decode` whatever the number
of tokens in it, so decoding B sequences together costs little more than decoding one. `BatchDecoder`
owns one context with B KV streams (`n_seq_max=B`, `kv_unified=False`: each sequence attends over its
own stream laid out exactly as a lone sequence's cache would be) and hands out `SlotEngine`s, views
with the `LlamaEngine` surface that the Forcer drives unchanged, one per concurrent trace, each from
its own thread. A slot's `_eval` submits its tokens and waits; the decoder thread waits until every
slot in use has submitted (or been released), then evaluates multi-token submissions (prompts, answer
cues) one slot at a time in the same `n_batch` chunks as a lone engine, and all one-token submissions
together in one `llama_decode`.

Why the output does not depend on the batch: every slot keeps its own Forcer, RNG streams (seed s
of a trace draws thinking from `[s, 0]` and the answer at budget b from `[s, answer_stream(b)]`, as
token_forcing.py says) and KV stream, and a token's logits are bit-identical whatever else is decoded
with it, provided the weights are not repacked. ggml's CPU "repack" buffers (interleaved Q4_K) use a
4-column gemm kernel for four or more tokens and a gemv kernel for fewer, which round differently
(measured on the tiny model: logits differ by up to 0.3 from the second decode step at batch 4, and are
identical at batch 2 and 3); plain Q4_K/Q6_K weights use one dot product per (row, token) at every batch
size, so a decoder of more than one slot loads the model with `use_extra_bufts=False` (a one-slot
decoder keeps the repacked weights: it is today's engine, record for record). Records are therefore
identical at every batch size >= 2, and differ from batch 1 in the last bits of the logits, which
sampling and near-ties turn into other tokens (docs/benchmarks.md). Memory stays bounded: a decoder's KV cache is
B x the per-sequence context, and B is cut to what `KV_BUDGET_BYTES` holds (see `slots_that_fit`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from overthink.errors import UserError
from overthink.models.llamacpp.engine import Cancelled, ContextOverflow, FloatArray, LlamaEngine, _quiet_stderr

DEFAULT_BATCH = 1  # batch 1 keeps main's repacked weights and records; >1 is opt-in (docs/benchmarks.md)
KV_BUDGET_BYTES = 2 << 30  # at most this much KV cache (or a quarter of the free memory, if less)
_LOAD_LOCK = threading.Lock()  # the weights-repack switch below is process-wide while a model loads


def kv_bytes_per_token(meta: dict[str, str]) -> int:
    """Bytes of f16 K and V one token takes in the cache, from the GGUF's attention shape."""
    arch = meta.get("general.architecture", "")
    layers = int(meta.get(f"{arch}.block_count", "32"))
    heads = int(meta.get(f"{arch}.attention.head_count", "32"))
    kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", str(heads)))
    width = int(meta.get(f"{arch}.embedding_length", "4096"))
    return 2 * layers * kv_heads * (width // max(1, heads)) * 2


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def slots_that_fit(wanted: int, n_ctx_seq: int, per_token: int) -> int:
    """`wanted` sequences, or fewer when their KV caches would pass the memory budget (at least 1)."""
    budget = min(KV_BUDGET_BYTES, _available_memory() // 4)
    return max(1, min(wanted, budget // max(1, n_ctx_seq * per_token)))


@contextlib.contextmanager
def _unrepacked_weights() -> Iterator[None]:
    """Load weights without ggml's CPU repack (see the module docstring). llama-cpp-python's `Llama`
    takes no such argument, so its default model parameters are wrapped while the model loads."""
    from llama_cpp import llama_cpp as low

    with _LOAD_LOCK:
        original = low.llama_model_default_params

        def params() -> object:
            value = original()
            value.use_extra_bufts = False
            return value

        low.llama_model_default_params = params
        try:
            yield None
        finally:
            low.llama_model_default_params = original


@dataclass
class _Submission:
    slot: int
    keep: int  # tokens of the slot's cache to keep; everything after is dropped before decoding
    tokens: list[int]
    done: threading.Event = field(default_factory=threading.Event)
    logits: FloatArray | None = None
    error: BaseException | None = None


class BatchDecoder:
    """One model and a context of `slots` KV streams of `n_ctx_seq` tokens each; see the module docstring."""

    def __init__(self, path: Path, *, n_ctx_seq: int, slots: int, n_threads: int | None = None,
                 n_batch: int = 512, cancel: threading.Event | None = None, repack: bool = False) -> None:
        from llama_cpp import Llama
        from llama_cpp import _internals as internals
        from llama_cpp import llama_cpp as low

        threads = n_threads or max(1, min(os.cpu_count() or 1, 8))
        try:  # the Llama holds the model and tokenizer; its own small context is not used
            weights = contextlib.nullcontext() if repack else _unrepacked_weights()
            with _quiet_stderr(), weights:
                self.llm = Llama(model_path=str(path), n_ctx=64, n_batch=8, n_ubatch=8, n_threads=threads,
                                 n_threads_batch=threads, verbose=False, logits_all=False)
        except ValueError as exc:
            raise UserError(f"cannot load model {path}: {exc}") from None
        params = low.llama_context_params.from_buffer_copy(self.llm.context_params)
        params.n_ctx, params.n_seq_max, params.kv_unified = n_ctx_seq * slots, slots, False
        params.n_batch = params.n_ubatch = n_batch
        with _quiet_stderr():
            self._ctx = internals.LlamaContext(model=self.llm._model, params=params, verbose=False)
        self._low = low
        self._memory = low.llama_get_memory(self._ctx.ctx)
        self._batch = low.llama_batch_init(max(n_batch, slots), 0, 1)
        self.n_batch = n_batch
        self.n_ctx_seq = n_ctx_seq
        self.n_vocab = self.llm.n_vocab()
        self.cancel = cancel or threading.Event()
        self._cv = threading.Condition()
        self._waiting: list[_Submission] = []
        self._free = list(range(slots))[::-1]
        self._busy = 0
        self._closing = False
        self.engines = [SlotEngine(self, index) for index in range(slots)]
        self._thread = threading.Thread(target=self._loop, name="overthink-batch-decoder", daemon=True)
        self._thread.start()

    @property
    def slots(self) -> int:
        return len(self.engines)

    @property
    def sampled(self) -> int:
        return sum(engine.sampled for engine in self.engines)

    @property
    def idle(self) -> bool:
        with self._cv:
            return self._busy == 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[SlotEngine]:
        """Exclusive use of one free slot (waiting for one), returned when the block ends."""
        with self._cv:
            self._cv.wait_for(lambda: bool(self._free) or self._closing)
            if self._closing:
                raise Cancelled()
            index = self._free.pop()
            self._busy += 1
        try:
            yield self.engines[index]
        finally:
            with self._cv:
                self._free.append(index)
                self._busy -= 1
                self._cv.notify_all()

    def submit(self, slot: int, keep: int, tokens: list[int]) -> FloatArray:
        """Evaluate `tokens` after the slot's first `keep` cached tokens; the logits after the last one."""
        work = _Submission(slot, keep, tokens)
        if len(self.engines) == 1:  # no other sequence to wait for: evaluate in the caller's thread
            self._step([work])
        else:
            with self._cv:
                self._waiting.append(work)
                self._cv.notify_all()
            work.done.wait()
        if work.error is not None:
            raise work.error
        assert work.logits is not None
        return work.logits

    def evaluate_together(self, entries: list[tuple[int, int, list[int]]]) -> list[FloatArray]:
        """Evaluate (slot, keep, tokens) entries at once from the caller's thread, with no handoff to the
        decoder thread: the kernel's own batched rate, without the threads and locks `submit` needs."""
        work = [_Submission(slot, keep, tokens) for slot, keep, tokens in entries]
        self._step(work)
        for item in work:
            if item.error is not None:
                raise item.error
        return [item.logits for item in work if item.logits is not None]

    def _loop(self) -> None:
        """The decoder thread: one step whenever every slot in use is waiting on its evaluation."""
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._closing or (bool(self._waiting) and len(self._waiting) >= self._busy))
                if self._closing:
                    work, self._waiting = self._waiting, []
                    for item in work:
                        item.error = Cancelled()
                        item.done.set()
                    return
                work, self._waiting = self._waiting, []
            self._step(work)

    def _step(self, work: list[_Submission]) -> None:
        """Drop what each slot no longer holds, then decode: long submissions alone, one-token ones together."""
        singles = []
        for item in work:
            try:
                self._low.llama_memory_seq_rm(self._memory, item.slot, item.keep, -1)
                if len(item.tokens) == 1:
                    singles.append(item)
                    continue
                for start in range(0, len(item.tokens), self.n_batch):
                    chunk = item.tokens[start:start + self.n_batch]
                    self._decode([(item.slot, item.keep + start, chunk)])
                item.logits = self._logits(-1)  # the last output (a token index in the batch, or -1)
            except BaseException as exc:
                item.error = exc
        if singles:
            try:
                self._decode([(item.slot, item.keep, item.tokens) for item in singles])
                for index, item in enumerate(singles):
                    item.logits = self._logits(index)
            except BaseException as exc:
                for item in singles:
                    item.error = exc
        for item in work:
            item.done.set()

    def _decode(self, entries: list[tuple[int, int, list[int]]]) -> None:
        """One `llama_decode` of (slot, first position, tokens) entries; logits after each entry's last token."""
        batch, n = self._batch, 0
        for slot, position, tokens in entries:
            for offset, token in enumerate(tokens):
                batch.token[n], batch.pos[n], batch.n_seq_id[n] = token, position + offset, 1
                batch.seq_id[n][0] = slot
                batch.logits[n] = offset == len(tokens) - 1
                n += 1
        batch.n_tokens = n
        code = self._low.llama_decode(self._ctx.ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")

    def _logits(self, index: int) -> FloatArray:
        """A copy of the logits of the `index`-th output of the last decode."""
        pointer = self._low.llama_get_logits_ith(self._ctx.ctx, index)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()

    def close(self) -> None:
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        self._thread.join()
        self._low.llama_batch_free(self._batch)
        self._ctx.close()  # type: ignore[no-untyped-call]
        self.llm.close()


class SlotEngine(LlamaEngine):
    """One sequence of a `BatchDecoder`, with the engine surface the Forcer and the backend use."""

    def __init__(self, decoder: BatchDecoder, index: int) -> None:
        self.decoder = decoder
        self.index = index
        self.llm = decoder.llm  # tokenizer only
        self.n_vocab = decoder.n_vocab
        self.n_ctx = decoder.n_ctx_seq
        self.eos_ids = frozenset({self.llm.token_eos(), *self._special_ends()})
        self.tokens: list[int] = []
        self.logits: FloatArray = np.zeros(self.n_vocab, dtype=np.float32)
        self.cancel = decoder.cancel
        self.evaluated = 0
        self.sampled = 0

    def _eval(self, tokens: list[int]) -> None:
        if self.cancel.is_set():
            raise Cancelled()
        if len(self.tokens) + len(tokens) > self.n_ctx:
            raise ContextOverflow(f"context of {self.n_ctx} tokens exceeded")
        self.logits = self.decoder.submit(self.index, len(self.tokens), tokens)
        self.tokens.extend(tokens)
        self.evaluated += len(tokens)

    def reset(self) -> None:
        """Forget the cache (dropped in the KV stream at the next evaluation), as `LlamaEngine.reset`."""
        del self.tokens[:]

    def rewind(self, length: int, logits: FloatArray) -> None:
        del self.tokens[length:]
        self.logits = logits

    def close(self) -> None:
        """A slot owns nothing: the decoder is closed by its owner."""
