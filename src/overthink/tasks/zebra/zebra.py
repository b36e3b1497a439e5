"""Zebra puzzles in BIG-Bench Extra Hard's clue language: n people, n attributes, "What position...?".

The paper's deduction family. Larger grids need longer chains of deduction, and true-but-irrelevant
clues (for n = 5..7, as in BBEH) invite the model to chase constraints that do not matter.

Generation: a random hidden solution (one permutation per attribute), then random clues true of it
are added until the solver proves the puzzle unique; while it is not, the solver's rival solution is
known and the next clue is drawn at random among true clues that rule it out. Uniqueness means, by
default, that the whole grid has one solution, as in BBEH's 8x8 puzzles (their 5x5..7x7 puzzles add
distractor attributes that stay open); `unique="answer"` asks only that the asked position be forced,
which gives far shorter puzzles. Then every clue whose removal keeps the puzzle unique is dropped,
so each remaining clue is needed, and for n <= 7 a few more true clues are added as distractors
(unnecessary by construction) and all clues are shuffled. `check` re-parses the prompt *text* and
re-solves it, proving the asked position unique and equal to the target.
"""

from __future__ import annotations

import random
from typing import Any

from overthink.scoring.extract import extract_answer, extract_number
from overthink.tasks.base import (
    TaskError,
    TaskSpec,
    check_generate_args,
    sample_id,
    seeded_rng,
    split_evenly,
    whole_levels,
)
from overthink.tasks.metric import ACCURACY
from overthink.tasks.zebra.zebra_parse import parse_puzzle
from overthink.tasks.zebra.zebra_solver import (
    POSITION,
    Attribute,
    Clue,
    Puzzle,
    Ref,
    Relation,
    Solver,
    solve,
)
from overthink.tasks.zebra.zebra_text import GENERATED_KINDS, puzzle_text
from overthink.types import Sample, Score

NAME = "zebra"
VERSION = "1"
DEFAULT_SIZES = (5, 6, 7, 8)
MIN_SIZE, MAX_SIZE = 3, 9
# Distractor clues per grid size; BBEH adds distractors to 5x5..7x7 but not to 8x8.
DISTRACTORS = {3: 2, 4: 3, 5: 4, 6: 5, 7: 6}

# Relation mix of random clues, roughly BBEH's (its "is" clues are most common).
RELATION_WEIGHTS: tuple[tuple[Relation, int], ...] = (
    (Relation.SAME, 22), (Relation.NOT_SAME, 13), (Relation.LEFT_OF, 13), (Relation.BETWEEN, 13),
    (Relation.NEXT_TO, 12), (Relation.AT_END, 10), (Relation.SOMEWHERE_LEFT, 9),
)
POSITION_REF_CHANCE = 0.05  # "the person at the 3rd position" as an entity
MAX_CLUES_FACTOR = 12  # give up after n * this many clues (never seen in practice)
SYMMETRIC = (Relation.SAME, Relation.NOT_SAME, Relation.NEXT_TO)
MAX_TRIES = 400  # random draws per clue before taking one that does not rule out the rival


