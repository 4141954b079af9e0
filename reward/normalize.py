"""LaTeX/string normalisation of a single answer, and an exact parser for plain numbers.

Every function here is linear in its input (no nested quantifiers, no recursion), so it is safe to run
in-process on hostile text; anything that needs sympy lives in :mod:`simpletir.reward.equivalence`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_NUMBER_CHARS = 200
"""Longest string :func:`parse_number` will look at; longer numbers go to the symbolic path."""

MAX_EXPONENT = 400
"""Largest ``|exponent|`` the fast path expands in scientific notation (``1.5e3``, ``2\\times10^{4}``)."""

_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_BOX_COMMANDS = ("\\boxed", "\\fbox", "\\displaystyle")

_LEFT_RIGHT = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|biggl|biggr)(?![a-zA-Z])\s*\.?")
_THOUSANDS_THIN = re.compile(r"(?<=\d)(?:,?\\[,! ]|\{,\}|~)(?=\d{3}(?!\d))")
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|\\q?quad(?![a-zA-Z])|~")
_DFRAC = re.compile(r"\\[dt]frac(?![a-zA-Z])")
_FRAC_ARGUMENT = r"(\\[a-zA-Z]+|[0-9a-zA-Z]|\{[^{}]{0,50}\})"
_FRAC_SHORT = re.compile(rf"\\frac(?![a-zA-Z])\s*{_FRAC_ARGUMENT}\s*{_FRAC_ARGUMENT}")
_PHANTOM = re.compile(r"\\[hv]?phantom\s*(?:\{[^{}]{0,50}\}|\\[a-zA-Z]+|.)")
_SQRT_PARENS = re.compile(r"\\sqrt\s*\(([^(){}]{1,50})\)")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![a-zA-Z])|\\circ\s*$")
_TEXT_CMD = re.compile(
    r"\\(?:text|textbf|textit|textrm|mbox|mathrm|mathbf|mathit|operatorname)\s*\{([^{}]*)\}"
)
_UNIT_TEXT = re.compile(
    r"(?<=[\d}.])\s*\\(?:text|textrm|mbox|mathrm)\s*\{\s*[A-Za-z][A-Za-z .]*\}(?:\^\{?\d\}?)?"
)
_CONJUNCTION = re.compile(r"\s*\\(?:text|textrm|mbox)\s*\{\s*(and|or)\s*\}\s*|\s+(and|or)\s+")
_UNIT_WORDS = re.compile(
    r"^([-+]?[\d.,/]*\d)\s+(?!(?:pi|sqrt|root|log|ln|sin|cos|tan|cot|sec|csc|exp|inf|infinity|i)\b)"
    r"[A-Za-z]{2,}(?:\s+[A-Za-z]+)*\.?$"
)
_VARIABLE = r"[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?"
_ASSIGNMENT = re.compile(rf"^\s*(?:{_VARIABLE}|\(\s*{_VARIABLE}(?:\s*,\s*{_VARIABLE})+\s*\))\s*=(?![=<>])\s*")
_ASSIGNED_NAME = re.compile(rf"^\s*({_VARIABLE})\s*=(?![=<>])")
_MEMBERSHIP = re.compile(rf"^\s*{_VARIABLE}\s*\\in(?![a-zA-Z])\s*")
_PRIME_POWER = re.compile(r"\^\s*\{\s*((?:\\prime\s*)+)\}|\^\s*\\prime(?![a-zA-Z])")
_PRIME_MARKS = re.compile(r"([A-Za-z0-9})\]])\s*('+)")
_CHOICE = re.compile(r"^\(([A-Ea-e])\)$")
_CHOICE_LABEL = re.compile(r"^\(([A-E])\)\s*(.*)$")
RELATION = re.compile(r"\\(?:leqslant|geqslant|leq|geq|le|ge|lt|gt)(?![a-zA-Z])|<=|>=|[<>≤≥]")
"""An inequality sign: ``<``, ``>``, ``\\le``, ``\\geq``, ``\\leqslant``, ``≤``, ``>=``, …"""
_LESS = ("<", "\\lt")
_LESS_EQUAL = ("<=", "≤", "\\le", "\\leq", "\\leqslant")
_GREATER_EQUAL = (">=", "≥", "\\ge", "\\geq", "\\geqslant")
_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+")
_VARIABLE_ONLY = re.compile(rf"^{_VARIABLE}$")
_THOUSANDS_COMMAS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_WS = re.compile(r"\s+")
_SPACE_AROUND_SYMBOL = re.compile(r" ?([^\w\s\\]) ?")
_ANSWER_PREFIX = re.compile(r"^(?:the\s+)?(?:final\s+)?answer(?:\s+is\b\s*:?|\s*:)\s*(?=\S)", re.IGNORECASE)
_ABS_VARIABLE = re.compile(rf"^\|{_VARIABLE}\|$")
_MOD_SUFFIX = re.compile(
    r"\s*(?:\\pmod\s*(?:\{([^{}]{1,50})\}|(\w+))|\(\s*\\b?mod\s*([^()]{1,50}?)\s*\)|\\b?mod\s*(?:\{([^{}]{1,50})\}|(\w+)))$"
)
_DEBRIS_TAILS = ("\\\\", "\\newline", "\\nonumber", "\\notag", "\\hfill", "\\cr", "&", "\\")
_DEBRIS_LAST = frozenset(".\\&}])eglr")
_CONSTANT_COMMAND = re.compile(
    r"\\(?:frac|sqrt|pi|infty|cdot|times|div|bmod|mod|binom|sin|cos|tan|cot|sec|csc|log|ln|exp|[lr]floor|[lr]ceil)"
)

_INT = r"[-+]?\d+"
_DECIMAL = r"[-+]?(?:\d+\.\d*|\.\d+)"
_NUMBER_RES = {
    "int": re.compile(rf"^{_INT}$"),
    "decimal": re.compile(rf"^{_DECIMAL}$"),
    "slash": re.compile(r"^([-+]?\d+)/(\d+)$"),
    "frac": re.compile(r"^([-+]?)\\frac\{([-+]?\d+)\}\{(\d+)\}$"),
    "sci_e": re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+))[eE]([-+]?\d{1,4})$"),
    "sci_times": re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+))(?:\\times|\\cdot|\*)10\^\{?([-+]?\d{1,4})\}?$"),
}


@dataclass(frozen=True)
class Number:
    """An exactly parsed number: its value, whether it was written exactly, and whether it had a ``%``."""

    value: Fraction
    exact: bool
    percent: bool


def match_brace(text: str, open_index: int, limit: int | None = None) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_index`` (a backslash escapes the next character),
    or -1 when it is not closed before ``limit`` (default: the end); iterative and linear."""
    depth = 0
    i = open_index
    end = len(text) if limit is None else min(len(text), limit)
    while i < end:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def strip_wrappers(answer: str) -> str:
    """Remove math delimiters (``$…$``, ``\\(…\\)``, ``\\[…\\]``) and whole-answer ``\\boxed{…}`` layers."""
    text = answer.strip()
    changed = True
    while changed and text:
        changed = False
        for left, right in _WRAPPERS:
            if len(text) >= len(left) + len(right) and text.startswith(left) and text.endswith(right):
                text = text[len(left) : len(text) - len(right)].strip()
                changed = True
                break
        for command in _BOX_COMMANDS:
            if not text.startswith(command):
                continue
            rest = text[len(command) :].lstrip()
            if command == "\\displaystyle":
                text, changed = rest, True
                break
            if rest.startswith("{") and match_brace(rest, 0) == len(rest) - 1:
                text, changed = rest[1:-1].strip(), True
                break
    return text


