"""Mathematical equivalence of two answers: numbers, then structure, then sympy (via math-verify).

The comparison runs in three layers, cheapest first:

1. exact string equality of the normalised answers, and exact comparison of plain numbers
   (integers, decimals rounded to ``float_rounding`` places, fractions, scientific notation,
   percentages) — in-process;
2. structure — tuples and intervals (ordered, brackets must match; a one-variable inequality is its
   interval), sets (unordered, repeats ignored), bare lists of answers (unordered, same size;
   ``a \\pm b`` is the pair ``a+b, a-b``; ``;`` and repeated assignments separate solutions),
   assignments to distinct variables (``x=3, y=2``: the tuple ``(3,2)``, or the same assignments in any
   order), unions of intervals, congruences (``r\\pmod{m}`` against a plain answer: ``r``) —
   in-process, recursing into the elements;
3. any other pair of single expressions goes to a worker process with a hard time limit
   (:mod:`simpletir.reward.grader_pool`), never to the caller's thread: an inequality against an
   interval, a union or an inequality is compared as a set of reals, two equations in several
   variables up to a constant factor (:mod:`simpletir.reward.sets`), anything else by math-verify's
   ``parse`` + ``verify`` (``float_rounding`` places, strict). Primes are compared before it
   (math-verify drops them: ``f'(x)`` would equal ``f(x)``). Two equations that this found different
   are compared once more with ``x =`` kept (``y = 2x + 3`` against ``2x - y + 3 = 0``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from simpletir.reward.normalize import (
    Number,
    assigned_name,
    choice_label,
    normalize_answer,
    normalize_equation,
    parse_number,
    prime_marks,
    top_level_split,
)
from simpletir.reward.sets import equations_proportional, has_relation, real_set_pieces, real_sets_equal

DEFAULT_TIMEOUT_S = 5.0
"""Hard limit for one grading call, as in the paper."""

MAX_ANSWER_CHARS = 2048
"""Answers longer than this are compared as normalised strings only (no structure, no sympy)."""

MAX_ELEMENTS = 64
"""Largest tuple/set/list compared element by element; larger ones compare as strings."""

MAX_DEPTH = 6
"""Deepest nesting of tuples/sets compared structurally; deeper parts go to sympy as a whole."""

FLOAT_ROUNDING = 6
"""Decimal places a decimal is rounded to before it is compared with a number: math-verify's
``float_rounding`` default, which the paper's grader used (``None``: a decimal equals only its exact value)."""

_ORDERED = "ordered"
_SET = "set"
_LIST = "list"
_ASSIGNED = "assigned"
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
    names: tuple[str, ...] = ()


def numbers_equal(given: Number, truth: Number, float_rounding: int | None = FLOAT_ROUNDING) -> bool:
    """Exact equality of two parsed numbers; inexact (decimal) ones are compared rounded to
    ``float_rounding`` places (``None``: exactly); a percentage also matches its value divided by 100
    (``50%`` = ``50`` = ``0.5``)."""
    candidates = [(given.value, truth.value)]
    if given.percent != truth.percent:
        if given.percent:
            candidates.append((given.value / 100, truth.value))
        else:
            candidates.append((given.value, truth.value / 100))
    rounded = float_rounding is not None and not (given.exact and truth.exact)
    for a, b in candidates:
        if a == b:
            return True
        if rounded and round(a, float_rounding) == round(b, float_rounding):
            return True
    return False


def quick_compare(given: str, truth: str, float_rounding: int | None = FLOAT_ROUNDING) -> bool | None:
    """Decide equality of two normalised answers without sympy, or ``None`` when it cannot."""
    if given == truth:
        return True
    a, b = parse_number(given), parse_number(truth)
    if a is not None and b is not None:
        return numbers_equal(a, b, float_rounding)
    if given.isalpha() and truth.isalpha() and len(given) > 1 and given.lower() == truth.lower():
        return True
    return None


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


def _items(text: str) -> tuple[str, ...]:
    """The non-empty top-level comma-separated parts of ``text``."""
    return tuple(p.strip() for p in top_level_split(text, ",") if p.strip())


