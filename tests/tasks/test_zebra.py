"""Zebra family: determinism, verified answer keys, solver vs brute force, BBEH puzzles, parser, scorer."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest
from zebra_brute import BruteResult, brute_force

from overthink.registry import TASKS
from overthink.tasks import bbeh, zebra
from overthink.tasks.base import TaskError
from overthink.tasks.zebra.zebra_parse import ZebraParseError, parse_puzzle
from overthink.tasks.zebra.zebra_solver import (
    POSITION,
    Attribute,
    Clue,
    Puzzle,
    Ref,
    Relation,
    Solver,
    SolverError,
    solve,
)
from overthink.tasks.zebra.zebra_text import GENERATED_KINDS, puzzle_text
from overthink.types import Sample

DEV = Path("bbeh_zebra") / "dev.json"


@pytest.fixture(scope="module")
def two_hundred() -> list[Sample]:
    return zebra.generate(200, seed=11)


# -- generation -------------------------------------------------------------------------------------
def test_same_seed_same_bytes_and_different_seed_differs() -> None:
    first = [s.to_json() for s in zebra.generate(8, seed=5)]
    again = [s.to_json() for s in zebra.generate(8, seed=5)]
    other = [s.to_json() for s in zebra.generate(8, seed=6)]
    assert first == again
    assert len(set(first)) == 8
    assert not set(first) & set(other)


def test_strata_and_distractors_as_configured() -> None:
    samples = zebra.generate(10, seed=2, sizes=(5, 8))
    assert [s.metadata["grid_size"] for s in samples] == [5] * 5 + [8] * 5
    for sample in samples:
        n = sample.metadata["grid_size"]
        expected = zebra.DISTRACTORS.get(n, 0)
        assert sample.metadata["num_distractor_clues"] == expected
        assert len(sample.metadata["distractor_clue_numbers"]) == expected
        assert ("Some of clues provided might be irrelevant" in sample.prompt) == (expected > 0)
        assert sample.prompt.startswith(f"There are {n} people next to each other in a row")
        assert sum(line.startswith("Everyone ") for line in sample.prompt.splitlines()) == n
        assert re.search(r"\nQuestion: What position is .+ at\?$", sample.prompt)
        assert 1 <= int(sample.target) <= n
    plain = zebra.generate(3, seed=2, sizes=(6,), distractor_clues=False)
    assert all(s.metadata["num_distractor_clues"] == 0 for s in plain)


def test_every_answer_key_verified_by_reparsing_the_text(two_hundred: list[Sample]) -> None:
    assert len(two_hundred) == 200
    assert {s.metadata["grid_size"] for s in two_hundred} == {5, 6, 7, 8}
    assert all(zebra.check(s) for s in two_hundred)
    # The answers are spread over positions, not stuck at one.
    assert len({s.target for s in two_hundred if s.metadata["grid_size"] == 8}) >= 5


def test_check_rejects_wrong_targets(two_hundred: list[Sample]) -> None:
    for sample in two_hundred[:20]:
        wrong = str(int(sample.target) % sample.metadata["grid_size"] + 1)
        assert not zebra.check(Sample(sample.id, sample.task, sample.prompt, wrong, sample.metadata))


def test_minimized_answer_puzzles_need_every_non_distractor_clue() -> None:
    for sample in zebra.generate(6, seed=9, sizes=(5, 6), unique="answer"):
        lines = sample.prompt.splitlines()
        distractors = {f"Clue {k}:" for k in sample.metadata["distractor_clue_numbers"]}
        core = [line for line in lines if not any(line.startswith(prefix) for prefix in distractors)]
        assert len(core) == len(lines) - len(distractors)
        assert solve(parse_puzzle("\n".join(core))).positions == (int(sample.target),)
        for index, line in enumerate(core):
            if line.startswith("Clue "):
                weaker = "\n".join(core[:index] + core[index + 1:])
                assert not solve(parse_puzzle(weaker)).unique, f"{line} was not needed"


def test_whole_grid_mode_gives_a_single_solution() -> None:
    for sample in zebra.generate(4, seed=4, sizes=(6, 8), distractor_clues=False):
        puzzle = parse_puzzle(sample.prompt)
        solver = Solver(puzzle.n, len(puzzle.attributes), [(c.relation, c.entities) for c in puzzle.clues])
        assert solver.count(limit=2) == 1


def test_generation_parameters_are_validated() -> None:
    with pytest.raises(TaskError, match="unknown parameter"):
        zebra.generate(2, seed=1, colour="red")
    with pytest.raises(TaskError, match="grid sizes"):
        zebra.generate(2, seed=1, sizes=(12,))
    with pytest.raises(TaskError, match="unique"):
        zebra.generate(2, seed=1, unique="cells")


def test_generated_vocabulary_is_unambiguous() -> None:
    values = [v.casefold() for kind in GENERATED_KINDS for v in kind.pool]
    assert len(values) == len(set(values))
    for value in values:
        for other in values:
            if other != value:
                assert not re.search(rf"\b{re.escape(value)}\b", other), (value, other)
    assert len(GENERATED_KINDS) >= zebra.MAX_SIZE
    assert all(len(kind.pool) >= zebra.MAX_SIZE for kind in GENERATED_KINDS)


def test_registered_task_spec() -> None:
    spec = TASKS[zebra.NAME]
    assert spec is zebra.TASK
    assert spec.strata == ("grid_size",) and spec.metric.name == "accuracy" and spec.default_n == 200


# -- solver against brute force ------------------------------------------------------------------------
def _random_puzzle(rng: random.Random, n: int, m: int, clues: int) -> Puzzle:
    """Random clue sets (true or not) to test the solver's semantics, including unsatisfiable ones."""
    def ref(allow_position: bool = True) -> Ref:
        if allow_position and rng.random() < 0.1:
            return Ref(POSITION, rng.randrange(n))
        return Ref(rng.randrange(m), rng.randrange(n))

    made = []
    for _ in range(clues):
        relation = rng.choice(list(Relation))
        arity = {Relation.AT_END: 1, Relation.BETWEEN: 3}.get(relation, 2)
        made.append(Clue(relation, tuple((ref(),) for _ in range(arity))))
    attributes = tuple(Attribute(f"has a different thing{a}", tuple(f"v{a}x{v}" for v in range(n)))
                       for a in range(m))
    return Puzzle(n, attributes, tuple(made), (ref(allow_position=False),))