def _braced_fraction(match: re.Match[str]) -> str:
    """``\\frac`` with both arguments braced (``\\frac12``, ``\\frac\\pi 2``, ``\\frac 9{20}``)."""
    numerator, denominator = (arg[1:-1] if arg.startswith("{") else arg for arg in match.groups())
    return f"\\frac{{{numerator}}}{{{denominator}}}"


def _conjunctions(text: str) -> str:
    """ "and"/"or" between answers as a comma (a list), except "or" between inequalities: ``\\cup``
    (``x < -2 \\text{ or } x > 2`` is a union of intervals)."""
    relations: list[bool] = []

    def replace(match: re.Match[str]) -> str:
        if (match.group(1) or match.group(2)) != "or":
            return ","
        if not relations:
            relations.append(RELATION.search(text) is not None)
        return "\\cup " if relations[0] else ","

    return _CONJUNCTION.sub(replace, text)


def _unwrap_text(text: str) -> str:
    """Drop unit ``\\text{…}`` after a number and unwrap the remaining text commands to their content."""
    if "and" in text or "or" in text:
        text = _conjunctions(text)
    text = _UNIT_TEXT.sub("", text)
    previous = None
    while previous != text:
        previous = text
        text = _TEXT_CMD.sub(r"\1", text)
    return text


