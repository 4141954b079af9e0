"""Properties of answer extraction that hold for any text (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from simpletir.reward import extract_answer
from simpletir.reward.extract import mask_code_source
from tests.reward.test_extract import HOSTILE_CPU_S, cpu_timed

CODE_TAGS = ["", "py", "python"]
OTHER_TAGS = ["output", "text", "json", "sympy", "Output"]

# Prose made of the pieces extraction reacts to (boxes, braces, math, phrases, numbers), no backticks.
PIECES = [
    "\\boxed{",
    "\\fbox{",
    "}",
    "{",
    "$",
    "\\(",
    "\\)",
    "the answer is ",
    "Final Answer: ",
    "\nAnswer: ",
    "x=",
    ", ",
    " and ",
    ". ",
    "\n",
    "-",
    "\\frac{1}{2}",
    "Code execution result: ",
]
prose = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text("abxyz0123456789 .,=+", max_size=6)), max_size=12
).map("".join)
token = st.text("abcdefxyz0123456789", min_size=1, max_size=6)


def block(tag: str, body: str) -> str:
    """One fenced block as a model or the agent loop writes it."""
    return f"```{tag}\n{body}\n```\n"


@given(prose, prose, prose, token, st.sampled_from(CODE_TAGS))
def test_a_box_in_code_source_never_counts(before: str, code: str, after: str, answer: str, tag: str) -> None:
    with_box = before + block(tag, f'print("\\\\boxed{{{answer}}}")\n{code}') + after
    without_box = before + block(tag, code) + after
    assert extract_answer(with_box) == extract_answer(without_box)


@given(prose, prose, prose, st.sampled_from(CODE_TAGS + OTHER_TAGS))
def test_a_fenced_block_is_skipped_or_kept_whole(before: str, body: str, after: str, tag: str) -> None:
    fenced = f"```{tag}\n{body}\n```"
    expected = before + ("\n" if tag.lower() in CODE_TAGS else fenced) + after
    assert mask_code_source(before + fenced + after) == expected


@given(prose, prose, token, token, st.sampled_from(CODE_TAGS + OTHER_TAGS))
def test_the_answer_after_any_block_is_found(before: str, body: str, first: str, last: str, tag: str) -> None:
    text = f"{before} First guess \\boxed{{{first}}}.\n{block(tag, body)}So it is \\boxed{{{last}}}."
    assert extract_answer(text) == last


balanced = st.recursive(
    st.text("abcxyz0123456789+-*/^(), ", min_size=1, max_size=8),
    lambda inner: st.tuples(inner, inner).map(lambda pair: f"{pair[0]}{{{pair[1]}}}"),
    max_leaves=6,
)


@given(prose.filter(lambda text: "\\" not in text and "{" not in text), balanced)
def test_a_lone_box_gives_its_content(before: str, content: str) -> None:
    extracted = extract_answer(f"{before}\\boxed{{{content}}}")
    assert extracted == (content.strip() or None) or not content.strip()


@settings(max_examples=50)
@given(
    st.lists(
        st.sampled_from([*PIECES, "```", "```python\n", "```output\n", "\\boxed", "9" * 50]), max_size=400
    )
)
def test_extraction_is_bounded_on_any_text(pieces: list[str]) -> None:
    text = "".join(pieces) * 20
    answer, seconds = cpu_timed(extract_answer, text)
    assert seconds < HOSTILE_CPU_S
    assert answer is None or isinstance(answer, str)
