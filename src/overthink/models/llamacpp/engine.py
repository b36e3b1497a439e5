"""A thin token-level engine over llama-cpp-python: KV-cache sync, logits, and a seeded sampler.

Budget forcing must act on token ids, fork answers off a shared thinking prefix and rewind the KV
cache afterwards, none of which the high-level `create_completion` API offers. This class keeps an exact
mirror of the tokens in the KV cache, so "make the cache hold these tokens" (`sync`) evaluates only the
part that differs. Sampling is ours (numpy, one RNG draw per token) so that a trace depends only on its
seed and prefix: the property that makes nested budgets reproduce independent runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from overthink.errors import UserError

# llama.cpp's CPU threads come from OpenMP (libgomp), whose idle threads spin before sleeping. When the
# cores are shared (a test suite, other jobs) spinning threads starve the working ones. Measured here
# for the 1.5B model on 2 cores: default spin 13.5 tok/s alone but 1.3 tok/s beside two busy processes;
# passive waiting 9.9 / 5.9; a short spin (10k) 13.5 / 4.7, the best of both. Set before llama_cpp
# loads its OpenMP runtime; a user's own setting wins.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

FloatArray = npt.NDArray[np.float32]


class Cancelled(Exception):
    """Raised inside generation when the caller asked to stop (Ctrl-C)."""


@dataclass(frozen=True)
class Sampler:
    """top-k, then temperature, then top-p (llama.cpp's order); temperature 0 means greedy."""

    temperature: float
    top_p: float
    top_k: int

    def pick(self, logits: FloatArray, rng: np.random.Generator) -> int:
        if self.temperature <= 0.0:
            return int(np.argmax(logits))
        k = min(self.top_k, logits.shape[0]) if self.top_k > 0 else logits.shape[0]
        candidates = np.argpartition(logits, -k)[-k:]
        scaled = logits[candidates].astype(np.float64) / self.temperature
        order = np.argsort(-scaled, kind="stable")
        candidates, scaled = candidates[order], scaled[order]
        probs = np.exp(scaled - scaled[0])
        probs /= probs.sum()
        keep = int(np.searchsorted(np.cumsum(probs), self.top_p)) + 1
        cumulative = np.cumsum(probs[:keep])
        draw = rng.random() * cumulative[-1]
        return int(candidates[min(int(np.searchsorted(cumulative, draw, side="right")), keep - 1)])


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """llama.cpp prints model-loading chatter on fd 2; hide it unless OVERTHINK_VERBOSE is set."""
    if os.environ.get("OVERTHINK_VERBOSE"):
        yield None
        return
    try:
        saved = os.dup(2)
    except OSError:  # no real fd 2 (embedded interpreters)
        yield None
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield None
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class Vocabulary:
    """The GGUF's tokenizer alone (no weights, a few MB): metadata and token counts before a model loads."""

    def __init__(self, path: Path) -> None:
        from llama_cpp import Llama

        with _quiet_stderr(), contextlib.redirect_stderr(io.StringIO()):
            self.llm = Llama(model_path=str(path), vocab_only=True, verbose=False)

    def tokenize(self, text: str) -> list[int]:
        """Ids as the engine's `tokenize` gives them (special tokens parsed, no BOS)."""
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def close(self) -> None:
        self.llm.close()


def read_gguf_metadata(path: Path) -> dict[str, str]:
    """Model metadata (context length, chat template) from the GGUF, loading only the vocabulary."""
    vocab = Vocabulary(path)
    meta = dict(vocab.llm.metadata)
    arch = meta.get("general.architecture", "")
    meta["_n_ctx_train"] = meta.get(f"{arch}.context_length", "4096")
    vocab.close()
    return meta


class LlamaEngine:
    """One loaded model and its KV cache; not thread-safe (the backend serializes access)."""

    def __init__(self, path: Path, *, n_ctx: int, n_threads: int | None = None, n_batch: int = 512) -> None:
        from llama_cpp import Llama

        threads = n_threads or max(1, min(os.cpu_count() or 1, 8))
        try:
            with _quiet_stderr():
                self.llm = Llama(
                    model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                    n_batch=n_batch, verbose=False, logits_all=False,
                )
        except ValueError as exc:
            raise UserError(f"cannot load model {path}: {exc}") from None
        self.n_vocab = self.llm.n_vocab()
        self.n_ctx = self.llm.n_ctx()
        self.eos_ids = frozenset({self.llm.token_eos(), *self._special_ends()})
        self.tokens: list[int] = []
        self.logits: FloatArray = np.zeros(self.n_vocab, dtype=np.float32)
        self.cancel = threading.Event()
        self.evaluated = 0  # tokens pushed through the model (prompt + generated), for accounting
        self.sampled = 0  # tokens sampled, read live by the progress bar (a plain int: no lock needed)

    def _special_ends(self) -> list[int]:
        ends = []
        for text in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"):
            ids = self.tokenize(text, special=True)
            if len(ids) == 1:
                ends.append(ids[0])
        return ends

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special))

    def piece(self, token: int) -> bytes:
        return bytes(self.llm.detokenize([token], special=True))

    def detokenize(self, tokens: list[int]) -> str:
        return bytes(self.llm.detokenize(tokens, special=True)).decode("utf-8", errors="replace")

    def _refresh_logits(self) -> None:
        pointer = self.llm._ctx.get_logits_ith(-1)
        self.logits = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()

    def _eval(self, tokens: list[int]) -> None:
        if self.cancel.is_set():
            raise Cancelled()
        if len(self.tokens) + len(tokens) > self.n_ctx:
            raise ContextOverflow(f"context of {self.n_ctx} tokens exceeded")
        self.llm.n_tokens = len(self.tokens)
        self.llm.eval(tokens)
        self.tokens.extend(tokens)
        self.evaluated += len(tokens)
        self._refresh_logits()

    def sync(self, target: list[int]) -> None:
        """Make the cache hold exactly `target`, evaluating only the differing suffix."""
        common = 0
        for mine, theirs in zip(self.tokens, target, strict=False):
            if mine != theirs:
                break
            common += 1
        if common == len(target) == len(self.tokens) and common > 0:
            return
        if common == len(target):
            common -= 1  # re-evaluate one token so the logits are for this exact prefix
        del self.tokens[common:]
        self._eval(target[common:])

    def reset(self) -> None:
        """Forget the whole cache. Used before each trace so that every trace is computed with the
        same batch structure (prompt in one batch, then token by token): llama.cpp's kernels round
        differently for different batch shapes, and bit-identical nested and independent runs need
        identical shapes, which prefix reuse across prompts would break."""
        del self.tokens[:]
        self.llm.n_tokens = 0

    def push(self, token: int) -> None:
        """Append one token to the cache and compute the next logits."""
        self._eval([token])

    def rewind(self, length: int, logits: FloatArray) -> None:
        """Forget everything after `length` tokens and restore the logits saved at that point."""
        del self.tokens[length:]
        self.llm.n_tokens = length
        self.llm._ctx.kv_cache_seq_rm(-1, length, -1)
        self.logits = logits

    def close(self) -> None:
        self.llm.close()


class ContextOverflow(Exception):
    """The prompt plus budget does not fit the context window (stored as an error record)."""
