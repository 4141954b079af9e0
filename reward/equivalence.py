"""Mathematical equivalence of two answers: numbers, then structure, then sympy (via math-verify).

The comparison runs in three layers, cheapest first:

1. exact string equality of the normalised answers, and exact comparison of plain numbers
   (integers, decimals rounded to 6 places, fractions, scientific notation, percentages) — in-process;
2. structure — tuples and intervals (ordered, brackets must match), sets and bare lists of answers
   (unordered, same size; ``a \\pm b`` is the pair ``a+b, a-b``), unions of intervals — in-process, recursing into the elements;
3. anything else pair of single expressions goes to math-verify's ``parse`` + ``verify``
   (float rounding 6, strict), which runs in a worker process with a hard time limit
   (:mod:`simpletir.reward.isolation`), never in the caller's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from simpletir.reward.normalize import Number, normalize_answer, parse_number

DEFAULT_TIMEOUT_S = 5.0
"""Hard limit for one grading call, as in the paper."""

MAX_ANSWER_CHARS = 2048
"""Answers longer than this are compared as normalised strings only (no structure, no sympy)."""

MAX_ELEMENTS = 64
"""Largest tuple/set/list compared element by element; larger ones compare as strings."""

MAX_DEPTH = 6
"""Deepest nesting of tuples/sets compared structurally; deeper parts go to sympy as a whole."""

FLOAT_ROUNDING = 6
"""Decimal places inexact numbers are rounded to before comparison (math-verify's default)."""

_ORDERED = "ordered"
_UNORDERED = "unordered"
_UNION = "union"
_SINGLE = "single"
_OPENERS = "([{"
_CLOSERS = ")]}"

logger = logging.getLogger(__name__)

SymbolicFn = Callable[[str, str], bool]


class GradingTimeout(Exception):
    """The symbolic comparison did not finish within the grading time limit."""


class GradingError(Exception):
    """The symbolic comparison failed in its worker (crash, memory limit, unexpected exception)."""


@dataclass(frozen=True)
class Grade:
    """Outcome of one grading call: whether it is correct, and why not when it is not."""

    correct: bool
    timeout: bool = False
    error: str | None = None


@dataclass(frozen=True)
class _Structure:
    kind: str
    items: tuple[str, ...] = ()
    brackets: str = ""


def numbers_equal(given: Number, truth: Number) -> bool:
    """Exact equality of two parsed numbers; inexact (decimal) ones are compared rounded to 6 places;
    a percentage also matches its value divided by 100 (``50%`` = ``50`` = ``0.5``)."""
    candidates = [(given.value, truth.value)]
    if given.percent != truth.percent:
        if given.percent:
            candidates.append((given.value / 100, truth.value))
        else:
            candidates.append((given.value, truth.value / 100))
    exact = given.exact and truth.exact
    for a, b in candidates:
        if a == b:
            return True
        if not exact and round(a, FLOAT_ROUNDING) == round(b, FLOAT_ROUNDING):
            return True
    return False


def quick_compare(given: str, truth: str) -> bool | None:
    """Decide equality of two normalised answers without sympy, or ``None`` when it cannot."""
    if given == truth:
        return True
    a, b = parse_number(given), parse_number(truth)
    if a is not None and b is not None:
        return numbers_equal(a, b)
    if given.isalpha() and truth.isalpha() and len(given) > 1 and given.lower() == truth.lower():
        return True
    return None


def _top_level_split(text: str, separator: str) -> list[str]:
    """Split ``text`` on ``separator`` where it is outside every bracket pair (linear scan)."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    n = len(text)
    width = len(separator)
    while i < n:
        ch = text[i]
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i += width
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _outer_pair_closes_at_end(text: str) -> bool:
    """True when the bracket opening at index 0 is closed by the last character."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth -= 1
            if depth == 0:
                return i == len(text) - 1
    return False


def _split_structure(text: str) -> _Structure:
    """Classify a normalised answer as a union, an ordered/unordered collection, or a single value."""
    pieces = _top_level_split(text, "\\cup")
    if len(pieces) > 1:
        return _Structure(_UNION, tuple(p.strip() for p in pieces))
    if text.startswith("\\{") and text.endswith("\\}") and _outer_pair_closes_at_end(text[1:]):
        return _Structure(
            _UNORDERED, tuple(p.strip() for p in _top_level_split(text[2:-2], ",") if p.strip())
        )
    if text.startswith("\\langle") and text.endswith("\\rangle"):
        inner = text[len("\\langle") : -len("\\rangle")]
        return _Structure(_ORDERED, tuple(p.strip() for p in _top_level_split(inner, ",")), "<>")
    if len(text) >= 2 and text[0] in "([" and text[-1] in ")]" and _outer_pair_closes_at_end(text):
        items = _top_level_split(text[1:-1], ",")
        if len(items) > 1:
            return _Structure(_ORDERED, tuple(p.strip() for p in items), text[0] + text[-1])
        return _Structure(_SINGLE)
    items = [p.strip() for p in _top_level_split(text, ",") if p.strip()]
    if len(items) > 1:
        return _Structure(_UNORDERED, tuple(items))
    if "\\pmod" not in text and len(_top_level_split(text, "\\pm")) == 2:
        return _Structure(_UNORDERED, (text.replace("\\pm", "+", 1), text.replace("\\pm", "-", 1)))
    return _Structure(_SINGLE)


def _match_unordered(
    given: tuple[str, ...], truth: tuple[str, ...], equal: Callable[[str, str], bool]
) -> bool:
    """True when the two multisets can be paired one-to-one by ``equal`` (Kuhn's matching)."""
    if len(given) != len(truth):
        return False
    cache: dict[tuple[int, int], bool] = {}

    def eq(i: int, j: int) -> bool:
        if (i, j) not in cache:
            cache[(i, j)] = equal(given[i], truth[j])
        return cache[(i, j)]

    owner: list[int] = [-1] * len(truth)

    def augment(i: int, seen: list[bool]) -> bool:
        for j in range(len(truth)):
            if not seen[j] and eq(i, j):
                seen[j] = True
                if owner[j] < 0 or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return all(augment(i, [False] * len(truth)) for i in range(len(given)))


def compare_normalized(given: str, truth: str, symbolic: SymbolicFn, depth: int = 0) -> bool:
    """Equivalence of two normalised answers; ``symbolic`` decides pairs of single expressions."""
    decided = quick_compare(given, truth)
    if decided is not None:
        return decided
    if depth >= MAX_DEPTH:
        return symbolic(given, truth)
    a, b = _split_structure(given), _split_structure(truth)
    if len(a.items) > MAX_ELEMENTS or len(b.items) > MAX_ELEMENTS:
        return False

    def equal(x: str, y: str) -> bool:
        return compare_normalized(normalize_answer(x), normalize_answer(y), symbolic, depth + 1)

    if a.kind == _SINGLE and b.kind == _SINGLE:
        return symbolic(given, truth)
    if a.kind == _UNORDERED and b.kind == _SINGLE and len(a.items) == 1:
        return equal(a.items[0], truth)
    if b.kind == _UNORDERED and a.kind == _SINGLE and len(b.items) == 1:
        return equal(given, b.items[0])
    if a.kind != b.kind:
        return False
    if a.kind == _ORDERED:
        return (
            a.brackets == b.brackets
            and len(a.items) == len(b.items)
            and all(equal(x, y) for x, y in zip(a.items, b.items, strict=True))
        )
    return _match_unordered(a.items, b.items, equal)


def symbolic_equal(given: str, truth: str) -> bool:
    """math-verify's ``verify(parse(truth), parse(given))`` (float rounding 6, strict), no timeout:
    call it only where the caller enforces one (the worker process)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    targets = (LatexExtractionConfig(), ExprExtractionConfig())
    gold = parse(f"${truth}$", targets, parsing_timeout=None, raise_on_error=False)
    pred = parse(f"${given}$", targets, parsing_timeout=None, raise_on_error=False)
    if not gold or not pred:
        return False
    equal = verify(
        gold, pred, float_rounding=FLOAT_ROUNDING, strict=True, timeout_seconds=None, raise_on_error=False
    )
    return bool(equal) and not _exact_numbers_differ(gold[0], pred[0])


def _exact_numbers_differ(gold: object, pred: object) -> bool:
    """True when both are exact constants (no floats, no symbols) that differ beyond 1e-12 relative —
    math-verify's 6-place rounding otherwise equates tiny values such as ``1/2^{99}`` and ``1/2^{98}``."""
    import sympy

    if not all(isinstance(x, sympy.Expr) and x.is_number and not x.atoms(sympy.Float) for x in (gold, pred)):
        return False
    a, b = sympy.N(gold, 50), sympy.N(pred, 50)
    scale = max(abs(a), abs(b))
    if not (scale.is_finite and scale.is_real) or scale == 0:
        return False
    return bool(abs(a - b) / scale > sympy.Float("1e-12"))


def _pool_symbolic(deadline: float) -> SymbolicFn:
    """A symbolic comparator that runs in the shared worker pool within the time left to ``deadline``."""
    from simpletir.reward.isolation import default_pool

    def run(given: str, truth: str) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise GradingTimeout(f"grading exceeded its time limit before comparing {given[:50]!r}")
        return default_pool().compare(given, truth, remaining)

    return run


def grade(given: str, ground_truth: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Grade:
    """Grade ``given`` against ``ground_truth`` within ``timeout_s`` seconds; never raises for bad input."""
    if len(given) > MAX_ANSWER_CHARS or len(ground_truth) > MAX_ANSWER_CHARS:
        return Grade(correct=bool(given.strip()) and given.strip() == ground_truth.strip())
    a, b = normalize_answer(given), normalize_answer(ground_truth)
    if not a or not b:
        return Grade(correct=False)
    symbolic = _pool_symbolic(time.monotonic() + timeout_s)
    try:
        return Grade(correct=compare_normalized(a, b, symbolic))
    except GradingTimeout:
        return Grade(correct=False, timeout=True)
    except GradingError as exc:
        logger.warning("symbolic grading failed for %r vs %r: %s", a[:100], b[:100], exc)
        return Grade(correct=False, error=str(exc))


def grade_answer(given: str, ground_truth: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True when ``given`` is mathematically equivalent to ``ground_truth`` (bare or wrapped in ``$…$``,
    ``\\(…\\)``, ``\\[…\\]`` or ``\\boxed{…}``); False on timeout or error."""
    return grade(given, ground_truth, timeout_s=timeout_s).correct
