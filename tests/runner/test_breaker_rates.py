"""The breaker reads failure rates, not streaks in completion order: simulated sweeps at any concurrency.

Outcomes reach the breaker in the order records *finish*. A failure that went through every retry (and
its backoff, often a timeout) takes far longer than a success, so at the end of a sweep or a chunk the
failures still in flight finish together, after every success around them: a streak that says nothing
about the server. The simulation below is that queue (c workers taking records in plan order, a
failure taking `SLOW` times as long as a success), fed straight into `CircuitBreaker`: a streak rule
(the breaker before issue 16: 20 failures in a row) trips here at a steady 10%, the window rule never
does, and it still stops a sweep that (nearly) only fails within its documented bound.
"""

from __future__ import annotations

import heapq
import math
import random

import pytest

from overthink.models.base import FailureKind
from overthink.runner.execute import TRIP_SHARE, CircuitBreaker

SLOW = 20.0  # a failure after six attempts with backoff, next to one successful request


def finish_order(n: int, concurrency: int, rate: float, rng: random.Random) -> list[bool]:
    """Whether each of `n` records failed, in the order they finish (c workers, plan order)."""
    free = [(0.0, worker) for worker in range(concurrency)]
    done: list[tuple[float, bool]] = []
    for _ in range(n):
        start, worker = heapq.heappop(free)
        failed = rng.random() < rate
        end = start + (SLOW if failed else 1.0) * rng.uniform(0.5, 1.5)
        done.append((end, failed))
        heapq.heappush(free, (end, worker))
    return [failed for _, failed in sorted(done)]


def feed(breaker: CircuitBreaker, outcomes: list[bool]) -> int | None:
    """The number of records seen when the breaker tripped (None: it never did)."""
    for seen, failed in enumerate(outcomes, 1):
        if failed and breaker.failure(FailureKind.SERVER, "HTTP 500"):
            return seen
        if not failed:
            breaker.success()
    return None


def _streak_trips(outcomes: list[bool], limit: int = 20) -> bool:
    run = 0
    for failed in outcomes:
        run = run + 1 if failed else 0
        if run >= limit:
            return True
    return False


@pytest.mark.parametrize("concurrency", [1, 16, 48, 256])
@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_a_steady_error_rate_never_trips_it_at_any_concurrency(concurrency: int, rate: float) -> None:
    for seed in range(3):
        outcomes = finish_order(20_000, concurrency, rate, random.Random(seed))
        breaker = CircuitBreaker(limit=20)
        breaker.expect(concurrency)
        assert feed(breaker, outcomes) is None, (seed, breaker.tripped)


def test_the_streak_rule_it_replaces_trips_on_the_same_healthy_sweeps() -> None:
    trips = sum(_streak_trips(finish_order(20_000, 48, 0.1, random.Random(seed))) for seed in range(3))
    assert trips == 3  # why the rule changed: 10% errors at concurrency 48 looked like an outage


@pytest.mark.parametrize("concurrency", [1, 16, 48, 256])
def test_a_sweep_that_only_fails_stops_at_the_first_full_window(concurrency: int) -> None:
    breaker = CircuitBreaker(limit=20)
    breaker.expect(concurrency)
    size = max(20, 2 * concurrency)
    assert breaker.size == size
    assert feed(breaker, finish_order(10_000, concurrency, 1.0, random.Random(0))) == size
    assert breaker.tripped is not None and breaker.tripped.startswith(f"{size} of the last {size} records failed")


@pytest.mark.parametrize("concurrency", [1, 16, 48, 256])
def test_a_sweep_that_nearly_only_fails_stops_within_two_windows(concurrency: int) -> None:
    size = max(20, 2 * concurrency)
    for seed in range(5):
        breaker = CircuitBreaker(limit=20)
        breaker.expect(concurrency)
        seen = feed(breaker, finish_order(10_000, concurrency, 0.98, random.Random(seed)))
        assert seen is not None and size <= seen <= 2 * size, (seed, seen)
        assert breaker.failed.total() >= math.ceil(TRIP_SHARE * size)