def _assignment_period(names: tuple[str, ...]) -> int:
    """The length ``k >= 2`` of the repeating run of distinct names in ``p, q, p, q`` (solutions written
    as assignments one after another), or 0 when the names do not repeat that way."""
    for k in range(2, len(names) // 2 + 1):
        if (
            len(names) % k == 0
            and len(set(names[:k])) == k
            and all(name == names[i % k] for i, name in enumerate(names))
        ):
            return k
    return 0


def _split_structure(text: str) -> _Structure:
    """Classify a normalised answer as a union, a set, an ordered collection, a list of assignments to
    distinct variables, a bare list (``;`` separates solutions, and so do repeated assignments
    ``p=5,q=2,p=7,q=2``), or a single value."""
    pieces = top_level_split(text, "\\cup")
    if len(pieces) > 1:
        return _Structure(_UNION, tuple(p.strip() for p in pieces))
    solutions = tuple(p.strip() for p in top_level_split(text, ";") if p.strip()) if ";" in text else ()
    if len(solutions) > 1:
        return _Structure(_LIST, solutions)
    if text.startswith("\\{") and text.endswith("\\}") and _outer_pair_closes_at_end(text[1:]):
        return _Structure(_SET, _items(text[2:-2]))
    if text.startswith("{") and text.endswith("}") and _outer_pair_closes_at_end(text):
        items = _items(text[1:-1])
        if len(items) > 1:
            return _Structure(_SET, items)
    if text.startswith("\\langle") and text.endswith("\\rangle"):
        inner = text[len("\\langle") : -len("\\rangle")]
        return _Structure(_ORDERED, tuple(p.strip() for p in top_level_split(inner, ",")), "<>")
    if len(text) >= 2 and text[0] in "([" and text[-1] in ")]" and _outer_pair_closes_at_end(text):
        items = top_level_split(text[1:-1], ",")
        if len(items) > 1:
            return _Structure(_ORDERED, tuple(p.strip() for p in items), text[0] + text[-1])
        return _Structure(_SINGLE)
    items = _items(text)
    if len(items) > 1:
        names = tuple(assigned_name(item) or "" for item in items)
        if all(names) and len(set(names)) == len(names):
            return _Structure(_ASSIGNED, items, names=names)
        period = _assignment_period(names) if all(names) and len(names) <= MAX_ELEMENTS else 0
        if period:
            return _Structure(
                _LIST, tuple(",".join(items[i : i + period]) for i in range(0, len(items), period))
            )
        return _Structure(_LIST, items)
    if "\\pmod" not in text and len(top_level_split(text, "\\pm")) == 2:
        return _Structure(_LIST, (text.replace("\\pm", "+", 1), text.replace("\\pm", "-", 1)))
    return _Structure(_SINGLE)


def _distinct(items: tuple[str, ...]) -> tuple[str, ...]:
    """``items`` with repeats (equal after normalisation) removed: a set's elements."""
    return tuple(dict.fromkeys(normalize_answer(item) for item in items))


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


def _compare_assigned(a: _Structure, b: _Structure, equal: Callable[[str, str], bool]) -> bool:
    """Assignments to distinct variables (``a``) against ``b``: by name against the same variables,
    in order against a tuple or other names, as a list of values against a bare list or a set."""
    if b.kind == _ASSIGNED and sorted(a.names) == sorted(b.names):
        by_name = dict(zip(b.names, b.items, strict=True))
        return all(equal(item, by_name[name]) for name, item in zip(a.names, a.items, strict=True))
    if b.kind == _ASSIGNED or (b.kind == _ORDERED and b.brackets == "()"):
        return len(a.items) == len(b.items) and all(
            equal(x, y) for x, y in zip(a.items, b.items, strict=True)
        )
    if b.kind == _LIST:
        return _match_unordered(a.items, b.items, equal)
    if b.kind == _SET:
        return _match_unordered(_distinct(a.items), _distinct(b.items), equal)
    return False


def compare_normalized(
    given: str, truth: str, symbolic: SymbolicFn, float_rounding: int | None = FLOAT_ROUNDING, depth: int = 0
) -> bool:
    """Equivalence of two normalised answers; ``symbolic`` decides pairs of single expressions."""
    decided = quick_compare(given, truth, float_rounding)
    if decided is not None:
        return decided
    if depth >= MAX_DEPTH:
        return _single_equal(given, truth, symbolic)
    congruences = _congruence(given), _congruence(truth)
    if any(congruences):
        return _compare_congruences(given, truth, congruences, symbolic, float_rounding, depth)
    if (has_relation(given) or has_relation(truth)) and real_set_pieces(given) and real_set_pieces(truth):
        return _single_equal(given, truth, symbolic)
    a, b = _split_structure(given), _split_structure(truth)
    if len(a.items) > MAX_ELEMENTS or len(b.items) > MAX_ELEMENTS:
        return False

    def equal(x: str, y: str) -> bool:
        return compare_normalized(
            normalize_answer(x), normalize_answer(y), symbolic, float_rounding, depth + 1
        )

    if a.kind == _SINGLE and b.kind == _SINGLE:
        return _single_equal(given, truth, symbolic)
    if a.kind in (_SET, _LIST) and b.kind == _SINGLE and len(_distinct(a.items)) == 1:
        return equal(a.items[0], truth)
    if b.kind in (_SET, _LIST) and a.kind == _SINGLE and len(_distinct(b.items)) == 1:
        return equal(given, b.items[0])
    if a.kind == _ASSIGNED:
        return _compare_assigned(a, b, equal)
    if b.kind == _ASSIGNED:
        return _compare_assigned(b, a, lambda x, y: equal(y, x))
    if _SET in (a.kind, b.kind) and {a.kind, b.kind} <= {_SET, _LIST}:
        return _match_unordered(_distinct(a.items), _distinct(b.items), equal)
    if a.kind != b.kind:
        return False
    if a.kind == _ORDERED:
        return (
            a.brackets == b.brackets
            and len(a.items) == len(b.items)
            and all(equal(x, y) for x, y in zip(a.items, b.items, strict=True))
        )
    return _match_unordered(a.items, b.items, equal)


def _congruence(text: str) -> tuple[str, str] | None:
    """``(residue, modulus)`` of a normalised congruence ``r\\pmod{m}``, else ``None``."""
    if not text.endswith("}") or "\\pmod{" not in text:
        return None
    residue, _, modulus = text.rpartition("\\pmod{")
    residue, modulus = residue.strip(), modulus[:-1].strip()
    if not residue or not modulus or "\\pmod" in residue or "," in residue:
        return None
    return residue, modulus


def _compare_congruences(
    given: str,
    truth: str,
    congruences: tuple[tuple[str, str] | None, tuple[str, str] | None],
    symbolic: SymbolicFn,
    float_rounding: int | None,
    depth: int,
) -> bool:
    """A congruence ``r\\pmod{m}`` against a plain answer compares ``r`` with it (``17 \\equiv 2
    \\pmod{5}`` = ``2``); two congruences need the same residue and the same modulus."""
    a, b = congruences
    if a is not None and b is not None:
        return all(
            compare_normalized(normalize_answer(x), normalize_answer(y), symbolic, float_rounding, depth + 1)
            for x, y in zip(a, b, strict=True)
        )
    residue, other = (a[0], truth) if a is not None else (b[0], given)  # type: ignore[index]
    return compare_normalized(normalize_answer(residue), other, symbolic, float_rounding, depth + 1)


def _equations_equal(given: str, truth: str, symbolic: SymbolicFn) -> bool:
    """Two equations in two or more variables, ``x =`` kept (``y = 2x + 3`` and ``2x - y + 3 = 0``),
    compared by ``symbolic`` (:func:`~simpletir.reward.sets.equations_proportional`, then math-verify);
    ``False`` when either is not such an equation or both assign the same variable (already compared)."""
    if "=" not in given or "=" not in truth:
        return False
    a, b = normalize_equation(given), normalize_equation(truth)
    if a is None or b is None or a == b:
        return a is not None and a == b
    names = assigned_name(a), assigned_name(b)
    if names[0] is not None and names[0] == names[1]:
        return False
    return _single_equal(a, b, symbolic)


def _single_equal(given: str, truth: str, symbolic: SymbolicFn) -> bool:
    """Two single expressions: different primes decide at once, anything else goes to ``symbolic``."""
    if prime_marks(given) != prime_marks(truth):
        return False
    return symbolic(given, truth)


def symbolic_equal(given: str, truth: str, float_rounding: int | None = FLOAT_ROUNDING) -> bool:
    """Equality of two single answers with sympy, no timeout: call it only where the caller enforces one
    (the worker process). As sets of reals when one is an inequality
    (:func:`~simpletir.reward.sets.real_sets_equal`), as equations when one is a non-zero multiple of
    the other (:func:`~simpletir.reward.sets.equations_proportional`), else math-verify's
    ``verify(parse(truth), parse(given))`` (``float_rounding`` places, strict; with ``None`` every
    decimal is its exact rational). Only LaTeX parsing is used: math-verify's plain-expression fallback
    takes a number out of LaTeX it cannot parse (``4:30 p.m.`` → 4), which made unequal answers equal."""
    from math_verify import LatexExtractionConfig, parse, verify

    as_sets = real_sets_equal(given, truth, float_rounding)
    if as_sets is not None:
        return as_sets
    if equations_proportional(given, truth):
        return True
    targets = (LatexExtractionConfig(),)
    gold = parse(f"${truth}$", targets, parsing_timeout=None, raise_on_error=False)
    pred = parse(f"${given}$", targets, parsing_timeout=None, raise_on_error=False)
    if not gold or not pred:
        return False
    if float_rounding is None:
        gold, pred = _exact_decimals(gold), _exact_decimals(pred)
    equal = verify(
        gold,
        pred,
        float_rounding=FLOAT_ROUNDING if float_rounding is None else float_rounding,
        strict=True,
        timeout_seconds=None,
        raise_on_error=False,
    )
    return bool(equal) and not _exact_numbers_differ(gold[0], pred[0])


def _exact_decimals(parsed: list[object]) -> list[object]:
    """math-verify's parse results with every sympy ``Float`` replaced by the rational it writes."""
    import sympy

    def exact(value: object) -> object:
        if isinstance(value, (sympy.Basic, sympy.MatrixBase)):
            return value.xreplace({f: sympy.Rational(str(f)) for f in value.atoms(sympy.Float)})
        return value

    return [exact(value) for value in parsed]


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


def _pool_symbolic(deadline: float, float_rounding: int | None) -> SymbolicFn:
    """A symbolic comparator that runs in the shared worker pool within the time left to ``deadline``."""
    from simpletir.reward.grader_pool import default_pool

    def run(given: str, truth: str) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise GradingTimeout(f"grading exceeded its time limit before comparing {given[:50]!r}")
        return default_pool().compare(given, truth, remaining, float_rounding)

    return run


def _choice_decides(given: str, truth: str) -> bool | None:
    """A choice label (``(B) 12``) against a bare choice letter compares letters; else ``None``."""
    for labelled, other in ((given, truth), (truth, given)):
        label = choice_label(labelled)
        if label is not None and len(other) == 1 and other in "ABCDE":
            return label[0] == other
    return None


def _without_label(answer: str) -> str:
    """``answer`` without a leading choice label, when something follows the label."""
    label = choice_label(answer)
    return label[1] if label is not None and label[1] else answer


def grade(
    given: str,
    ground_truth: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    float_rounding: int | None = FLOAT_ROUNDING,
) -> Grade:
    """Grade ``given`` against ``ground_truth`` within ``timeout_s`` seconds, decimals rounded to
    ``float_rounding`` places (``None``: exact); never raises for bad input."""
    deadline = time.monotonic() + timeout_s
    if len(given) > MAX_ANSWER_CHARS or len(ground_truth) > MAX_ANSWER_CHARS:
        return Grade(correct=bool(given.strip()) and given.strip() == ground_truth.strip())
    a, b = normalize_answer(given), normalize_answer(ground_truth)
    if not a or not b:
        return Grade(correct=False)
    choice = _choice_decides(a, b)
    if choice is not None:
        return Grade(correct=choice)
    a, b = _without_label(a), _without_label(b)
    symbolic = _pool_symbolic(deadline, float_rounding)
    try:
        correct = compare_normalized(a, b, symbolic, float_rounding)
        return Grade(correct=correct or _equations_equal(given, ground_truth, symbolic))
    except GradingTimeout:
        return Grade(correct=False, timeout=True)
    except GradingError as exc:
        logger.warning("symbolic grading failed for %r vs %r: %s", a[:100], b[:100], exc)
        return Grade(correct=False, error=str(exc))


def grade_answer(
    given: str,
    ground_truth: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    float_rounding: int | None = FLOAT_ROUNDING,
) -> bool:
    """True when ``given`` is mathematically equivalent to ``ground_truth`` (bare or wrapped in ``$…$``,
    ``\\(…\\)``, ``\\[…\\]`` or ``\\boxed{…}``); False on timeout or error."""
    return grade(given, ground_truth, timeout_s=timeout_s, float_rounding=float_rounding).correct