class _Builder:
    """One puzzle under construction: the hidden grid and clue sampling that is true of it."""

    def __init__(self, rng: random.Random, n: int, whole_grid: bool) -> None:
        self.rng, self.n, self.whole_grid = rng, n, whole_grid
        kinds = rng.sample(GENERATED_KINDS, n)
        self.attributes = tuple(Attribute(k.header, tuple(rng.sample(k.pool, n))) for k in kinds)
        # who[a][p] = value index of attribute a held by the person at position p
        self.who = [rng.sample(range(n), n) for _ in range(n)]
        self.position = [[row.index(v) for v in range(n)] for row in self.who]
        self.question = Ref(rng.randrange(n), rng.randrange(n))
        self.answer = self.position[self.question.attribute][self.question.value]
        self.weights = [w for _, w in RELATION_WEIGHTS]

    def person(self, position: int, avoid_attribute: int = -2, allow_position: bool = True) -> Ref:
        """A random phrase for the person at `position`."""
        if allow_position and self.rng.random() < POSITION_REF_CHANCE:
            return Ref(POSITION, position)
        attribute = self.rng.choice([a for a in range(self.n) if a != avoid_attribute])
        return Ref(attribute, self.who[attribute][position])

    def clue(self) -> Clue:
        """A random clue true of the hidden grid (never two position constants, never trivial)."""
        n, rng = self.n, self.rng
        relation = rng.choices([r for r, _ in RELATION_WEIGHTS], self.weights)[0]
        if relation is Relation.AT_END:
            refs = [self.person(rng.choice((0, n - 1)), allow_position=False)]
        elif relation is Relation.BETWEEN:
            left, middle, right = sorted(rng.sample(range(n), 3))
            refs = [self.person(middle), self.person(left), self.person(right)]
        else:
            first = rng.randrange(n)
            if relation is Relation.SAME:
                second = first
            elif relation is Relation.NEXT_TO:
                second = rng.choice([p for p in (first - 1, first + 1) if 0 <= p < n])
            elif relation is Relation.LEFT_OF:
                first = rng.randrange(n - 1)
                second = first + 1
            elif relation is Relation.SOMEWHERE_LEFT:
                first = rng.randrange(n - 1)
                second = rng.randrange(first + 1, n)
            else:  # NOT_SAME
                second = rng.choice([p for p in range(n) if p != first])
            a = self.person(first)
            avoid = a.attribute if relation in (Relation.SAME, Relation.NOT_SAME) else -2
            refs = [a, self.person(second, avoid_attribute=avoid, allow_position=a.attribute != POSITION)]
        return Clue(relation, tuple((ref,) for ref in refs))

    def useful(self, clue: Clue, chosen: list[Clue]) -> bool:
        refs = [e[0] for e in clue.entities]
        if sum(r.attribute == POSITION for r in refs) > 1:
            return False
        mirrored = Clue(clue.relation, clue.entities[::-1])
        if clue in chosen or (clue.relation in SYMMETRIC and mirrored in chosen):
            return False
        # A position constant next to the asked person would hand out the answer in one step.
        return not (self.question in refs and any(r.attribute == POSITION for r in refs))

    def solver(self, clues: list[Clue]) -> Solver:
        return Solver(self.n, self.n, [(c.relation, c.entities) for c in clues], (self.question,))

    def rival(self, clues: list[Clue]) -> list[int] | None:
        """A solution of `clues` that breaks the required uniqueness, or None when there is none."""
        solver = self.solver(clues)
        if self.whole_grid:
            solver.count(2)
            truth = [1 << p for row in self.position for p in row]
            return next((w for w in solver.witnesses if w[:len(truth)] != truth), None)
        found = solver.answers(2)
        if not found:
            raise TaskError(f"{NAME}: the hidden solution contradicts its own clues (please report)")
        return next((w for p, w in zip(found, solver.witnesses, strict=True) if p != self.answer), None)

    def holds(self, clue: Clue, where: list[int]) -> bool:
        """Whether `clue` is true of a solver solution (domains of singletons)."""
        n = self.n
        pos = [e[0].value if e[0].attribute == POSITION
               else where[e[0].attribute * n + e[0].value].bit_length() - 1 for e in clue.entities]
        relation = clue.relation
        if relation is Relation.SAME:
            return pos[0] == pos[1]
        if relation is Relation.NOT_SAME:
            return pos[0] != pos[1]
        if relation is Relation.NEXT_TO:
            return abs(pos[0] - pos[1]) == 1
        if relation is Relation.LEFT_OF:
            return pos[0] + 1 == pos[1]
        if relation is Relation.SOMEWHERE_LEFT:
            return pos[0] < pos[1]
        if relation is Relation.BETWEEN:
            return pos[1] < pos[0] < pos[2]
        return pos[0] in (0, n - 1)

    def next_clue(self, chosen: list[Clue], rival: list[int] | None) -> Clue:
        """A new true clue; when a rival solution is known, preferably one that rules it out."""
        for attempt in range(MAX_TRIES):
            clue = self.clue()
            if self.useful(clue, chosen) and (rival is None or not self.holds(clue, rival)
                                              or attempt == MAX_TRIES - 1):
                return clue
        raise TaskError(f"{NAME}: could not draw a new clue (please report)")

    def build(self, minimize: bool, distractors: int) -> tuple[Puzzle, list[int]]:
        chosen: list[Clue] = []
        while (rival := self.rival(chosen)) is not None:
            if len(chosen) > self.n * MAX_CLUES_FACTOR:
                raise TaskError(f"{NAME}: no unique puzzle after {len(chosen)} clues (please report)")
            chosen.append(self.next_clue(chosen, rival))
        if minimize:
            for clue in self.rng.sample(chosen, len(chosen)):
                rest = [c for c in chosen if c is not clue]
                if self.rival(rest) is None:
                    chosen = rest
        extra: list[Clue] = []
        while len(extra) < distractors:
            extra.append(self.next_clue(chosen + extra, None))
        order = self.rng.sample(range(len(chosen) + len(extra)), len(chosen) + len(extra))
        every = chosen + extra
        clues = [every[i] for i in order]
        distractor_numbers = sorted(number for number, i in enumerate(order, 1) if i >= len(chosen))
        puzzle = Puzzle(self.n, self.attributes, tuple(clues), (self.question,))
        return puzzle, distractor_numbers