def test_solver_matches_brute_force_on_random_clue_sets() -> None:
    rng = random.Random(20240611)
    compared = 0
    while compared < 250:
        n = rng.choice((4, 5))
        puzzle = _random_puzzle(rng, n, rng.randint(2, 4), rng.randint(4, 16))
        try:
            truth = brute_force(puzzle, max_rows=400_000)
        except SolverError:
            continue  # too loosely constrained to enumerate cheaply
        clues = [(c.relation, c.entities) for c in puzzle.clues]
        answers = Solver(n, len(puzzle.attributes), clues, puzzle.question).answers(limit=n)
        assert tuple(sorted(p + 1 for p in answers)) == truth.answers
        assert Solver(n, len(puzzle.attributes), clues).count(limit=10**6) == truth.solutions
        compared += 1
    assert compared == 250


def test_generated_five_by_five_puzzles_agree_with_brute_force() -> None:
    for sample in zebra.generate(100, seed=3, sizes=(5,)):
        truth = brute_force(parse_puzzle(sample.prompt))
        assert truth == BruteResult(1, (int(sample.target),))
    # Answer-only puzzles leave cells open; enumerate the ones small enough to enumerate cheaply.
    enumerated = 0
    for sample in zebra.generate(40, seed=3, sizes=(5,), unique="answer"):
        try:
            truth = brute_force(parse_puzzle(sample.prompt), max_rows=400_000)
        except SolverError:
            continue
        enumerated += 1
        assert truth.answers == (int(sample.target),)
        assert truth.solutions >= 1
    assert enumerated >= 10


# -- BBEH's own puzzles -----------------------------------------------------------------------------------
def test_all_bbeh_dev_puzzles_solved_quickly(shared_data: Path) -> None:
    examples = json.loads((shared_data / DEV).read_text())["examples"]
    assert len(examples) == 20
    for example in examples:
        start = time.perf_counter()
        answer = solve(parse_puzzle(example["input"]))
        elapsed = time.perf_counter() - start
        assert answer.positions == (int(example["target"]),)
        assert elapsed < 5.0


def test_import_and_check_bbeh(shared_data: Path) -> None:
    samples = bbeh.import_bbeh(shared_data / DEV)
    assert len(samples) == 20 and len({s.id for s in samples}) == 20
    assert {s.metadata["grid_size"] for s in samples} == {5, 6, 7, 8}
    assert all(s.task == zebra.NAME and s.metadata["source"] == "bbeh" for s in samples)
    assert all(zebra.check(s) for s in samples)
    assert bbeh.check_bbeh(shared_data / DEV) == (20, 20, [])


def test_check_bbeh_reports_disagreements(tmp_path: Path) -> None:
    sample = zebra.generate(1, seed=8, sizes=(5,))[0]
    wrong = str(int(sample.target) % 5 + 1)
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"examples": [{"input": sample.prompt, "target": sample.target},
                                             {"input": sample.prompt, "target": wrong}]}))
    solved, total, disagreements = bbeh.check_bbeh(path)
    assert (solved, total) == (1, 2)
    assert disagreements == [bbeh.Disagreement(1, wrong, sample.target)]


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", r"task\.json: line 1: not valid JSON"),
    ('{"items": []}', r"task\.json: expected an object with a non-empty 'examples' list"),
    ('{"examples": [{"target": "1"}]}', r"task\.json: item 0: expected an object with a string 'input'"),
])
def test_import_rejects_malformed_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "task.json"
    path.write_text(content)
    with pytest.raises(bbeh.BbehImportError, match=message):
        bbeh.import_bbeh(path)


