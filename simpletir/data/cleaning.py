"""Text cleaning of source problems: the duplicate key, LaTeX escapes a JSON round trip broke, DAPO's wrapper."""

from __future__ import annotations

import re

_DAPO_PREFIX = re.compile(r"^Solve the following math problem step by step\..*?\n\n", re.DOTALL)
_DAPO_SUFFIX = re.compile(r"\n\nRemember to put your answer on its own line after \"Answer:\"\.\s*$")
# Escapes that a JSON/Python round trip turned into control characters, recognised by the LaTeX command
# that follows (a real tab before "equal" is left alone): \f, \t, \b, \a, \v, \r.
_CONTROL_REPAIRS = {
    "\x0c": ("\\f", r"rac|rak|orall|lat"),
    "\t": ("\\t", r"ext|riangle|imes|heta|au\b|an\b|frac|ilde|op\b|o\b|hinspace"),
    "\x08": ("\\b", r"eta|inom|ar\b|egin|oxed|ig|f\{|mod|ot\b"),
    "\x07": ("\\a", r"lpha|pprox|ngle|st\b"),
    "\x0b": ("\\v", r"ec|arepsilon|arphi|dots|ee"),
    "\r": ("\\r", r"ight|ho\b|angle|m\b|floor|ceil"),
}
_CONTROL_PATTERNS = [
    (re.compile(f"{re.escape(c)}(?=(?:{follow}))"), fix) for c, (fix, follow) in _CONTROL_REPAIRS.items()
]
NO_ANSWER = {"", "none", "nan", "null"}


def normalize_text(text: str) -> str:
    """Lower-case letters and digits only: the key for duplicate and overlap checks."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def repair_control_characters(text: str) -> tuple[str, bool]:
    """Turn control characters that ate a LaTeX backslash back into the escape; returns (text, changed)."""
    fixed = text
    for pattern, replacement in _CONTROL_PATTERNS:
        fixed = pattern.sub(lambda _m, r=replacement: r, fixed)
    return fixed, fixed != text


def strip_dapo_wrapper(text: str) -> str:
    """Remove DAPO-Math-17k's instruction wrapper around the problem."""
    return _DAPO_SUFFIX.sub("", _DAPO_PREFIX.sub("", text)).strip()
