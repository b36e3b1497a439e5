"""Brute-force zebra checker for small grids: enumerate permutations, test every clue literally.

It shares nothing with the propagation solver except the `Puzzle` value type: each attribute's
permutation is drawn from all n! orders, partial grids are extended one attribute at a time with
numpy, and a clue is tested as soon as every attribute it mentions has been placed. Tests compare
its solution counts and answer sets with `zebra_solver` on hundreds of puzzles. Ambiguous phrases
are not supported (our generated puzzles have none).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from overthink.tasks.zebra.zebra_solver import POSITION, Clue, Puzzle, Ref, Relation, SolverError

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BruteResult:
    solutions: int  # number of complete grids satisfying every clue
    answers: tuple[int, ...]  # 1-based positions the asked person takes across those grids


def _positions(ref: Ref, grids: IntArray, perms: IntArray, rows: int) -> IntArray:
    """0-based position of `ref` in each partial grid (grids[:, a] = permutation index)."""
    if ref.attribute == POSITION:
        return np.full(rows, ref.value, dtype=np.int64)
    # perms[k, v] = position of value v under permutation k
    picked: IntArray = perms[grids[:, ref.attribute], ref.value]
    return picked


def _holds(relation: Relation, pos: list[IntArray], n: int) -> npt.NDArray[np.bool_]:
    result: npt.NDArray[np.bool_]
    if relation is Relation.SAME:
        result = pos[0] == pos[1]
    elif relation is Relation.NOT_SAME:
        result = pos[0] != pos[1]
    elif relation is Relation.NEXT_TO:
        result = np.abs(pos[0] - pos[1]) == 1
    elif relation is Relation.LEFT_OF:
        result = pos[0] + 1 == pos[1]
    elif relation is Relation.SOMEWHERE_LEFT:
        result = pos[0] < pos[1]
    elif relation is Relation.BETWEEN:
        result = (pos[1] < pos[0]) & (pos[0] < pos[2])
    else:  # AT_END
        result = (pos[0] == 0) | (pos[0] == n - 1)
    return result


def _ready(clue: Clue, placed: set[int]) -> bool:
    return all(e[0].attribute in placed or e[0].attribute == POSITION for e in clue.entities)


def brute_force(puzzle: Puzzle, max_size: int = 6, max_rows: int = 3_000_000) -> BruteResult:
    """Count every solution and collect the asked person's positions, by exhaustive enumeration.

    An attribute no clue or question mentions multiplies the count by n! without changing anything
    else, so it is counted, not enumerated. Raises SolverError when partial grids exceed `max_rows`.
    """
    n, m = puzzle.n, len(puzzle.attributes)
    if n > max_size:
        raise SolverError(f"brute force is limited to n <= {max_size}, got {n}")
    if any(len(e) > 1 for clue in puzzle.clues for e in clue.entities) or len(puzzle.question) > 1:
        raise SolverError("brute force does not read ambiguous phrases")
    perms = np.array([np.argsort(p) for p in itertools.permutations(range(n))], dtype=np.int64)
    k = len(perms)
    # Place attributes in an order that lets clues bite early: most-mentioned first.
    mentions = [0] * m
    for clue in puzzle.clues:
        for entity in clue.entities:
            if entity[0].attribute != POSITION:
                mentions[entity[0].attribute] += 1
    if puzzle.question[0].attribute != POSITION:
        mentions[puzzle.question[0].attribute] += 1
    order = sorted((a for a in range(m) if mentions[a]), key=lambda a: (-mentions[a], a))
    free = math.factorial(n) ** (m - len(order))
    grids = np.zeros((1, m), dtype=np.int64)
    placed: set[int] = set()
    pending = list(puzzle.clues)
    while order:
        # Greedy: place next the attribute that lets the most pending clues be tested.
        attribute = max(order, key=lambda a: (sum(_ready(c, placed | {a}) for c in pending), mentions[a], -a))
        order.remove(attribute)
        if len(grids) * k > max_rows:
            raise SolverError(f"brute force would need more than {max_rows} partial grids")
        grids = np.repeat(grids, k, axis=0)
        grids[:, attribute] = np.tile(np.arange(k), len(grids) // k)
        placed.add(attribute)
        ready = [c for c in pending if _ready(c, placed)]
        pending = [c for c in pending if c not in ready]
        for clue in ready:
            pos = [_positions(e[0], grids, perms, len(grids)) for e in clue.entities]
            grids = grids[_holds(clue.relation, pos, n)]
        if not len(grids):
            return BruteResult(0, ())
    asked = _positions(puzzle.question[0], grids, perms, len(grids))
    return BruteResult(len(grids) * free, tuple(sorted({int(p) + 1 for p in asked})))