def test_import_names_item_and_line_of_a_bad_puzzle(tmp_path: Path) -> None:
    good = zebra.generate(1, seed=1, sizes=(5,))[0]
    lines = good.prompt.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("Clue 2:"))
    lines[index] = "Clue 2: The person who likes quasars is next to nobody."
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"examples": [{"input": good.prompt, "target": good.target},
                                             {"input": "\n".join(lines), "target": good.target}]}))
    with pytest.raises(bbeh.BbehImportError, match=rf"task\.json: item 1: puzzle line {index + 1}: "):
        bbeh.import_bbeh(path)
    path.write_text(json.dumps({"examples": [{"input": good.prompt, "target": "9"}]}))
    with pytest.raises(bbeh.BbehImportError, match=r"item 0: target '9' is not a position 1\.\.5"):
        bbeh.import_bbeh(path)


# -- parser ---------------------------------------------------------------------------------------------
def _prompt_lines() -> list[str]:
    return zebra.generate(1, seed=21, sizes=(6,))[0].prompt.splitlines()


@pytest.mark.parametrize(("index", "replacement", "problem"), [
    (0, "There are six people in a row.", "expected the header"),
    (1, "Everyone plays a different sport: golf, golf, tennis, rugby, squash, polo.", "6 different values"),
    (8, "The weather is fine today.", "not a header, attribute, clue or question"),
    (-1, "Question: Who owns the zebra?", "not a header, attribute, clue or question"),
])
def test_parser_errors_name_the_line(index: int, replacement: str, problem: str) -> None:
    lines = _prompt_lines()
    lines[index] = replacement
    number = index % len(lines) + 1
    with pytest.raises(ZebraParseError, match=rf"^line {number}: .*{problem}") as info:
        parse_puzzle("\n".join(lines))
    assert info.value.line == number


def test_parser_names_an_unreadable_clue_line() -> None:
    lines = _prompt_lines()
    index = next(i for i, line in enumerate(lines) if line.startswith("Clue 4:"))
    lines[index] = lines[index].replace(" is ", " is probably ", 1)
    with pytest.raises(ZebraParseError, match=rf"^line {index + 1}: cannot read this clue"):
        parse_puzzle("\n".join(lines))
    with pytest.raises(ZebraParseError, match="no 'Question"):
        parse_puzzle("\n".join(line for line in _prompt_lines() if not line.startswith("Question")))


def test_parser_reads_back_what_the_generator_wrote() -> None:
    sample = zebra.generate(1, seed=13, sizes=(7,))[0]
    puzzle = parse_puzzle(sample.prompt)
    assert len(puzzle.clues) == sample.metadata["num_clues"]
    assert puzzle_text(puzzle, puzzle.clues, distractor_note=True) == sample.prompt
    assert {c.relation for c in puzzle.clues} >= {Relation.SAME, Relation.NOT_SAME, Relation.NEXT_TO}


def test_ambiguous_phrase_yields_both_readings() -> None:
    text = "\n".join([
        "There are 3 people next to each other in a row in positions 1, 2, 3 who have the following "
        "characteristics.",
        "Everyone drives a different car: Honda, Kia, Audi.",
        "Everyone drives a different motorbike: Ducati, Honda, Vespa.",
        "Using the clues provided below, answer the question at the end.",
        "Clue 1: The person who drives the Honda is at one of the ends.",
        "Clue 2: The person who drives the Kia is the person at the 1st position.",
        "Clue 3: The person who drives the Audi is next to the person who drives the Ducati.",
        "",
        "Question: What position is the person who drives the Kia at?",
    ])
    puzzle = parse_puzzle(text)
    assert puzzle.clues[0].entities[0] == (Ref(0, 0), Ref(1, 1))
    answer = solve(puzzle)
    assert answer.positions == (1,) and answer.ambiguous == 1


# -- scorer ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def five() -> Sample:
    sample = zebra.generate(1, seed=30, sizes=(5,))[0]
    return Sample(sample.id, sample.task, sample.prompt, "3", sample.metadata)


@pytest.mark.parametrize(("text", "correct", "extracted"), [
    ("<think>maybe 2</think><answer>3</answer>", True, "3"),
    ("I think it is position 3", True, "3"),
    ("The person is at the 3rd position.", True, "3"),
    ("<answer>the third position</answer>", True, "3"),
    ("<answer>2</answer> hmm, no: <answer>3</answer>", True, "3"),
    ("<answer>3</answer> wait <answer>4</answer>", False, "4"),
    ("The answer is 4.", False, "4"),
    ("<answer>unsure</answer>", False, None),
    ("", False, None),
])
def test_scorer_edge_cases(five: Sample, text: str, correct: bool, extracted: str | None) -> None:
    result = zebra.score(five, text)
    assert result.correct is correct
    assert result.extracted == extracted
    assert result.value == (1.0 if correct else 0.0)
    assert result.details["chance"] == pytest.approx(0.2)


def test_scorer_flags_out_of_range_positions(five: Sample) -> None:
    assert zebra.score(five, "<answer>9</answer>").details["out_of_range"] is True
    assert zebra.score(five, "<answer>5</answer>").details["out_of_range"] is False
