"""Answers that stand for sets: subsets of the reals (intervals, unions, one-variable inequalities) and
the solution sets of equations in several variables (a line ``y = 2x + 3``, a plane).

Two halves. The string half runs in the caller's thread and only classifies normalised answers
(linear scans): :func:`has_relation`, :func:`real_set_pieces`. The sympy half runs in a grader worker
(:func:`simpletir.reward.equivalence.symbolic_equal`, under its time limit), never in the caller:

- :func:`real_sets_equal` compares two answers as subsets of the reals. An inequality is solved
  (sympy's ``solveset`` over the reals) in its one variable; only algebraic ones are (polynomials,
  ``|…|``, radicals): ``solveset`` returns one period of a trigonometric inequality (``\\sin x > 0`` →
  ``(0, \\pi)``), so those are not sets here. An inequality in a function value (``0 < f(x) < 1``) is
  not a set of the reals either: it is the range asked for only when the question asks for a range,
  which the grader does not see, so it is not equal to ``(0, 1)``.
- :func:`equations_proportional`: two equations are the same set when one, written ``lhs - rhs``, is a
  non-zero constant multiple of the other (``y = 2x + 3`` and ``4x - 2y + 6 = 0``) — for linear
  equations exactly when their solution sets are equal.
"""

from __future__ import annotations

from typing import Any

from simpletir.reward.normalize import RELATION, relation_parts, top_level_split

_ALGEBRAIC_FUNCTIONS = ("Abs",)
"""The only functions an inequality may apply to its variable to be solved here (radicals are powers)."""


def has_relation(text: str) -> bool:
    """True when a normalised answer contains an inequality sign (``<``, ``\\le``, ``≥``, …)."""
    return RELATION.search(text) is not None


def interval_literal(text: str) -> tuple[bool, str, str, bool] | None:
    """``(left_closed, low, high, right_closed)`` of a normalised interval such as ``(a,b]``, or ``None``."""
    if len(text) < 5 or text[0] not in "([" or text[-1] not in ")]":
        return None
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return None
    items = top_level_split(text[1:-1], ",")
    if len(items) != 2 or not all(item.strip() for item in items):
        return None
    return text[0] == "[", items[0].strip(), items[1].strip(), text[-1] == "]"


def _balanced(text: str) -> bool:
    """True when every bracket of ``text`` is closed, in order of depth (not checking their kinds)."""
    depth = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return False
    return depth == 0


def real_set_pieces(text: str) -> list[str] | None:
    """The ``\\cup`` pieces of a normalised answer when each is an interval or an inequality (no ``=``,
    no list, brackets balanced), i.e. when the answer may stand for a set of reals; else ``None``."""
    pieces = [piece.strip() for piece in top_level_split(text, "\\cup")]
    for piece in pieces:
        if interval_literal(piece) is not None:
            continue
        if not has_relation(piece) or "=" in RELATION.sub("", piece) or not _balanced(piece):
            return None
        if len(top_level_split(piece, ",")) > 1:
            return None
    return pieces


def _parse(latex: str) -> Any:
    """math-verify's sympy reading of one LaTeX expression, or ``None``."""
    import sympy
    from math_verify import LatexExtractionConfig, parse

    parsed = parse(f"${latex}$", (LatexExtractionConfig(),), parsing_timeout=None, raise_on_error=False)
    return parsed[0] if parsed and isinstance(parsed[0], sympy.Expr) else None


def _algebraic(expr: Any) -> bool:
    """True for an expression built from its symbols with arithmetic, rational powers and ``|…|`` only."""
    import sympy

    functions = expr.atoms(sympy.Function)
    if any(type(f).__name__ not in _ALGEBRAIC_FUNCTIONS for f in functions):
        return False
    return all(power.exp.is_Rational for power in expr.atoms(sympy.Pow))


def _relation(increasing: bool, closed: bool) -> Any:
    """sympy's relation class for a sign: ``<`` (increasing, strict), ``\\le``, ``>``, ``\\ge``."""
    import sympy

    return {
        (True, False): sympy.Lt,
        (True, True): sympy.Le,
        (False, False): sympy.Gt,
        (False, True): sympy.Ge,
    }[increasing, closed]


def _relation_set(piece: str) -> tuple[Any, Any] | None:
    """``(variable, set of reals)`` an inequality in one variable describes, or ``None``."""
    import sympy

    split = relation_parts(piece)
    if split is None:
        return None
    parts, kinds = split
    exprs = [_parse(part) for part in parts]
    if any(expr is None for expr in exprs):
        return None
    symbols = set().union(*(expr.free_symbols for expr in exprs))
    if len(symbols) != 1 or not all(_algebraic(expr) for expr in exprs):
        return None
    (variable,) = symbols
    real = sympy.Dummy("x", real=True)
    result = sympy.S.Reals
    for left, (increasing, closed), right in zip(exprs[:-1], kinds, exprs[1:], strict=True):
        relation = _relation(increasing, closed)(left.subs(variable, real), right.subs(variable, real))
        result = result.intersect(sympy.solveset(relation, real, sympy.S.Reals))
    return variable, result