def top_level_split(text: str, separator: str) -> list[str]:
    """Split ``text`` on ``separator`` where it is outside every bracket pair (linear scan)."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    n = len(text)
    width = len(separator)
    while i < n:
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i += width
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _strip_debris(text: str) -> str:
    """``text`` without LaTeX left over around the answer: a trailing ``\\``, ``\\\\``, ``\\nonumber``,
    ``&``, period or unmatched ``}``/``\\)``/``\\]``, and a leading ``&`` or ``=`` (``&= 5`` from an
    ``align``)."""
    while text and text[0] in "&=" and not text.startswith("=="):
        text = text[1:].lstrip()
    while text and text[-1] in _DEBRIS_LAST:
        last = text[-1]
        if last == ".":
            text = text.rstrip(".").rstrip()
        elif last == "}":
            if text.count("}") <= text.count("{"):
                break
            text = text[:-1].rstrip()
        elif last in ")]":
            if not text.endswith(("\\)", "\\]")) or ("\\(" if last == ")" else "\\[") in text:
                break
            text = text[:-2].rstrip()
        else:
            tail = next((tail for tail in _DEBRIS_TAILS if text.endswith(tail)), None)
            if tail is None:
                break
            text = text[: -len(tail)].rstrip()
    return text


def _equation_value(text: str) -> str:
    """The value ``v`` of a statement ``E = v`` (or ``x = E = v``) whose other sides are constants:
    ``17 \\bmod 5 = 2`` → ``2``, ``x = 12/4 = 3`` → ``3``; any other text unchanged."""
    if "," in text or RELATION.search(text):
        return text
    parts = [part.strip() for part in text.split("=")]
    if not all(_is_constant(part) for part in parts[1:]):
        return text
    if _is_constant(parts[0]) or (len(parts) > 2 and _VARIABLE_ONLY.match(parts[0])):
        return parts[-1]
    return text


def _congruence(text: str) -> str:
    """A congruence as ``r\\pmod{m}``: ``17 \\equiv 2 \\pmod{5}``, ``x \\equiv 2 \\pmod 5`` and
    ``n \\equiv 2 \\mod 5`` → ``2\\pmod{5}`` (the left side dropped when it is a constant or a variable);
    a trailing ``\\pmod{m}`` or ``(\\bmod m)`` written as ``\\pmod{m}``; any other text unchanged."""
    left, equiv, right = text.partition("\\equiv")
    body = right if equiv else text
    match = _MOD_SUFFIX.search(body)
    if match is None or (
        not equiv and match.group(1) is None and match.group(2) is None and match.group(3) is None
    ):
        return text
    residue = body[: match.start()].strip()
    modulus = next(group for group in match.groups() if group is not None).strip()
    if not residue:
        return text
    if equiv and not (_is_constant(left.strip()) or _VARIABLE_ONLY.match(left.strip())):
        return text
    return f"{residue}\\pmod{{{modulus}}}"


def _normalize(answer: str, strip_assignment: bool) -> str:
    """:func:`normalize_answer`, with or without the ``x =`` in front removed."""
    text = strip_wrappers(answer)
    text = _THOUSANDS_THIN.sub("", text)
    text = _LEFT_RIGHT.sub("", text)
    text = text.replace("{,}", ",")
    text = _SPACING.sub(" ", text)
    text = _DFRAC.sub(r"\\frac", text)
    text = _FRAC_SHORT.sub(_braced_fraction, text)
    text = _PHANTOM.sub("", text)
    text = _SQRT_PARENS.sub(r"\\sqrt{\1}", text)
    text = _PRIME_POWER.sub(lambda m: "'" * max(1, m.group(0).count("\\prime")), text)
    text = _DEGREES.sub("", text)
    text = _unwrap_text(text)
    text = text.replace("\\%", "%").replace("\\$", "").replace("$", "")
    text = _WS.sub(" ", text).strip()
    if text[:1] in "AaFfTt":
        text = _ANSWER_PREFIX.sub("", text, count=1)
    if text and (text[0] in "&=" or text[-1] in _DEBRIS_LAST):
        text = _strip_debris(text)
    if strip_assignment and text.count("=") == 1:
        text = _ASSIGNMENT.sub("", text, count=1)
    if "=" in text:
        text = _equation_value(text)
    if "mod" in text:
        text = _congruence(text)
    text = _MEMBERSHIP.sub("", text, count=1)
    text = _UNIT_WORDS.sub(r"\1", text)
    thousands = _THOUSANDS_COMMAS.match(text)
    text = _SPACE_AROUND_SYMBOL.sub(r"\1", text).strip()
    choice = _CHOICE.match(text)
    if choice:
        text = choice.group(1).upper()
    if thousands:
        text = text.replace(",", "")
    if "\\cup" in text and RELATION.search(text):
        return "\\cup".join(
            inequality_interval(p.strip()) or p.strip() for p in top_level_split(text, "\\cup")
        )
    return inequality_interval(text) or text


def normalize_answer(answer: str) -> str:
    """Canonical string form of one answer: wrappers, spacing, ``\\left``/``\\right``, units, degrees,
    ``x =``, an ``Answer:`` label and trailing LaTeX debris removed; ``\\dfrac``/``\\tfrac`` → ``\\frac``;
    thousands separators dropped; a one-variable inequality as its interval (or union), a constant
    statement ``E = v`` as ``v``, a congruence as ``r\\pmod{m}``."""
    return _normalize(answer, strip_assignment=True)


def normalize_equation(answer: str) -> str | None:
    """The normalised form of an answer that is one equation in two or more variables (a line
    ``y = 2x + 3``, a plane), ``x =`` kept; ``None`` for anything else."""
    text = _normalize(answer, strip_assignment=False)
    if text.count("=") != 1 or RELATION.search(text) or len(top_level_split(text, ",")) > 1:
        return None
    letters = {ch for ch in _LATEX_COMMAND.sub("", text) if ch.isalpha()}
    return text if len(letters) >= 2 else None


def _is_constant(text: str) -> bool:
    """True for a number written out: :func:`_is_value`, and every command an operator or a constant
    (``17 \\bmod 5``, ``\\frac{\\pi}{2}``; not ``3\\theta``)."""
    return _is_value(text) and all(
        _CONSTANT_COMMAND.fullmatch(command) for command in _LATEX_COMMAND.findall(text)
    )


def _is_value(text: str) -> bool:
    """True for a constant bound: no variable letters outside LaTeX commands (``\\pi``, ``\\sqrt`` …)."""
    return bool(text) and not any(ch.isalpha() for ch in _LATEX_COMMAND.sub("", text))


def relation_parts(text: str) -> tuple[list[str], list[tuple[bool, bool]]] | None:
    """The sides of an inequality chain and, for each sign, whether it is ``<``-like (increasing) and
    whether it is non-strict: ``1<|z|\\le 3`` → ``(["1", "|z|", "3"], [(True, False), (True, True)])``;
    ``None`` without a sign or with an ``=`` outside the signs."""
    operators = RELATION.findall(text)
    if not operators or "=" in RELATION.sub("", text):
        return None
    parts = [p.strip().removeprefix("+") for p in RELATION.split(text)]
    if not all(parts):
        return None
    kinds = [
        (op in _LESS or op in _LESS_EQUAL, op in _LESS_EQUAL or op in _GREATER_EQUAL) for op in operators
    ]
    return parts, kinds


def _single_term(text: str) -> bool:
    """True when ``text`` has no ``+``/``-`` outside brackets after its first character."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch in "+-" and depth == 0 and i > 0 and text[i - 1] not in "^_":
            return False
    return True


