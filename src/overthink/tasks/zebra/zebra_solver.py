"""Zebra constraint solver: bitmask domains, propagation, backtracking search (types: zebra_model.py).

Every (attribute, value) pair is a variable whose domain is a bitmask of positions; each attribute
is an all-different group. Clues compile to binary constraints with cheap bitmask propagators
(BETWEEN becomes two "somewhere left" constraints). Search branches on the smallest domain, ties
broken by how many clues mention the variable, so the unconstrained attributes that BBEH's
distractor clues leave open are filled last and never thrash.

The question is answered without enumerating complete solutions: `answers` finds one solution,
records the asked position, forbids it and searches again. A puzzle whose other cells stay open (as
BBEH's do) still has a unique *answer* when that second search fails. Results are mathematical facts
about the clue set, independent of search order, so callers may use them in seeded generation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from overthink.tasks.zebra.zebra_model import (
    ARITY,
    POSITION,
    Answer,
    Attribute,
    Clue,
    Entity,
    Puzzle,
    Ref,
    Relation,
    SolverError,
)

__all__ = ["ARITY", "POSITION", "Answer", "Attribute", "Clue", "Entity", "Puzzle", "Ref", "Relation", "Solver",
           "SolverError", "solve"]


# Compiled constraint kinds.
_SAME, _NOT_SAME, _NEXT, _LEFT, _SOME_LEFT, _END, _ALLDIFF, _EITHER = range(8)
_KIND = {Relation.SAME: _SAME, Relation.NOT_SAME: _NOT_SAME, Relation.NEXT_TO: _NEXT,
         Relation.LEFT_OF: _LEFT, Relation.SOMEWHERE_LEFT: _SOME_LEFT, Relation.AT_END: _END}


class Solver:
    """Propagation + search over one clue set; an ambiguous occurrence becomes a "one of" variable."""

    def __init__(self, n: int, num_attributes: int, clues: Iterable[tuple[Relation, Sequence[Entity]]],
                 question: Entity | None = None, node_limit: int = 2_000_000) -> None:
        self.n, self.m, self.full = n, num_attributes, (1 << n) - 1
        self.ends = 1 | (1 << (n - 1))
        self.node_limit = node_limit
        self.nodes = 0
        self.witnesses: list[list[int]] = []  # solutions found by the last `answers` or `count`
        self.size = num_attributes * n + n  # value variables, then one constant per position
        self.options: list[tuple[int, ...]] = []  # candidate variables of each ambiguous occurrence
        self.cons: list[tuple[int, int, int]] = [(_ALLDIFF, a, -1) for a in range(num_attributes)]
        self.contradiction = False  # a clue relating a person to themselves other than by "is"
        for relation, entities in clues:
            v = [self.entity_var(entity) for entity in entities]
            if relation is Relation.BETWEEN:
                pairs = [(_SOME_LEFT, v[1], v[0]), (_SOME_LEFT, v[0], v[2])]
            else:
                pairs = [(_KIND[relation], v[0], v[1] if len(v) > 1 else -1)]
            for kind, x, y in pairs:
                if x != y:
                    self.cons.append((kind, x, y))
                elif kind != _SAME:
                    self.contradiction = True
        self.question = -1 if question is None else self.entity_var(question)
        self.watch: list[list[int]] = [[] for _ in range(self.size)]
        degree = [0] * self.size
        for index, (kind, x, y) in enumerate(self.cons):
            if kind == _ALLDIFF:
                members: Sequence[int] = range(x * n, x * n + n)
            elif kind == _EITHER:
                members = (x, *self.options[y])
            else:
                members = (x, y) if y >= 0 else (x,)
            for var in members:
                self.watch[var].append(index)
                degree[var] += kind != _ALLDIFF
        variables = [*range(num_attributes * n), *range(num_attributes * n + n, self.size)]
        self.order = sorted(variables, key=lambda var: (-degree[var], var))
        self.mentioned = [var for var in self.order if degree[var] > 0]
        self.initial = ([self.full] * (num_attributes * n) + [1 << p for p in range(n)]
                        + [self.full] * (self.size - num_attributes * n - n))

    def entity_var(self, entity: Entity) -> int:
        """The variable of one occurrence; an ambiguous one gets its own "one of these" variable.

        BBEH's generator picks a referent per clue, so each occurrence of an ambiguous phrase may mean
        a different attribute; the solver lets each occurrence be any of its candidates.
        """
        if len(entity) == 1:
            return self.var(entity[0])
        aux = self.size
        self.size += 1
        self.options.append(tuple(self.var(ref) for ref in entity))
        self.cons.append((_EITHER, aux, len(self.options) - 1))
        return aux

    def var(self, ref: Ref) -> int:
        if ref.attribute == POSITION:
            if not 0 <= ref.value < self.n:
                raise SolverError(f"position {ref.value + 1} is outside 1..{self.n}")
            return self.m * self.n + ref.value
        if not (0 <= ref.attribute < self.m and 0 <= ref.value < self.n):
            raise SolverError(f"reference {ref} is outside the puzzle")
        return ref.attribute * self.n + ref.value

    # -- propagation -------------------------------------------------------------------------------
    def _alldiff(self, d: list[int], attribute: int, changed: list[int]) -> bool:
        lo, hi, full = attribute * self.n, attribute * self.n + self.n, self.full
        again = True
        while again:
            again = False
            fixed = 0
            for var in range(lo, hi):
                dv = d[var]
                if not dv & (dv - 1):
                    if fixed & dv:
                        return False
                    fixed |= dv
            once = twice = 0
            for var in range(lo, hi):
                dv = d[var]
                if dv & (dv - 1) and dv & fixed:
                    dv &= ~fixed
                    if not dv:
                        return False
                    d[var] = dv
                    changed.append(var)
                    again = again or not dv & (dv - 1)
                twice |= once & dv
                once |= dv
            if once != full:
                return False
            unique = once & ~twice
            if unique:
                for var in range(lo, hi):
                    dv = d[var]
                    if dv & (dv - 1) and dv & unique:
                        narrowed = dv & unique
                        if narrowed & (narrowed - 1):
                            return False
                        d[var] = narrowed
                        changed.append(var)
                        again = True
        return True

    @staticmethod
    def _either(d: list[int], aux: int, options: tuple[int, ...], changed: list[int]) -> bool:
        """aux equals one of the option variables: prune aux to their union; one left -> equal."""
        union = 0
        live = []
        for var in options:
            if d[var] & d[aux]:
                union |= d[var]
                live.append(var)
        narrowed = d[aux] & union
        if not narrowed:
            return False
        if narrowed != d[aux]:
            d[aux] = narrowed
            changed.append(aux)
        if len(live) == 1 and d[live[0]] & ~narrowed:
            d[live[0]] &= narrowed
            changed.append(live[0])
        return True

    def propagate(self, d: list[int], pending: Iterable[int]) -> bool:
        """Narrow `d` in place to a fixpoint; False when some domain empties."""
        cons, watch, full = self.cons, self.watch, self.full
        stack = list(dict.fromkeys(pending))
        queued = set(stack)
        changed: list[int] = []
        while stack:
            c = stack.pop()
            queued.discard(c)
            kind, x, y = cons[c]
            changed.clear()
            if kind == _ALLDIFF:
                if not self._alldiff(d, x, changed):
                    return False
            elif kind == _EITHER:
                if not self._either(d, x, self.options[y], changed):
                    return False
            else:
                dx = d[x]
                dy = d[y] if y >= 0 else 0
                if kind == _SAME:
                    nx = ny = dx & dy
                elif kind == _NOT_SAME:
                    nx = dx & ~dy if not dy & (dy - 1) else dx
                    ny = dy & ~nx if not nx & (nx - 1) else dy
                elif kind == _NEXT:
                    nx = dx & ((dy << 1) | (dy >> 1))
                    ny = dy & ((nx << 1) | (nx >> 1))
                elif kind == _LEFT:  # x is immediately left of y
                    nx = dx & (dy >> 1)
                    ny = dy & (nx << 1)
                elif kind == _SOME_LEFT:  # x < y
                    nx = dx & ((1 << (dy.bit_length() - 1)) - 1) if dy else 0
                    ny = dy & ~(((nx & -nx) << 1) - 1) & full if nx else 0
                else:  # _END
                    nx, ny = dx & self.ends, dy
                if not nx or (y >= 0 and not ny):
                    return False
                if nx != dx:
                    d[x] = nx
                    changed.append(x)
                if y >= 0 and ny != dy:
                    d[y] = ny
                    changed.append(y)
            for var in changed:
                for other in watch[var]:
                    if other != c and other not in queued:
                        queued.add(other)
                        stack.append(other)
        return True

    # -- search ------------------------------------------------------------------------------------
    def _tick(self) -> None:
        self.nodes += 1
        if self.nodes > self.node_limit:
            raise SolverError(f"search exceeded {self.node_limit} nodes")

    @staticmethod
    def _choose(d: list[int], branch: Sequence[int]) -> int:
        """The unfixed variable with the smallest domain (first in `branch` order on ties), or -1."""
        best, best_count = -1, 99
        for var in branch:
            dv = d[var]
            if dv & (dv - 1):
                count = dv.bit_count()
                if count < best_count:
                    best, best_count = var, count
                    if count == 2:
                        break
        return best

    def _first(self, d: list[int], branch: Sequence[int]) -> list[int] | None:
        """Depth-first search for one assignment of every variable in `branch`."""
        self._tick()
        best = self._choose(d, branch)
        if best < 0:
            return d
        rest = d[best]
        while rest:
            bit = rest & -rest
            rest ^= bit
            trial = d[:]
            trial[best] = bit
            if self.propagate(trial, self.watch[best]):
                found = self._first(trial, branch)
                if found is not None:
                    return found
        return None

    def _start(self) -> list[int] | None:
        if self.contradiction:
            return None
        d = self.initial[:]
        return d if self.propagate(d, range(len(self.cons))) else None

    def answers(self, limit: int = 2) -> list[int]:
        """Up to `limit` distinct 0-based positions the asked person can take in some solution."""
        if self.question < 0:
            raise SolverError("no question was given to the solver")
        start = self._start()
        if start is None:
            return []
        q = self.question
        branch = self.mentioned if q in self.mentioned else [*self.mentioned, q]
        found: list[int] = []
        self.witnesses = []
        allowed = start[q]
        while allowed and len(found) < limit:
            d = start[:]
            d[q] = allowed
            if not self.propagate(d, self.watch[q]):
                break
            solution = self._first(d, branch)
            if solution is None:
                break
            position = solution[q].bit_length() - 1
            found.append(position)
            self.witnesses.append(solution)
            allowed &= ~(1 << position)
        return found

    def count(self, limit: int = 2) -> int:
        """Number of complete solutions, counting stops at `limit` (kept in `witnesses`)."""
        self.witnesses = []
        start = self._start()
        if start is None:
            return 0
        total = 0

        def walk(d: list[int]) -> None:
            nonlocal total
            self._tick()
            var = self._choose(d, self.order)
            if var < 0:
                total += 1
                self.witnesses.append(d)
                return
            rest = d[var]
            while rest and total < limit:
                bit = rest & -rest
                rest ^= bit
                trial = d[:]
                trial[var] = bit
                if self.propagate(trial, self.watch[var]):
                    walk(trial)

        walk(start)
        return total

    def solution(self) -> list[list[int]] | None:
        """One complete solution as grid[attribute][value] = 0-based position, or None."""
        start = self._start()
        found = None if start is None else self._first(start, self.order)
        if found is None:
            return None
        n = self.n
        return [[found[a * n + v].bit_length() - 1 for v in range(n)] for a in range(self.m)]


Pinned = dict[tuple[int, int], Ref]


def _answers(puzzle: Puzzle, fixed: Pinned, limit: int, node_limit: int) -> tuple[list[int], int]:
    """Answers with some ambiguous occurrences pinned (key: (clue index, entity index); -1 = question)."""
    clues = [(c.relation, tuple((fixed[(i, k)],) if (i, k) in fixed else e for k, e in enumerate(c.entities)))
             for i, c in enumerate(puzzle.clues)]
    question = (fixed[(-1, 0)],) if (-1, 0) in fixed else puzzle.question
    solver = Solver(puzzle.n, len(puzzle.attributes), clues, question, node_limit)
    return solver.answers(limit), solver.nodes


def solve(puzzle: Puzzle, limit: int = 2, node_limit: int = 2_000_000, max_runs: int = 4096) -> Answer:
    """The feasible answers (1-based) to the puzzle's question.

    For unambiguous puzzles (all of ours) this is one search for up to `limit` answers. A phrase that
    names two attribute values (BBEH: "the person who drives the Honda" with a Honda car and a Honda
    motorbike) may mean either in each clue, as BBEH's generator picks a referent per clue. Such
    occurrences are first left open ("one of these"); if the answer is not unique, readings are split
    occurrence by occurrence. Readings that contradict the clues are dropped, and so are complete
    readings under which the question has several answers, since the author guaranteed a unique
    answer for the intended reading. The answer is unique when all remaining readings agree.
    """
    occurrences = [(i, k, e) for i, c in enumerate(puzzle.clues)
                   for k, e in enumerate(c.entities) if len(e) > 1]
    if len(puzzle.question) > 1:
        occurrences.append((-1, 0, puzzle.question))
    unique: set[int] = set()
    several: set[int] = set()
    dropped = nodes = runs = 0

    def refine(fixed: Pinned, depth: int) -> None:
        nonlocal dropped, nodes, runs
        runs += 1
        if runs > max_runs:
            raise SolverError(f"more than {max_runs} readings of {len(occurrences)} ambiguous phrases")
        positions, used = _answers(puzzle, fixed, limit, node_limit)
        nodes += used
        if len(positions) == 1:
            unique.update(positions)
        elif positions and depth == len(occurrences):
            several.update(positions)
            dropped += 1
        elif positions:
            i, k, entity = occurrences[depth]
            for ref in entity:
                refine({**fixed, (i, k): ref}, depth + 1)

    refine({}, 0)
    chosen = unique if unique else several
    return Answer(positions=tuple(sorted(p + 1 for p in chosen)), ambiguous=len(occurrences),
                  dropped_readings=dropped, nodes=nodes)