def _make_item(ident: str, rng: random.Random, n: int, distractor_clues: bool, minimize: bool,
               unique: str) -> Sample:
    builder = _Builder(rng, n, whole_grid=unique == "grid")
    distractors = DISTRACTORS.get(n, 0) if distractor_clues else 0
    puzzle, distractor_numbers = builder.build(minimize, distractors)
    prompt = puzzle_text(puzzle, puzzle.clues, distractor_note=distractors > 0)
    meta = {
        "grid_size": n,
        "num_distractor_clues": distractors,
        "num_clues": len(puzzle.clues),
        "distractor_clue_numbers": distractor_numbers,
        "unique": unique,
        "chance": 1.0 / n,
        "source": "generated",
    }
    return Sample(id=ident, task=NAME, prompt=prompt, target=str(builder.answer + 1), metadata=meta)


def generate(n: int, seed: int, sizes: tuple[int, ...] | list[int] = DEFAULT_SIZES,
             distractor_clues: bool = True, minimize: bool = True, unique: str = "grid",
             **params: Any) -> list[Sample]:
    """`n` puzzles split evenly over grid sizes (the strata), in a seed-stable order.

    `unique="grid"` (default) keeps adding clues until the whole hidden grid is the only solution, as
    in BBEH's 8x8 puzzles; `unique="answer"` stops once the asked position is forced, which gives
    much shorter puzzles (other cells stay open). `minimize` drops every clue not needed for that.
    """
    check_generate_args(NAME, n, params)
    if unique not in ("grid", "answer"):
        raise TaskError(f"{NAME}: unique must be 'grid' or 'answer', got {unique!r}")
    levels = whole_levels(NAME, "grid sizes", sizes, MIN_SIZE, MAX_SIZE)
    variant = (int(distractor_clues), int(minimize), unique)
    samples: list[Sample] = []
    for size, count in zip(levels, split_evenly(n, levels), strict=True):
        for index in range(count):
            ident = sample_id(NAME, VERSION, seed, index, size, *variant)
            rng = seeded_rng(NAME, VERSION, seed, size, *variant, index)
            samples.append(_make_item(ident, rng, size, distractor_clues, minimize, unique))
    return samples


_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
                  "seventh": 7, "eighth": 8, "ninth": 9}


def _extract_position(answer_text: str) -> int | None:
    """A position from messy output: tags, "position 3", "3rd", "the third position"."""
    span = extract_answer(answer_text)
    if span is not None and not any(ch.isdigit() for ch in span):
        words = [_ORDINAL_WORDS[w] for w in span.lower().replace(".", " ").split() if w in _ORDINAL_WORDS]
        if words:
            return words[-1]
    value = extract_number(answer_text)
    if value is None or not float(value).is_integer():
        return None
    return int(value)


def score(sample: Sample, answer_text: str) -> Score:
    """Exact position; details carry chance (1/n) so analysis can draw the random-guess line."""
    size = int(sample.metadata.get("grid_size") or 0)
    position = _extract_position(answer_text)
    extracted = None if position is None else str(position)
    correct = extracted == sample.target
    details: dict[str, Any] = {"chance": 1.0 / size if size else None}
    if position is not None and size:
        details["out_of_range"] = not 1 <= position <= size
    return Score(value=1.0 if correct else 0.0, correct=correct, extracted=extracted, details=details)


def check(sample: Sample) -> bool:
    """Parse the prompt *text*, solve it and confirm the answer is unique and equals the target."""
    try:
        answer = solve(parse_puzzle(sample.prompt))
    except TaskError:
        return False
    return answer.unique and str(answer.positions[0]) == sample.target.strip()


TASK = TaskSpec(
    name=NAME,
    version=VERSION,
    description="Zebra puzzles (n people x n attributes, BBEH clue language); answer one person's position.",
    generate=generate,
    score=score,
    check=check,
    strata=("grid_size",),
    default_n=200,
    metric=ACCURACY,
)