def _negate(value: str) -> str:
    """``-value`` as text: ``2`` → ``-2``, ``-\\frac{1}{2}`` → ``\\frac{1}{2}``, ``1-\\sqrt{5}`` → ``-(1-\\sqrt{5})``."""
    if value.startswith("-") and _single_term(value[1:]):
        return value[1:]
    return f"-{value}" if _single_term(value) else f"-({value})"


def _interval(low: str, high: str, closed: list[bool]) -> str:
    """The interval from ``low`` to ``high`` with each end closed or open, as text."""
    return ("[" if closed[0] else "(") + f"{low},{high}" + ("]" if closed[1] else ")")


def _abs_set(low: str, high: str, closed: list[bool]) -> str | None:
    """The set of ``x`` with ``|x|`` between ``low`` and ``high`` (numbers or infinities; the lower
    bound positive), as an interval or a union; ``None`` when a bound is not a plain number."""
    lower = None if low == "-\\infty" else parse_number(low)
    upper = None if high == "\\infty" else parse_number(high)
    if (lower is None and low != "-\\infty") or (upper is None and high != "\\infty"):
        return None
    if lower is None:
        if upper is None or upper.value <= 0:
            return None
        return _interval(_negate(high), high, [closed[1], closed[1]])
    if lower.value <= 0 or (upper is not None and upper.value <= lower.value):
        return None
    left = _interval(_negate(high), _negate(low), [closed[1], closed[0]])
    return left + "\\cup" + _interval(low, high, closed)


