"""Answers as sets (``simpletir.reward.sets``): the string classification, and the sympy comparisons the
worker runs, called here directly (in this process, no time limit: the inputs are small)."""

from __future__ import annotations

import time

import pytest
from math_verify import LatexExtractionConfig, parse, verify

from simpletir.reward import grade
from simpletir.reward.equivalence import symbolic_equal
from simpletir.reward.normalize import normalize_answer, normalize_equation
from simpletir.reward.sets import equations_proportional, interval_literal, real_set_pieces, real_sets_equal


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("(-\\infty,1)", ["(-\\infty,1)"]),
        ("2x+1>5", ["2x+1>5"]),
        ("(-\\infty,1)\\cup 2x>6", ["(-\\infty,1)", "2x>6"]),
        ("x<1,x>2", None),
        ("x\\le y=3", None),
        ("5", None),
        ("(1,2,3)", None),
        ("((((x<1", None),
        ("x<1)", None),
    ],
)
def test_real_set_pieces(text: str, pieces: list[str] | None) -> None:
    assert real_set_pieces(text) == pieces


def test_interval_literal() -> None:
    assert interval_literal("[-2,\\frac{1}{2})") == (True, "-2", "\\frac{1}{2}", False)
    assert interval_literal("(1,2)(3,4)") is None
    assert interval_literal("(1)") is None


REAL_SETS = [
    ("2x+1>5", "(2,\\infty)", 6, True),
    ("2x+1\\ge5", "(2,\\infty)", 6, False),
    ("x^2-1<0", "(-1,1)", 6, True),
    ("\\frac{x-1}{x+2}>0", "(-\\infty,-2)\\cup(1,\\infty)", 6, True),
    ("\\frac{x-1}{x+2}\\ge0", "(-\\infty,-2)\\cup(1,\\infty)", 6, False),
    ("\\sqrt{x}>2", "(4,\\infty)", 6, True),
    ("3x>1", "(0.333333,\\infty)", 6, True),
    ("3x>1", "(0.333333,\\infty)", None, False),
    ("2x>1", "(0.5,\\infty)", None, True),
    ("x<1\\cup x>0", "(-\\infty,\\infty)", 6, True),
    ("(0,1]\\cup 2x>2", "(0,\\infty)", 6, True),
    # sympy's solveset gives one period of a trigonometric inequality: not a set here
    ("\\sin x>0", "(0,\\pi)", 6, False),
    # a function's range is not a set of x (the question would have to say "range")
    ("0<f(x)<1", "(0,1)", 6, False),
    ("x<1\\cup y>2", "(-\\infty,\\infty)", 6, False),
]


@pytest.mark.parametrize(("given", "truth", "rounding", "expected"), REAL_SETS)
def test_real_sets_equal(given: str, truth: str, rounding: int | None, expected: bool) -> None:
    assert real_sets_equal(given, truth, rounding) is expected
    assert real_sets_equal(truth, given, rounding) is expected


@pytest.mark.parametrize(("given", "truth"), [("(1,2)", "(1,2]"), ("a+b<5", "b+a<5"), ("5", "5")])
def test_real_sets_equal_does_not_apply(given: str, truth: str) -> None:
    assert real_sets_equal(given, truth, 6) is None


def test_math_verify_turns_a_function_range_into_an_interval() -> None:
    """Why a relation against an interval is decided by the set rule, never by math-verify: math-verify
    turns a gold relation into a set, function values included, so ``(0,1)`` matches ``0<f(x)<1``
    one way round only."""
    targets = (LatexExtractionConfig(),)
    relation, interval = (parse(f"${s}$", targets) for s in ("0<f(x)<1", "(0,1)"))
    assert verify(relation, interval) is True
    assert verify(interval, relation) is False
    assert symbolic_equal("(0,1)", "0<f(x)<1") is False
    assert symbolic_equal("0<f(x)<1", "(0,1)") is False


EQUATIONS = [
    ("y=2x+3", "4x-2y+6=0", True),
    ("y=2x+3", "y=2x+4", False),
    ("y=x^2", "2y=2x^2", True),
    ("y=x", "y^2=x^2", False),
    ("x=1", "2x=2", False),
    ("y=2x+3", "0=0", False),
    ("2x-y+2z-18=0", "-4x+2y-4z+36=0", True),
]


@pytest.mark.parametrize(("given", "truth", "expected"), EQUATIONS)
def test_equations_proportional(given: str, truth: str, expected: bool) -> None:
    assert equations_proportional(given, truth) is expected


def test_normalize_equation_keeps_the_variable() -> None:
    assert normalize_equation("$y = 2x + 3$") == "y=2x+3"
    assert normalize_answer("$y = 2x + 3$") == "2x+3"
    assert normalize_equation("x = 3") is None
    assert normalize_equation("x = 3, y = 2") is None
    assert normalize_equation("x \\le y + 1") is None


def test_an_equation_in_one_variable_is_not_a_constant_statement() -> None:
    """``17 \\bmod 5 = 2`` is its value; ``\\tan\\theta = 3\\theta`` is an equation in ``\\theta`` and stays
    whole (``test_grader_pool.py`` pins that math-verify then runs it to the limit)."""
    assert normalize_answer("17 \\bmod 5 = 2") == "2"
    assert normalize_answer("\\tan \\theta = 3\\theta") == "\\tan \\theta=3\\theta"


HOSTILE = [
    "\\equiv" * 300 + "\\pmod{5}",
    "mod " * 500,
    "}" * 2000,
    "&" * 2000,
    "x<1\\cup" * 250,
    "p=1,q=2," * 250,
    ";" * 2000,
    "\\\\" * 1000,
    "(" * 1000 + "x<1",
    "x<1 \\text{ or } " * 120 + "x>2",
    "-x" + "<-x" * 600,
    "1<|x|<" + "9" * 300,
]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_set_answers_are_contained(text: str) -> None:
    start = time.process_time()
    pieces = real_set_pieces(normalize_answer(text))
    assert time.process_time() - start < 0.5
    assert pieces is None or all(len(piece) <= len(text) for piece in pieces)
    outcome = grade(text, "(0,1)", timeout_s=1.0)
    assert outcome.correct is False and outcome.error is None
