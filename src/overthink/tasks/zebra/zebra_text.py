"""The wording of zebra puzzles, shared by the generator (to write) and the parser (to read).

The phrasing follows BIG-Bench Extra Hard's zebra puzzles: a header naming the positions, one
"Everyone ... a different ...:" line per attribute, numbered clues between entity phrases and a
question. Each attribute kind has a header and an entity *frame* ("the person who drives the {v}",
"the {v} player", a bare name); the parser renders every frame for every listed value and looks
phrases up, so writing and reading can never drift apart.

The value pools are our own. Across the whole catalog no value equals another and none is a whole
word inside another (a test guards this), so a generated phrase always names exactly one attribute.
BBEH's own puzzles do not have that property ("Honda" is both a car and a motorbike there); the
parser reports such phrases as ambiguous and the solver tries each reading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from overthink.tasks.zebra.zebra_model import POSITION, Clue, Puzzle, Ref, Relation

ORDINAL_SUFFIX = {1: "st", 2: "nd", 3: "rd"}


@dataclass(frozen=True)
class AttributeKind:
    """One kind of attribute: the words after "Everyone" and how a clue names one of its values."""

    header: str  # e.g. "supports a different NBA team"
    frame: str  # e.g. "the person who supports the {v}"
    pool: tuple[str, ...] = ()  # our generator's values (empty for kinds we only read)


def _kind(header: str, frame: str, values: str = "") -> AttributeKind:
    return AttributeKind(header, frame, tuple(v.strip() for v in values.split(",") if v.strip()))


# Every header BBEH's zebra task uses, with the frame its clues use. Kinds with a pool are the
# ones our generator draws from; the cigarette kind is read (BBEH has it) but never generated.
CATALOG: tuple[AttributeKind, ...] = (
    _kind("has a different name", "{v}",
          "Alice, Bruno, Chen, Dalia, Emeka, Farah, Goran, Hana, Ivan, Jonas, Keiko, Luis, Mira, Nikhil"),
    _kind("is a different nationality", "the {v}",
          "Brazilian, Egyptian, Finn, Greek, Kenyan, Mexican, Norwegian, Peruvian, Thai, Pole, Scot, "
          "Vietnamese"),
    _kind("has a different profession", "the {v}",
          "baker, pilot, nurse, lawyer, plumber, chemist, librarian, farmer, journalist, dentist, "
          "architect, sculptor"),
    _kind("lives in a different colored house", "the person who lives in the {v} house",
          "red, green, blue, yellow, white, purple, orange, pink, grey, brown, teal, beige"),
    _kind("likes a different fruit", "the person who eats {v}",
          "apples, bananas, cherries, grapes, kiwis, mangoes, peaches, pears, plums, figs, apricots"),
    _kind("likes a different food", "the person who likes {v}",
          "burgers, curry, dumplings, lasagna, noodles, paella, pizza, risotto, sushi, tacos, falafel"),
    _kind("drinks a different drink", "the person who drinks {v}",
          "coffee, tea, milk, water, cocoa, lemonade, kombucha, cider, espresso, buttermilk"),
    _kind("has a different favorite soft drink", "the person who likes {v}",
          "Pepsi, Sprite, Fanta, 7up, Dr Pepper, Mountain Dew, Tango, Schweppes, Mirinda, Coke"),
    _kind("likes a different favorite animal", "the person who likes {v}",
          "foxes, owls, otters, wolves, hedgehogs, koalas, lynxes, badgers, herons, geckos, bison, "
          "penguins"),
    _kind("plays a different sport", "the {v} player",
          "tennis, basketball, volleyball, rugby, golf, cricket, baseball, handball, squash, "
          "badminton, hockey"),
    _kind("plays a different musical instrument", "the {v} player",
          "piano, violin, cello, flute, trumpet, harp, oboe, clarinet, drums, banjo, ukulele, accordion"),
    _kind("reads a different genre of books", "the person who reads {v} books",
          "mystery, fantasy, history, romance, poetry, horror, travel, philosophy, comedy, adventure"),
    _kind("supports a different NBA team", "the person who supports the {v}",
          "Bulls, Celtics, Lakers, Knicks, Heat, Spurs, Nuggets, Rockets, Jazz, Pistons, Raptors"),
    _kind("supports a different NFL team", "the person who supports the {v}",
          "Chicago Bears, Denver Broncos, New York Jets, Seattle Seahawks, Dallas Cowboys, Buffalo Bills, "
          "Kansas City Chiefs, Minnesota Vikings, Houston Texans, Tennessee Titans"),
    _kind("drives a different car", "the person who drives the {v}",
          "Toyota, Ford, Volvo, Tesla, Fiat, Mazda, Subaru, Renault, Peugeot, Skoda, Jeep"),
    _kind("drives a different motorbike", "the person who drives the {v}",
          "Ducati, Yamaha, Kawasaki, Triumph, Vespa, Aprilia, KTM, Husqvarna, Royal Enfield, Moto Guzzi"),
    _kind("owns a different handbag brand", "the person who owns a {v}",
          "Prada, Chanel, Hermes, Fendi, Gucci, Coach, Longchamp, Celine, Dior, Burberry"),
    _kind("likes a different type of flower", "the person who likes {v}",
          "roses, tulips, lilies, daisies, orchids, peonies, irises, poppies, sunflowers, dahlias"),
    _kind("likes a different type of gemstone", "the person who likes {v}",
          "Rubies, Emeralds, Sapphires, Opals, Pearls, Garnets, Topaz, Jade, Amethysts, Onyx"),
    _kind("has a different favorite hobby", "the person who likes {v}",
          "knitting, gardening, pottery, origami, chess, juggling, baking, calligraphy, fishing, "
          "photography, birdwatching"),
    _kind("likes a different physical activity", "the person who likes {v}",
          "running, swimming, climbing, rowing, cycling, yoga, skating, surfing, boxing, archery, "
          "fencing, hiking"),
    _kind("smokes a different cigarette", "the person who smokes {v}"),
)

KIND_BY_HEADER: dict[str, AttributeKind] = {kind.header: kind for kind in CATALOG}
GENERATED_KINDS: tuple[AttributeKind, ...] = tuple(kind for kind in CATALOG if kind.pool)

HEADER_BOILERPLATE = "Using the clues provided below, answer the question at the end."
DISTRACTOR_NOTE = "Some of clues provided might be irrelevant to the puzzle."


def ordinal(position: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th" (positions are 1-based in text)."""
    suffix = "th" if 10 <= position % 100 <= 20 else ORDINAL_SUFFIX.get(position % 10, "th")
    return f"{position}{suffix}"


