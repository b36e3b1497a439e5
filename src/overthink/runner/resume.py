"""The streamed plan checked against the store: what is left to send, and how the plan's records stand.

A sweep of a million records must not hold a million work items, nor a million key digests, in
memory (the reason issue 10 streams the plan). So nothing here asks the store for "every done key":
the plan is cut into chunks of groups (`chunked`), each chunk's keys are looked up by
primary key (`Store.key_states`), and only the chunk being worked on is alive. Counting (the
progress bar's total, what was done before, the report's ok / error / exhausted) walks the same
stream again instead of keeping it: planning is cheap next to sending a request.

The rule for "done" is the store's (`Store.done_keys`): an ok record, or an error record whose key
failed `max_attempts` times in total; everything else is sent (failed items are retried).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

from overthink.models.base import Backend
from overthink.runner.plan import SweepPlan, WorkGroup
from overthink.store import Store

# Groups per chunk at least; more at high concurrency, so every worker has dozens of groups per chunk
# and the drain at a chunk's end (workers idle while the last groups finish) stays near 1% of the time.
CHUNK_GROUPS = 4096
GROUPS_PER_WORKER = 32


def chunk_size(concurrency: int) -> int:
    """Groups alive at once for a sweep at `concurrency`: bounded, and large enough to keep it busy."""
    return max(CHUNK_GROUPS, GROUPS_PER_WORKER * max(1, concurrency))


def chunked(groups: Iterable[WorkGroup], size: int) -> Iterator[list[WorkGroup]]:
    """Consecutive lists of at most `size` groups, in plan order: the unit that is alive at once."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, not {size}")
    stream = iter(groups)
    while chunk := list(islice(stream, size)):
        yield chunk


def keys_of(groups: Iterable[WorkGroup]) -> list[str]:
    """The store keys (digests) of every item of `groups`, in plan order."""
    return [item.key.digest() for group in groups for item in group.items]


def _done(state: tuple[str, int], max_attempts: int) -> bool:
    status, attempts = state
    return status == "ok" or attempts >= max_attempts


def _left(chunk: list[WorkGroup], keys: list[str], states: dict[str, tuple[str, int]],
          max_attempts: int) -> list[WorkGroup]:
    """The chunk's groups reduced to their items not done (`keys[i]` is the key of the chunk's item i)."""
    left, position = [], 0
    for group in chunk:
        items = []
        for item in group.items:
            state = states.get(keys[position])
            position += 1
            if state is None or not _done(state, max_attempts):
                items.append(item)
        if items:
            left.append(WorkGroup(group.sample, group.seed, group.repeat, tuple(items)))
    return left


def _count(counts: Counter[str], keys: list[str], states: dict[str, tuple[str, int]], max_attempts: int) -> None:
    counts["planned"] += len(keys)
    for status, attempts in states.values():
        counts[status] += 1
        counts["done"] += _done((status, attempts), max_attempts)
        counts["exhausted"] += status == "error" and attempts >= max_attempts


def todo_chunks(store: Store, groups: Iterable[WorkGroup], *, max_attempts: int,
                size: int = CHUNK_GROUPS) -> Iterator[list[WorkGroup]]:
    """The groups still to send, reduced to their items not done, one non-empty chunk at a time.

    Lazy on purpose: a chunk is looked up when the executor asks for it, after the chunks before it
    were written, so a resumed sweep never holds more than `size` groups and their keys.
    """
    return StreamedSweep(store, groups, max_attempts=max_attempts, size=size).chunks()


class StreamedSweep:
    """One pass over a plan that hands out what is left to send and counts how the plan ends up.

    `chunks()` yields each chunk's groups still to send; once the executor has run a chunk (the
    consumer asks for the next one), its keys are looked up again and counted. `finish()` counts
    what the executor never reached (a stopped sweep) and returns the census, the same as
    `census(...)` after the run would: one walk of the plan instead of two.
    """

    def __init__(self, store: Store, groups: Iterable[WorkGroup], *, max_attempts: int,
                 size: int = CHUNK_GROUPS) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self.store, self.max_attempts = store, max_attempts
        self.counts: Counter[str] = Counter()
        self._stream = chunked(groups, size)
        self._handed: list[str] | None = None  # keys of the chunk being run, counted once it has run

    def chunks(self) -> Iterator[list[WorkGroup]]:
        for chunk in self._stream:
            keys = keys_of(chunk)
            states = self.store.key_states(keys)
            left = _left(chunk, keys, states, self.max_attempts)
            if left:
                self._handed = keys
                yield left
                self._handed = None
                states = self.store.key_states(keys)  # as the executor left them
            _count(self.counts, keys, states, self.max_attempts)

    def finish(self) -> Counter[str]:
        """The census of the whole plan after the run (call once, after the last chunk was run or the
        sweep stopped): chunks never handed out are counted as the store holds them."""
        if self._handed is not None:
            _count(self.counts, self._handed, self.store.key_states(self._handed), self.max_attempts)
            self._handed = None
        for chunk in self._stream:
            keys = keys_of(chunk)
            _count(self.counts, keys, self.store.key_states(keys), self.max_attempts)
        return self.counts


def census(store: Store, groups: Iterable[WorkGroup], *, max_attempts: int,
           size: int = CHUNK_GROUPS) -> Counter[str]:
    """How the plan's items stand in the store, counted chunk by chunk (records of other plans ignored).

    Keys: "planned" (items of the plan), "done" (what a re-run skips), "ok", "error", and "exhausted"
    (error records that used up `max_attempts`, which a re-run no longer retries). Looked up chunk by
    chunk rather than against a set of every planned key: a million-item plan costs one chunk of memory.
    """
    counts: Counter[str] = Counter()
    for chunk in chunked(groups, size):
        keys = keys_of(chunk)
        _count(counts, keys, store.key_states(keys), max_attempts)
    return counts


def backends_with_work(backends: Sequence[Backend], sweeps: Sequence[SweepPlan], store_path: Path, *,
                       max_attempts: int) -> list[Backend]:
    """The backends with an item left to send: all of them for a new store; for an existing store, those
    whose plans still hold an item neither ok nor out of attempts (what preflight must ask)."""
    if not store_path.is_file():
        return list(backends)
    with Store(store_path, create=False) as store:
        busy = {id(sweep.backend) for sweep in sweeps
                if next(todo_chunks(store, sweep.groups(), max_attempts=max_attempts), None)}
    return [backend for backend in backends if id(backend) in busy]