def inequality_interval(text: str) -> str | None:
    """The set a one-variable inequality describes: an interval (``-3<x\\le 5`` → ``(-3,5]``, ``x>2``
    → ``(2,\\infty)``, ``-x>-1`` → ``(-\\infty,1)``) or, for ``|x|`` against numbers, a union
    (``|x|>2`` → ``(-\\infty,-2)\\cup(2,\\infty)``); ``None`` when ``text`` is not such an inequality."""
    split = relation_parts(text)
    if split is None or len(split[1]) > 2:
        return None
    parts, kinds = split
    increasing = [kind[0] for kind in kinds]
    closed = [kind[1] for kind in kinds]
    if len(parts) == 3:
        low, term, high = parts
        if increasing[0] != increasing[1] or not (_is_value(low) and _is_value(high)):
            return None
        if not increasing[0]:
            low, high, closed = high, low, closed[::-1]
    elif _is_value(parts[1]) and not _is_value(parts[0]):
        term = parts[0]
        low, high = ("-\\infty", parts[1]) if increasing[0] else (parts[1], "\\infty")
        closed = [False, closed[0]] if increasing[0] else [closed[0], False]
    elif _is_value(parts[0]) and not _is_value(parts[1]):
        term = parts[1]
        low, high = (parts[0], "\\infty") if increasing[0] else ("-\\infty", parts[0])
        closed = [closed[0], False] if increasing[0] else [False, closed[0]]
    else:
        return None
    if _VARIABLE_ONLY.match(term):
        return _interval(low, high, closed)
    if term.startswith("-") and _VARIABLE_ONLY.match(term[1:]):
        return _interval(_negate(high), _negate(low), closed[::-1])
    if _ABS_VARIABLE.match(term):
        return _abs_set(low, high, closed)
    return None


def prime_marks(text: str) -> list[tuple[str, int]]:
    """The primed symbols (letter, digit or closing bracket) of a normalised answer and their prime
    counts (``f''(x)+g'`` → f: 2, g: 1), sorted: two answers that differ here are different, whatever
    sympy says (math-verify drops primes)."""
    return sorted((m.group(1), len(m.group(2))) for m in _PRIME_MARKS.finditer(text))


def choice_label(text: str) -> tuple[str, str] | None:
    """``(letter, rest)`` for a normalised answer that starts with a choice label (``(B) 12``), else ``None``."""
    match = _CHOICE_LABEL.match(text)
    return (match.group(1), match.group(2).strip()) if match else None


def assigned_name(text: str) -> str | None:
    """The variable of an assignment such as ``x = 3`` or ``a_1=5`` (before normalisation), else ``None``."""
    match = _ASSIGNED_NAME.match(text)
    return match.group(1).replace("{", "").replace("}", "") if match else None


def parse_number(text: str) -> Number | None:
    """Parse a normalised plain number (integer, decimal, ``a/b``, ``\\frac{a}{b}``, scientific, ``%``)
    exactly; ``None`` for anything else (including strings longer than :data:`MAX_NUMBER_CHARS`)."""
    if not text or len(text) > MAX_NUMBER_CHARS:
        return None
    percent = text.endswith("%")
    if percent:
        text = text[:-1].rstrip()
    text = text.replace(" ", "")
    if _NUMBER_RES["int"].match(text):
        return Number(Fraction(int(text)), True, percent)
    if _NUMBER_RES["decimal"].match(text):
        return Number(Fraction(text), False, percent)
    match = _NUMBER_RES["slash"].match(text)
    if match:
        numerator, denominator = int(match.group(1)), int(match.group(2))
        return Number(Fraction(numerator, denominator), True, percent) if denominator else None
    match = _NUMBER_RES["frac"].match(text)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        numerator, denominator = int(match.group(2)), int(match.group(3))
        return Number(sign * Fraction(numerator, denominator), True, percent) if denominator else None
    for key in ("sci_e", "sci_times"):
        match = _NUMBER_RES[key].match(text)
        if match:
            exponent = int(match.group(2))
            if abs(exponent) > MAX_EXPONENT:
                return None
            return Number(Fraction(match.group(1)) * Fraction(10) ** exponent, False, percent)
    return None