def position_phrase(position: int) -> str:
    return f"the person at the {ordinal(position)} position"


def value_phrase(frame: str, value: str) -> str:
    """The entity phrase naming the person with `value`, in lower-case-initial form."""
    return frame.format(v=value)


def frames_for_header(header: str) -> tuple[str, ...]:
    """Frames for a header line; a header outside the catalog gets generic guesses from its verb.

    BBEH's file uses exactly the catalog's headers; the fallback only keeps the parser usable on
    close variants ("Everyone keeps a different pet") and anything it cannot read still fails
    loudly, naming the clue line.
    """
    kind = KIND_BY_HEADER.get(header)
    if kind is not None:
        return (kind.frame,)
    verb = header.split(" ", 1)[0]
    return ("{v}", "the {v}", "the {v} player", f"the person who {verb} {{v}}",
            f"the person who {verb} the {{v}}", f"the person who {verb} a {{v}}")


def header_line(n: int) -> str:
    positions = ", ".join(str(i) for i in range(1, n + 1))
    return (f"There are {n} people next to each other in a row in positions {positions} "
            "who have the following characteristics.")


def attribute_line(header: str, values: tuple[str, ...] | list[str]) -> str:
    return f"Everyone {header}: {', '.join(values)}."


def sentence(phrase: str) -> str:
    """Capitalize a phrase at the start of a sentence ("the X" -> "The X"; names stay as they are)."""
    return phrase[:1].upper() + phrase[1:]


def normalize_phrase(phrase: str) -> str:
    """Lookup key for an entity phrase: case-folded, single spaces."""
    return re.sub(r"\s+", " ", phrase.strip()).casefold()


def question_line(phrase: str) -> str:
    return f"Question: What position is {phrase} at?"


def ref_phrase(puzzle: Puzzle, ref: Ref) -> str:
    """The phrase naming one definite person of `puzzle` (lower-case initial)."""
    if ref.attribute == POSITION:
        return position_phrase(ref.value + 1)
    attribute = puzzle.attributes[ref.attribute]
    frame = KIND_BY_HEADER[attribute.header].frame
    return value_phrase(frame, attribute.values[ref.value])


def clue_sentence(puzzle: Puzzle, clue: Clue) -> str:
    """One clue as BBEH writes it, e.g. "The Thai is somewhere in between A and B in that order."."""
    names = [ref_phrase(puzzle, entity[0]) for entity in clue.entities]
    subject = sentence(names[0])
    if clue.relation is Relation.AT_END:
        return f"{subject} {clue.relation.value}."
    if clue.relation is Relation.BETWEEN:
        return f"{subject} {clue.relation.value} {names[1]} and {names[2]} in that order."
    return f"{subject} {clue.relation.value} {names[1]}."


def puzzle_text(puzzle: Puzzle, clues: Sequence[Clue], distractor_note: bool) -> str:
    """The full prompt in BBEH's layout: header, attribute lines, numbered clues, blank, question."""
    lines = [header_line(puzzle.n)]
    lines += [attribute_line(a.header, a.values) for a in puzzle.attributes]
    lines.append(HEADER_BOILERPLATE)
    if distractor_note:
        lines.append(DISTRACTOR_NOTE)
    lines += [f"Clue {number}: {clue_sentence(puzzle, clue)}" for number, clue in enumerate(clues, 1)]
    lines += ["", question_line(ref_phrase(puzzle, puzzle.question[0]))]
    return "\n".join(lines)
