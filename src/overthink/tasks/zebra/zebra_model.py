"""The zebra puzzle model: relations, references, clues, puzzles and answers (plain value types).

Shared by the generator (zebra.py), the text writer and parser (zebra_text.py, zebra_parse.py) and the
solver (zebra_solver.py), so none of them has to import another's logic to speak about a puzzle.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from overthink.tasks.base import TaskError


class Relation(str, Enum):
    """The seven relations of BBEH's clue language."""

    SAME = "is"
    NOT_SAME = "is not"
    NEXT_TO = "is next to"
    LEFT_OF = "is immediately to the left of"
    SOMEWHERE_LEFT = "is somewhere to the left of"
    BETWEEN = "is somewhere in between"  # entities (x, a, b): a < x < b
    AT_END = "is at one of the ends"


ARITY = {Relation.AT_END: 1, Relation.BETWEEN: 3}
POSITION = -1  # Ref.attribute for "the person at the k-th position"


@dataclass(frozen=True, order=True)
class Ref:
    """A person named by an attribute value (attribute, value index) or a 0-based position."""

    attribute: int
    value: int


Entity = tuple[Ref, ...]  # candidate referents; more than one only for ambiguous foreign phrases


@dataclass(frozen=True)
class Attribute:
    header: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Clue:
    relation: Relation
    entities: tuple[Entity, ...]
    line: int = 0  # 1-based line of the text it was read from; 0 when built in code


@dataclass(frozen=True)
class Puzzle:
    n: int
    attributes: tuple[Attribute, ...]
    clues: tuple[Clue, ...]
    question: Entity


@dataclass(frozen=True)
class Answer:
    """Feasible 1-based positions of the asked person (at most `limit` of them are searched for)."""

    positions: tuple[int, ...]
    ambiguous: int = 0  # occurrences of phrases that name more than one attribute value
    dropped_readings: int = 0  # readings of those phrases under which the answer was not unique
    nodes: int = 0

    @property
    def unique(self) -> bool:
        return len(self.positions) == 1


class SolverError(TaskError):
    """The puzzle cannot be solved as stated (too ambiguous or over the search limit)."""
