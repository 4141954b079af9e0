"""Tests for the TIR turn protocol helpers (prompt, code blocks, observations, turn kinds)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simpletir.tir.protocol import (
    FINAL_ANSWER_PRELUDE,
    TEXT_INSTRUCTION,
    TIR_INSTRUCTION,
    EndReason,
    TurnKind,
    build_program,
    build_prompt_messages,
    classify_turn,
    end_after_observation,
    end_after_turn,
    find_first_code_block,
    format_observation,
    observation_body,
    text_only_messages,
    truncate_middle,
)


def test_prompt_is_the_papers_instruction_then_the_question() -> None:
    messages = build_prompt_messages("What is 1+1?")
    assert messages == [{"role": "user", "content": TIR_INSTRUCTION + "What is 1+1?"}]
    assert TIR_INSTRUCTION.startswith("Solve the following problem step by step. You now have")
    assert TIR_INSTRUCTION.endswith("\\boxed{'The final answer goes here.'}\n\nUser Question:\n")
    assert "\n\nCode Format:\nEach code snippet is wrapped between ```." in TIR_INSTRUCTION


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Let me compute.\n```python\nprint(1+1)\n```\nrest", "print(1+1)"),
        ("```py\nx = 2\nprint(x)\n```", "x = 2\nprint(x)"),
        ("```\nprint(3)\n```", "print(3)"),
        ("a\n```python\nprint(1)\n```\nb\n```python\nprint(2)\n```", "print(1)"),
        ("```python\n\n  print(1)  \n\n```", "print(1)"),
        ("```python\nprint(1)\n", None),  # unclosed
        ("```python print(1)```", None),  # no newline after the fence
        ("```javascript\nconsole.log(1)\n```", None),  # other languages are not executed
        ("no code at all", None),
        ("inline `code` only", None),
    ],
)
def test_first_code_block(text: str, code: str | None) -> None:
    block = find_first_code_block(text)
    assert (block.code if block else None) == code
    if block is not None:
        assert text[block.end - 3 : block.end] == "```"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("```python\nprint(1)\n```", TurnKind.CODE),
        ("so \\boxed{2}", TurnKind.ANSWER),
        ("```python\nprint(1)\n```\n\\boxed{1}", TurnKind.CODE),
        ("I think the answer is 4.", TurnKind.VOID),
        ("```python\nwhile True:\n    pass", TurnKind.VOID),  # cut off inside an unclosed block
        ("", TurnKind.VOID),
    ],
)
def test_classify_turn(text: str, kind: TurnKind) -> None:
    assert classify_turn(text) is kind


def test_final_answer_prelude_prints_boxed() -> None:
    program = build_program("final_answer(3/4)")
    assert program.startswith(FINAL_ANSWER_PRELUDE)
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert out.stdout == "\\boxed{0.75}\n"


@pytest.mark.parametrize(
    ("stdout", "stderr", "timed_out", "body"),
    [
        ("4\n", "", False, "4\n"),
        ("", "", False, ""),
        (
            "partial\n",
            "Traceback...\n  File x\nZeroDivisionError: division by zero\n",
            False,
            "ZeroDivisionError: division by zero",
        ),
        ("", "", True, "Timeout"),
        ("1\n2\n", "", True, "1\n2\nTimeout"),
    ],
)
def test_observation_body(stdout: str, stderr: str, timed_out: bool, body: str) -> None:
    assert observation_body(stdout, stderr, timed_out=timed_out) == body


def test_truncation_keeps_head_and_tail() -> None:
    text = "a" * 300 + "b" * 300
    out = truncate_middle(text, 512)
    assert out.startswith("a" * 256) and out.endswith("b" * 256)
    assert "truncated to stay below 512 characters" in out
    assert truncate_middle("short", 512) == "short"


def test_format_observation() -> None:
    assert format_observation("4\n") == "\nCode execution result: 4\n\n"
    assert format_observation("") == "\nCode execution result: \n"  # the final upstream code
    assert format_observation("", show_empty=False) == ""  # its earlier version
    assert format_observation("4\n", show_empty=False) == "\nCode execution result: 4\n\n"


def test_text_only_messages_swap_the_instruction_for_the_text_one() -> None:
    messages = [{"role": "system", "content": TIR_INSTRUCTION}, *build_prompt_messages("What is 2 + 2?")]
    text = text_only_messages(messages)
    assert text[0] == messages[0]  # only user messages
    assert text[1] == {"role": "user", "content": "What is 2 + 2?" + TEXT_INSTRUCTION}
    assert "Python" not in text[1]["content"] and "\\boxed{}" in text[1]["content"]
    custom = [{"role": "user", "content": "Question: 1 + 1?"}]
    assert text_only_messages(custom) == custom  # a prompt without the TIR instruction is kept as given


@pytest.mark.parametrize(
    ("text", "used", "budget", "end"),
    [
        ("The answer is \\boxed{4}.", 10, 100, EndReason.ANSWER),
        ("I am not sure.", 10, 100, EndReason.VOID),
        ("I am not sure how to", 100, 100, EndReason.OVERLONG),  # a void turn cut by the budget
        ("```python\nprint(1)\n```", 100, 100, None),  # code runs even when the budget is spent
    ],
)
def test_the_turn_rule_after_a_turn(text: str, used: int, budget: int, end: EndReason | None) -> None:
    assert end_after_turn(classify_turn(text), used, budget) is end


@pytest.mark.parametrize(
    ("text", "kind", "end"),
    [
        ("```python\nprint(1)\n```\nSo \\boxed{1}.", TurnKind.ANSWER, EndReason.ANSWER),
        ("```python\nprint(1)\n```", TurnKind.VOID, EndReason.VOID),  # no tool: the code is only text
        ("I am not sure.", TurnKind.VOID, EndReason.VOID),
    ],
)
def test_without_the_tool_a_turn_is_an_answer_or_void_and_ends_the_trajectory(
    text: str, kind: TurnKind, end: EndReason
) -> None:
    assert classify_turn(text, tool_use=False) is kind
    assert end_after_turn(kind, 10, 100) is end
    assert end_after_turn(kind, 100, 100) is (
        EndReason.ANSWER if kind is TurnKind.ANSWER else EndReason.OVERLONG
    )


@pytest.mark.parametrize(
    ("text", "printed", "used", "budget", "last", "end"),
    [
        ("```python\nprint(1)\n```", True, 10, 100, False, EndReason.ANSWER),  # final_answer() in the code
        ("\\boxed{1}\n```python\nprint(1)\n```", False, 10, 100, False, EndReason.ANSWER),
        (
            "```python\nprint(1)\n```",
            False,
            100,
            100,
            True,
            EndReason.OVERLONG,
        ),  # the budget before the turn limit
        ("```python\nprint(1)\n```", False, 10, 100, True, EndReason.MAX_TURNS),
        ("```python\nprint(1)\n```", False, 10, 100, False, None),
    ],
)
def test_the_turn_rule_after_an_observation(
    text: str, printed: bool, used: int, budget: int, last: bool, end: EndReason | None
) -> None:
    assert end_after_observation(text, printed, used, budget, last) is end