def _interval_set(literal: tuple[bool, str, str, bool]) -> Any:
    """The sympy interval of an interval literal with constant ends, or ``None``."""
    import sympy

    left_closed, low, high, right_closed = literal
    start, end = _parse(low), _parse(high)
    if start is None or end is None or start.free_symbols or end.free_symbols:
        return None
    if not (start.is_extended_real and end.is_extended_real):
        return None
    return sympy.Interval(start, end, not left_closed, not right_closed)


def _real_set(pieces: list[str]) -> tuple[Any, bool] | None:
    """The union of the pieces as a sympy set, and whether every piece was an inequality; ``None``
    when a piece is not a set of the reals or the inequalities are in different variables."""
    import sympy

    sets = []
    variables = set()
    for piece in pieces:
        literal = interval_literal(piece)
        if literal is not None:
            interval = _interval_set(literal)
            if interval is None:
                return None
            sets.append(interval)
            continue
        solved = _relation_set(piece)
        if solved is None:
            return None
        variables.add(solved[0])
        sets.append(solved[1])
    if len(variables) > 1:
        return None
    return sympy.Union(*sets), not any(interval_literal(piece) for piece in pieces)


def _components(value: Any) -> list[tuple[Any, Any, bool, bool]] | None:
    """A set of reals as its sorted disjoint pieces ``(start, end, left_open, right_open)`` (a point is
    a closed piece), or ``None`` when it is not a finite union of intervals and points."""
    import sympy

    pieces = value.args if isinstance(value, sympy.Union) else (value,)
    out = []
    for piece in pieces:
        if isinstance(piece, sympy.Interval):
            out.append((piece.start, piece.end, bool(piece.left_open), bool(piece.right_open)))
        elif isinstance(piece, sympy.FiniteSet) and all(p.is_extended_real for p in piece):
            out.extend((p, p, False, False) for p in piece)
        elif piece is sympy.S.EmptySet:
            continue
        else:
            return None
    try:
        return sorted(out, key=lambda c: (sympy.N(c[0], 30), sympy.N(c[1], 30)))
    except TypeError:
        return None


def _ends_equal(a: Any, b: Any, float_rounding: int | None) -> bool:
    """Two interval ends are the same number (decimals rounded to ``float_rounding`` places)."""
    import sympy

    if a == b:
        return True
    if not (a.is_finite and b.is_finite):
        return False
    if a.atoms(sympy.Float) or b.atoms(sympy.Float):
        if float_rounding is None:
            return sympy.nsimplify(a, rational=True) == sympy.nsimplify(b, rational=True)
        return round(float(a), float_rounding) == round(float(b), float_rounding)
    return sympy.simplify(a - b) == 0


def real_sets_equal(given: str, truth: str, float_rounding: int | None) -> bool | None:
    """Equality of two normalised answers as subsets of the reals when one of them is an inequality
    (sympy; run it in a worker); ``None`` when this does not apply — no inequality, or two inequalities
    that are not sets of the reals (several variables: math-verify compares those). An interval
    against an inequality that is not a set of the reals (``(0,1)`` and ``0<f(x)<1``) is ``False``."""
    if not (has_relation(given) or has_relation(truth)):
        return None
    given_pieces, truth_pieces = real_set_pieces(given), real_set_pieces(truth)
    if given_pieces is None or truth_pieces is None:
        return None
    a, b = _real_set(given_pieces), _real_set(truth_pieces)
    if a is None or b is None:
        only_inequalities = all(interval_literal(p) is None for p in given_pieces + truth_pieces)
        return None if only_inequalities else False
    first, second = _components(a[0]), _components(b[0])
    if first is None or second is None or len(first) != len(second):
        return False
    return all(
        x[2:] == y[2:] and _ends_equal(x[0], y[0], float_rounding) and _ends_equal(x[1], y[1], float_rounding)
        for x, y in zip(first, second, strict=True)
    )


def equations_proportional(given: str, truth: str) -> bool:
    """True when both are single equations in the same two or more variables and ``lhs - rhs`` of one is
    a non-zero constant multiple of the other's (sympy; run it in a worker)."""
    if given.count("=") != 1 or truth.count("=") != 1 or has_relation(given) or has_relation(truth):
        return False
    import sympy

    sides = [[_parse(side) for side in text.split("=")] for text in (given, truth)]
    if any(expr is None for pair in sides for expr in pair):
        return False
    first, second = (left - right for left, right in sides)
    symbols = first.free_symbols
    if len(symbols) < 2 or symbols != second.free_symbols or second == 0:
        return False
    ratio = sympy.cancel(sympy.together(first / second))
    return bool(ratio.is_number and ratio.is_finite and ratio != 0)
