"""Final-answer extraction from a TIR response (model text and tool output together).

Order, as in the paper: the last non-empty ``\\boxed{…}``/``\\fbox{…}`` (nested braces allowed), else
the last "the answer is …" phrase, else the last number. ``\\boxed`` inside the *source* of a
```` ```python ```` code block is not an answer (the model wrote it, nothing printed it); the printed
``Code execution result: \\boxed{…}`` of ``final_answer(…)`` is. Every scan is linear and bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simpletir.reward.normalize import match_brace

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_FENCE = "```"
_CODE_TAGS = ("", "py", "python")
_ANSWER_PHRASE_RE = re.compile(
    r"(?i)(?:final answer|the answer)(?: to (?:the|this) (?:problem|question))?\s*(?:is|:)\s*:?"
)
_NUMBER_RE = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?")
_PHRASE_END_RE = re.compile(r"\n|\.(?=\s|$)|$")
_MATH_SPAN_RE = re.compile(r"^\$([^$]{1,2000})\$|^\\\((.{1,2000}?)\\\)|^\\\[(.{1,2000}?)\\\]", re.DOTALL)


@dataclass(frozen=True)
class ExtractConfig:
    """Which answer forms to look for; the defaults are the paper's."""

    answer_phrase: bool = True
    """Fall back to the last "the answer is …" / "final answer: …" phrase when there is no box."""
    last_number: bool = True
    """Fall back to the last number in the response when there is neither a box nor a phrase."""
    skip_code_source: bool = True
    """Ignore the source of ```` ``` ````/```` ```py ````/```` ```python ```` blocks (their output is kept)."""
    max_answer_chars: int = 10_000
    """Longest box content accepted; a longer or unclosed box is skipped (bounds the brace scan)."""
    max_boxes_tried: int = 32
    """How many boxes, from the last one backwards, are tried before giving up on boxes."""


DEFAULT_EXTRACT_CONFIG = ExtractConfig()


def mask_code_source(text: str) -> str:
    """``text`` with the source of every ```` ``` ````/```` ```py ````/```` ```python ```` block
    (an unclosed one runs to the end) replaced by a newline; other fences (```` ```output ````) stay."""
    pieces: list[str] = []
    position = 0
    while True:
        start = text.find(_FENCE, position)
        if start < 0:
            pieces.append(text[position:])
            break
        line_end = text.find("\n", start)
        tag = text[start + 3 : line_end if line_end >= 0 else len(text)].strip().lower()
        if tag not in _CODE_TAGS or line_end < 0:
            pieces.append(text[position : start + 3])
            position = start + 3
            continue
        pieces.append(text[position:start])
        pieces.append("\n")
        end = text.find(_FENCE, line_end)
        if end < 0:
            break
        position = end + 3
    return "".join(pieces)


def _box_content(text: str, start: int, max_chars: int) -> str | None:
    """Content of the box whose command ends at ``start``, or ``None`` if unclosed/too long."""
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        match = re.match(r"[^\s$]{1,100}", text[i : i + 100])
        return match.group(0) if match else None
    end = match_brace(text, i, limit=i + max_chars + 2)
    return text[i + 1 : end] if end >= 0 else None


def last_boxed(text: str, config: ExtractConfig = DEFAULT_EXTRACT_CONFIG) -> str | None:
    """Content of the last non-empty, closed ``\\boxed{…}``/``\\fbox{…}`` in ``text``, or ``None``."""
    starts = [m.end() for m in _BOX_RE.finditer(text)]
    for start in reversed(starts[-config.max_boxes_tried :]):
        content = _box_content(text, start, config.max_answer_chars)
        if content is not None and content.strip():
            return content.strip()
    return None


def _answer_phrase(text: str, max_chars: int) -> str | None:
    """The answer after the last "the answer is" / "final answer:" phrase, or ``None``."""
    last = None
    for last in _ANSWER_PHRASE_RE.finditer(text):  # noqa: B007
        pass
    if last is None:
        return None
    rest = text[last.end() : last.end() + max_chars].lstrip()
    math = _MATH_SPAN_RE.match(rest)
    if math:
        answer = next(group for group in math.groups() if group is not None)
    else:
        end = _PHRASE_END_RE.search(rest)
        answer = rest[: end.start()] if end else rest
    answer = answer.strip().rstrip(".").strip()
    return answer or None


def _last_number(text: str) -> str | None:
    """The last number (integer, decimal or ``a/b``) in ``text``, or ``None``."""
    last = None
    for last in _NUMBER_RE.finditer(text):  # noqa: B007
        pass
    return last.group(0) if last else None


def extract_answer(text: str, config: ExtractConfig = DEFAULT_EXTRACT_CONFIG) -> str | None:
    """The final answer in a TIR response (tool output included), or ``None`` when it has none."""
    if not text:
        return None
    searched = mask_code_source(text) if config.skip_code_source else text
    boxed = last_boxed(searched, config)
    if boxed is not None:
        return boxed
    if config.answer_phrase:
        phrase = _answer_phrase(searched, min(config.max_answer_chars, 2000))
        if phrase is not None:
            return phrase
    if config.last_number:
        return _last_number(searched)
    return None
