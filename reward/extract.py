"""Final-answer extraction from a TIR response (model text and tool output together).

What a reader would take as the final answer, in this order (each fallback can be switched off):

1. Fenced blocks are paired: a fence with any info string (```` ```python ````, ```` ```output ````,
   a bare ```` ``` ````) opens a block that the next fence closes. The *source* of a code block
   (```` ``` ````, ```` ```py ````, ```` ```python ````: the model wrote it, nothing printed it) is
   ignored; every other block (tool output) is kept whole, and so is the paper's
   ``Code execution result: …`` text.
2. The last non-empty ``\\boxed{…}``/``\\fbox{…}`` (the paper's rule); boxes separated only by commas,
   semicolons, spacing (``\\quad``, ``\\,``, ``~``), math delimiters and at most one "and"/"or" are one
   answer (``\\boxed{3}, \\boxed{5}`` → ``3, 5``). A final-answer statement *after* it whose answer
   follows at once (a number, math, a choice letter) wins over it.
3. The last final-answer statement ("the answer is …", "final answer: …", a line starting with
   "Answer:", and the same in a dozen other languages: "la respuesta es", "答案是", "Ответ:", …): the
   math right after it (several spans joined), else the rest of its sentence — after the sentence's
   last " is " when it starts with words ("The largest $n$ is 34." → ``34``).
4. The last math span (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``) unless a number follows it.
5. The last number (the paper's fallback).

Every scan is linear and bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simpletir.reward.normalize import match_brace

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_BOX_SEPARATORS = r"(?:[\s,;$~]|\\[,;:!]|\\q?quad(?![a-zA-Z]))*"
_BOX_JOIN_RE = re.compile(rf"{_BOX_SEPARATORS}(?:(?:and|or|\\text\{{\s*(?:and|or)\s*\}}){_BOX_SEPARATORS})?")
_MAX_BOX_GAP = 40
_FENCE = "```"
_FENCE_INFO_RE = re.compile(r"```[ \t]*([\w+#.-]*)")
_CODE_TAGS = ("", "py", "python")
_ANSWER_PHRASE_RE = re.compile(
    r"(?:\bfinal answer|\bthe answer|^[ \t>#*]*answer)(?: to (?:the|this) (?:problem|question))?"
    r"[ \t*]*(?:\bis\b|:)[ \t*]*:?",
    re.IGNORECASE | re.MULTILINE,
)
_OTHER_LANGUAGE_PHRASE_RE = re.compile(
    r"(?:\bla respuesta(?: final)? es\b|\ba resposta(?: final)? é|\bla réponse(?: finale)? est\b"
    r"|\bla risposta(?: finale)? è|\bdie (?:endgültige )?antwort (?:ist|lautet)\b|\bhet antwoord is\b"
    r"|\bответ(?:ом)? (?:является|будет|равен)|答案\s*(?:是|为|為|[:：])|答え(?:は|\s*[:：])|정답은"
    r"|\bđáp án (?:là|:)|\bjawabannya adalah\b|\b(?:respuesta|resposta) final\s*:|\bréponse finale\s*:"
    r"|^[ \t>#*]*(?:respuesta|resposta|réponse|risposta|antwort|antwoord|ответ|解答|정답|답|jawaban)[ \t*]*[:：])"
    r"[ \t*]*[:：]?",
    re.IGNORECASE | re.MULTILINE,
)
"""The final-answer statements of other languages ("la respuesta es", "die Antwort ist", "答案是", "Ответ:")."""
_OTHER_LANGUAGE_WORDS = ("spuesta", "sposta", "éponse", "antwo", "ответ", "答", "답", "đáp", "jawaban")
"""Pieces of the words of :data:`_OTHER_LANGUAGE_PHRASE_RE` (lower case: respuesta, resposta, risposta,
réponse, Antwort, antwoord, ответ, 答案, 答え, 解答, 정답, đáp án, jawaban): that regex runs only on a
text that has one, so that an English response pays substring tests for it (~1 µs), not a scan."""
_IMMEDIATE_RE = re.compile(r"[\s*]*(?:[-+(\[{$\\\d.]|\(?[A-E]\)?\.?[ \t*]*(?:\n|$))")
_MATH_SPAN_RE = re.compile(
    r"\$\$(.{1,2000}?)\$\$|\$((?:[^$\\]|\\.)[^$\\]*(?:\\.[^$\\]*)*)\$|\\\((.{1,2000}?)\\\)|\\\[(.{1,2000}?)\\\]",
    re.DOTALL,
)
_SPAN_SEPARATOR_RE = re.compile(r"[ \t,;]*(?:(?:and|or)[ \t]+)?")
_MATH_DELIMITER_RE = re.compile(r"(?<!\\)\$\$|(?<!\\)\$|\\\(|\\\)|\\\[|\\\]")
_CLOSERS = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}
_MAX_SPAN_CHARS = 2000
_NUMBER_RE = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?")
_SENTENCE_END_RE = re.compile(r"\n|\.(?=\s|$)|[。，；！？（]|$")


@dataclass(frozen=True)
class ExtractConfig:
    """Which answer forms to look for; the defaults follow the paper where it speaks (box, phrase, number)."""

    answer_phrase: bool = True
    """Use the last "the answer is …" / "final answer: …" / "Answer: …" statement: without a box, and
    over an earlier box when its answer follows the phrase at once."""
    last_math: bool = True
    """Without a box or a statement, use the last ``$…$``/``\\(…\\)``/``\\[…\\]`` span unless a number follows it."""
    last_number: bool = True
    """Fall back to the last number in the response when nothing above is found (the paper's fallback)."""
    skip_code_source: bool = True
    """Ignore the source of ```` ``` ````/```` ```py ````/```` ```python ```` blocks (their output is kept)."""
    max_answer_chars: int = 10_000
    """Longest box content accepted; a longer or unclosed box is skipped (bounds the brace scan)."""
    max_boxes_tried: int = 32
    """How many boxes, from the last one backwards, are tried before giving up on boxes."""


DEFAULT_EXTRACT_CONFIG = ExtractConfig()


@dataclass(frozen=True)
class _Found:
    """An answer found in the text, and where the text it came from starts and ends."""

    answer: str
    start: int
    end: int


def mask_code_source(text: str) -> str:
    """``text`` with the source of every ```` ``` ````/```` ```py ````/```` ```python ```` block (an
    unclosed one runs to the end) replaced by a newline; every other fenced block is kept whole."""
    pieces: list[str] = []
    position = 0
    while True:
        start = text.find(_FENCE, position)
        if start < 0:
            pieces.append(text[position:])
            return "".join(pieces)
        opening = _FENCE_INFO_RE.match(text, start)
        assert opening is not None
        end = text.find(_FENCE, opening.end())
        close = len(text) if end < 0 else end + len(_FENCE)
        if opening.group(1).lower() in _CODE_TAGS:
            pieces.append(text[position:start])
            pieces.append("\n")
        else:
            pieces.append(text[position:close])
        position = close


def _box_content(text: str, start: int, max_chars: int) -> tuple[str, int] | None:
    """Content and end of the box whose command ends at ``start``, or ``None`` if unclosed/too long."""
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        match = re.match(r"[^\s$]{1,100}", text[i : i + 100])
        return (match.group(0), i + match.end()) if match else None
    end = match_brace(text, i, limit=i + max_chars + 2)
    return (text[i + 1 : end], end + 1) if end >= 0 else None


def _last_box_run(text: str, config: ExtractConfig) -> _Found | None:
    """The last non-empty closed box, joined with the boxes right before it that only commas, "and"/"or"
    or math delimiters separate from it; ``None`` when there is no box."""
    boxes: list[_Found] = []
    for match in _BOX_RE.finditer(text):
        boxes.append(_Found("", match.start(), match.end()))
    run: list[_Found] = []
    for box in reversed(boxes[-config.max_boxes_tried :]):
        content = _box_content(text, box.end, config.max_answer_chars)
        if content is None or not content[0].strip():
            continue
        found = _Found(content[0].strip(), box.start, content[1])
        if run:
            gap = text[found.end : run[-1].start]
            if len(gap) > _MAX_BOX_GAP or not _BOX_JOIN_RE.fullmatch(gap):
                break
        run.append(found)
    if not run:
        return None
    return _Found(", ".join(box.answer for box in reversed(run)), run[-1].start, run[0].end)


def last_boxed(text: str, config: ExtractConfig = DEFAULT_EXTRACT_CONFIG) -> str | None:
    """Content of the last non-empty, closed ``\\boxed{…}``/``\\fbox{…}`` in ``text`` (boxes in a list
    joined with ", "), or ``None``."""
    run = _last_box_run(text, config)
    return None if run is None else run.answer


def _leading_math(text: str) -> list[str]:
    """The contents of the math spans at the start of ``text`` (separated by commas, "and", "or"; ``text``
    is what follows a statement, at most ``max_answer_chars``/2,000 characters, which bounds a ``$…$``)."""
    spans: list[str] = []
    position = 0
    while True:
        math = _MATH_SPAN_RE.match(text, position)
        if math is None:
            return spans
        content = next(group for group in math.groups() if group is not None).strip()
        if content:
            spans.append(content)
        position = _SPAN_SEPARATOR_RE.match(text, math.end()).end()  # type: ignore[union-attr]


def _statement_answer(rest: str) -> str | None:
    """The answer that follows a final-answer phrase (``rest`` is the text after it)."""
    rest = rest.lstrip()
    spans = _leading_math(rest)
    if spans:
        return ", ".join(spans)
    end = _SENTENCE_END_RE.search(rest)
    sentence = rest[: end.start()] if end else rest
    if not _IMMEDIATE_RE.match(sentence):
        _, is_, after = sentence.rpartition(" is ")
        if is_:
            spans = _leading_math(after.lstrip())
            sentence = ", ".join(spans) if spans else after
    answer = sentence.strip().strip("*").strip().rstrip(".").strip()
    return answer or None


def _mentions_other_language(text: str) -> bool:
    """True when ``text`` has one of :data:`_OTHER_LANGUAGE_WORDS` (any case)."""
    lowered = text.lower()
    return any(word in lowered for word in _OTHER_LANGUAGE_WORDS)


def _last_statement(text: str, max_chars: int, start: int = 0) -> tuple[_Found, bool] | None:
    """The answer of the last final-answer statement that starts at ``start`` or later, and whether it
    follows the phrase at once."""
    last = None
    for last in _ANSWER_PHRASE_RE.finditer(text, start):  # noqa: B007
        pass
    after = start if last is None else last.start() + 1
    if _mentions_other_language(text[after:]):
        for last in _OTHER_LANGUAGE_PHRASE_RE.finditer(text, after):  # noqa: B007
            pass
    if last is None:
        return None
    rest = text[last.end() : last.end() + max_chars]
    answer = _statement_answer(rest)
    if answer is None:
        return None
    return _Found(answer, last.start(), last.end()), bool(_IMMEDIATE_RE.match(rest))


def _last_math_span(text: str) -> _Found | None:
    """The last closed, non-empty math span of at most 2,000 characters (pairs found left to right)."""
    last = None
    opener = None
    content_start = 0
    for match in _MATH_DELIMITER_RE.finditer(text):
        token = match.group(0)
        if opener is None:
            if token in _CLOSERS:
                opener, content_start = token, match.end()
            continue
        if token != _CLOSERS[opener]:
            continue
        content = text[content_start : match.start()].strip()
        if content and match.start() - content_start <= _MAX_SPAN_CHARS:
            last = _Found(content, content_start - len(opener), match.end())
        opener = None
    return last


def _last_number(text: str) -> _Found | None:
    """The last number (integer, decimal or ``a/b``) in ``text``, or ``None``."""
    last = None
    for last in _NUMBER_RE.finditer(text):  # noqa: B007
        pass
    return _Found(last.group(0), last.start(), last.end()) if last else None


def extract_answer(text: str, config: ExtractConfig = DEFAULT_EXTRACT_CONFIG) -> str | None:
    """The final answer in a TIR response (tool output included), or ``None`` when it has none."""
    if not text:
        return None
    searched = mask_code_source(text) if config.skip_code_source else text
    box = _last_box_run(searched, config)
    after_box = 0 if box is None else box.end
    statement = (
        _last_statement(searched, min(config.max_answer_chars, 2000), after_box)
        if config.answer_phrase
        else None
    )
    if box is not None:
        if statement is not None and statement[1]:
            return statement[0].answer
        return box.answer
    if statement is not None:
        return statement[0].answer
    math = _last_math_span(searched) if config.last_math else None
    number = _last_number(searched) if config.last_number else None
    if math is not None and (number is None or number.start < math.end):
        return math.answer
    return number.answer if number is not None else None
