"""Read zebra puzzle text (ours or BBEH's) into a `Puzzle`; anything unreadable names its line.

The parser is the independent half of answer-key verification: `zebra.check` re-reads the prompt
*text*, never the generator's objects. It knows the frames of `zebra_text` and resolves an entity
phrase by exact lookup among every frame rendered with every listed value, so a typo or an unknown
construction fails loudly instead of being guessed at.
"""

from __future__ import annotations

import re
from collections import defaultdict

from overthink.tasks.base import TaskError
from overthink.tasks.zebra.zebra_model import POSITION, Attribute, Clue, Entity, Puzzle, Ref, Relation
from overthink.tasks.zebra.zebra_text import (
    DISTRACTOR_NOTE,
    HEADER_BOILERPLATE,
    frames_for_header,
    normalize_phrase,
    value_phrase,
)

_HEADER = re.compile(r"There are (\d+) people next to each other in a row in positions ([\d, ]+) "
                     r"who have the following characteristics\.")
_ATTRIBUTE = re.compile(r"Everyone (.+?): (.+)\.")
_CLUE = re.compile(r"Clue (\d+): (.+)")
_QUESTION = re.compile(r"Question: What position is (.+) at\?")
_POSITION = re.compile(r"the person at the (\d+)(?:st|nd|rd|th) position")
_BOILERPLATE = {HEADER_BOILERPLATE, DISTRACTOR_NOTE}

# Relation words after "<entity> is ", most specific first; plain "is <entity>" is SAME.
_PREFIXES: tuple[tuple[str, Relation], ...] = (
    ("immediately to the left of ", Relation.LEFT_OF),
    ("somewhere to the left of ", Relation.SOMEWHERE_LEFT),
    ("next to ", Relation.NEXT_TO),
    ("not ", Relation.NOT_SAME),
)


class ZebraParseError(TaskError):
    """Puzzle text the parser cannot read; the message names the 1-based line."""

    def __init__(self, line: int, problem: str, text: str = "") -> None:
        shown = f": {text[:120]!r}" if text else ""
        super().__init__(f"line {line}: {problem}{shown}")
        self.line = line


class _Reader:
    """Entity-phrase lookup for one puzzle's attributes."""

    def __init__(self, n: int, attributes: list[Attribute]) -> None:
        self.n = n
        table: dict[str, list[Ref]] = defaultdict(list)
        for a, attribute in enumerate(attributes):
            for frame in frames_for_header(attribute.header):
                for v, value in enumerate(attribute.values):
                    refs = table[normalize_phrase(value_phrase(frame, value))]
                    if Ref(a, v) not in refs:
                        refs.append(Ref(a, v))
        self.table = {key: tuple(refs) for key, refs in table.items()}

    def entity(self, phrase: str) -> Entity | None:
        key = normalize_phrase(phrase)
        match = _POSITION.fullmatch(key)
        if match:
            position = int(match.group(1))
            return (Ref(POSITION, position - 1),) if 1 <= position <= self.n else None
        return self.table.get(key)

    def clue(self, body: str) -> tuple[Relation, tuple[Entity, ...]] | None:
        if not body.endswith("."):
            return None
        body = body[:-1]
        for match in re.finditer(r" is ", body):
            subject = self.entity(body[:match.start()])
            if subject is not None:
                parsed = self._predicate(subject, body[match.end():])
                if parsed is not None:
                    return parsed
        return None

    def _predicate(self, subject: Entity, rest: str) -> tuple[Relation, tuple[Entity, ...]] | None:
        if rest == "at one of the ends":
            return Relation.AT_END, (subject,)
        if rest.startswith("somewhere in between ") and rest.endswith(" in that order"):
            middle = rest[len("somewhere in between "):-len(" in that order")]
            for split in re.finditer(r" and ", middle):  # values may contain " and "
                left, right = self.entity(middle[:split.start()]), self.entity(middle[split.end():])
                if left is not None and right is not None:
                    return Relation.BETWEEN, (subject, left, right)
            return None
        for prefix, relation in _PREFIXES:
            if rest.startswith(prefix):
                other = self.entity(rest[len(prefix):])
                if other is not None:
                    return relation, (subject, other)
        other = self.entity(rest)
        return (Relation.SAME, (subject, other)) if other is not None else None


def _header(number: int, line: str) -> int:
    match = _HEADER.fullmatch(line)
    if not match:
        raise ZebraParseError(number, "expected the header 'There are N people next to each other ...'", line)
    n = int(match.group(1))
    listed = [p.strip() for p in match.group(2).split(",")]
    if n < 2 or listed != [str(i) for i in range(1, n + 1)]:
        raise ZebraParseError(number, f"positions must be 1..{n}", line)
    return n


def _attribute(number: int, line: str, n: int, match: re.Match[str]) -> Attribute:
    values = tuple(v.strip() for v in match.group(2).split(", "))
    if len(values) != n or len({normalize_phrase(v) for v in values}) != n or not all(values):
        raise ZebraParseError(number, f"an attribute needs {n} different values", line)
    return Attribute(match.group(1), values)


def parse_puzzle(text: str) -> Puzzle:
    """Parse one puzzle; raises ZebraParseError naming the first line it cannot read."""
    lines = text.splitlines()
    n = 0
    attributes: list[Attribute] = []
    raw_clues: list[tuple[int, str]] = []
    question: tuple[int, str] | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if n == 0:
            n = _header(number, line)
            continue
        if question is not None:
            raise ZebraParseError(number, "text after the question", line)
        attribute = _ATTRIBUTE.fullmatch(line)
        clue = _CLUE.fullmatch(line)
        asked = _QUESTION.fullmatch(line)
        if attribute and not raw_clues:
            attributes.append(_attribute(number, line, n, attribute))
        elif clue:
            raw_clues.append((number, clue.group(2)))
        elif asked:
            question = (number, asked.group(1))
        elif line not in _BOILERPLATE:
            raise ZebraParseError(number, "not a header, attribute, clue or question line", line)
    if n == 0:
        raise ZebraParseError(1, "empty puzzle text")
    if not attributes:
        raise ZebraParseError(len(lines), "no 'Everyone ...' attribute lines")
    if question is None:
        raise ZebraParseError(len(lines), "no 'Question: What position is ... at?' line")
    reader = _Reader(n, attributes)
    clues = []
    for number, body in raw_clues:
        parsed = reader.clue(body)
        if parsed is None:
            raise ZebraParseError(number, "cannot read this clue", body)
        clues.append(Clue(parsed[0], parsed[1], number))
    asked_entity = reader.entity(question[1])
    if asked_entity is None:
        raise ZebraParseError(question[0], "the question names no listed person", question[1])
    return Puzzle(n, tuple(attributes), tuple(clues), asked_entity)
