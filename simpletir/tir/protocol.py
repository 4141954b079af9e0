"""The SimpleTIR turn protocol as pure functions: prompt, code blocks, observations, turn kinds, and the turn rule.

Shared by the training agent loop and by evaluation against an OpenAI-compatible server, so both
see exactly what the paper's implementation sees (see PROTOCOL.md). Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

TIR_INSTRUCTION = (
    "Solve the following problem step by step. You now have the ability to selectively write executable "
    "Python code to enhance your reasoning process. The Python code will be executed by an external "
    'sandbox, and the output (after "Code execution result: ") is returned to aid your reasoning and help '
    "you arrive at the final answer. The Python code should be complete scripts, including necessary "
    "imports.\n"
    "\n"
    "Code Format:\n"
    "Each code snippet is wrapped between ```. You need to use `print()` to output intermediate results.\n"
    "\n"
    "Answer Format:\n"
    "You can use the `final_answer()` function in the code to return your final answer. For example, to "
    "answer the User Question: What is the result of the 5 + 3 + 1294.678?, you can write:\n"
    "```py\n"
    "answer = 5 + 3 + 1294.678\n"
    "final_answer(answer)\n"
    "```\n"
    "\n"
    "You can also use \\boxed to return your answer. The last part of your response should be:\n"
    "\\boxed{'The final answer goes here.'}\n"
    "\n"
    "User Question:\n"
)
"""The paper's instruction; the question follows it directly in the user message."""

TEXT_INSTRUCTION = "\nPlease reason step by step, and put your final answer within \\boxed{}."
"""The text-only baseline's instruction (no tool), after the question: Qwen2.5-Math's chain-of-thought instruction
(the upstream text-only baseline's own prompt is not in its released code)."""

TRAIN_AGENT = "simpletir_agent"
"""The agent loop's name in verl's registry (a row's ``agent_name``): training settings."""
EVAL_AGENT = "simpletir_agent_eval"
"""The same loop with validation settings (``val_max_turns``, ``val_max_tokens_per_turn``)."""

FINAL_ANSWER_PRELUDE = 'def final_answer(result):\n    print(f"\\\\boxed{{{result}}}")\n\n'
"""Prepended to every executed code block, so ``final_answer(x)`` prints ``\\boxed{x}``."""

OBSERVATION_PREFIX = "\nCode execution result: "
OBSERVATION_SUFFIX = "\n"
TIMEOUT_OBSERVATION = "Timeout"
FINAL_ANSWER_MARKER = "\\boxed{"
CODE_FENCE = "```"
"""The stop string of a turn: generation stops at every fence, and a stop at one that does not close a block
(an opening fence) is continued with another request."""
MAX_REQUESTS_PER_TURN = 64
"""Continuation requests one turn may take (each stop at a fence that does not close a block costs one)."""

# A complete code block: an opening fence (```, ```py or ```python) on its own line, the code, and a
# closing fence on a new line — the paper's pattern, so the same text counts as code in both.
CODE_BLOCK_RE = re.compile(r"```(?:py|python)?\n(.*?)\n```", re.DOTALL)


class TurnKind(str, Enum):
    """What a finished turn contains; ``VOID`` has neither a complete code block nor a final answer."""

    CODE = "code"
    ANSWER = "answer"
    VOID = "void"


class EndReason(str, Enum):
    """Why a trajectory ended (training and evaluation alike)."""

    ANSWER = "answer"
    """A final answer: ``\\boxed{`` in a turn or in its program's output."""
    VOID = "void"
    """A turn with neither a complete code block nor a final answer."""
    MAX_TURNS = "max_turns"
    """The turn limit."""
    OVERLONG = "overlong"
    """The response token budget ran out (a void turn that used it up ends here too)."""
    FAILED = "failed"
    """A generation request failed for good (evaluation only; training requests raise)."""


def end_after_turn(kind: TurnKind, used: int, budget: int) -> EndReason | None:
    """The turn rule, once a turn of ``kind`` is generated and the response holds ``used`` of ``budget`` tokens:
    how the trajectory ends, or None to run the turn's code block and go on (``end_after_observation``)."""
    if kind is TurnKind.ANSWER:
        return EndReason.ANSWER
    if kind is TurnKind.VOID:
        return EndReason.OVERLONG if used >= budget else EndReason.VOID
    return None


def end_after_observation(
    turn_text: str, printed_final_answer: bool, used: int, budget: int, last_turn: bool
) -> EndReason | None:
    """The turn rule after a code turn's observation is appended (``used`` of ``budget`` tokens): an answer in
    the turn or in the program's output ends it, then the budget, then the turn limit; None: another turn."""
    if has_final_answer(turn_text) or printed_final_answer:
        return EndReason.ANSWER
    if used >= budget:
        return EndReason.OVERLONG
    if last_turn:
        return EndReason.MAX_TURNS
    return None


@dataclass(frozen=True)
class CodeBlock:
    """The first complete code block of a turn: its code (stripped) and where the block ends in the text."""

    code: str
    start: int
    end: int


def build_user_content(question: str, instruction: str = TIR_INSTRUCTION) -> str:
    """Return the user message for ``question``: the instruction followed by the question."""
    return instruction + question


def build_prompt_messages(question: str, instruction: str = TIR_INSTRUCTION) -> list[dict[str, str]]:
    """Return the chat messages of a TIR prompt (one user message, no system message of our own)."""
    return [{"role": "user", "content": build_user_content(question, instruction)}]


def text_only_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The messages of a TIR prompt as the text-only baseline sees them: each user message that starts with
    ``TIR_INSTRUCTION`` becomes its question followed by ``TEXT_INSTRUCTION``; other messages are kept as given."""
    return [
        {**m, "content": m["content"].removeprefix(TIR_INSTRUCTION) + TEXT_INSTRUCTION}
        if m.get("role") == "user" and str(m.get("content", "")).startswith(TIR_INSTRUCTION)
        else m
        for m in messages
    ]


def verl_row(data_source: str, question: str, answer: str, extra_info: dict, train: bool) -> dict:
    """One row of a verl RL dataset in the columns every data file here has (DESIGN: ``data_source``, ``prompt``
    as chat messages with the instruction, ``ability``, ``reward_model.ground_truth``, ``extra_info``,
    ``agent_name``)."""
    return {
        "data_source": data_source,
        "prompt": build_prompt_messages(question),
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": answer},
        "extra_info": extra_info,
        "agent_name": TRAIN_AGENT if train else EVAL_AGENT,
    }


def find_first_code_block(text: str) -> CodeBlock | None:
    """Return the first complete code block in ``text``, or None when there is none."""
    match = CODE_BLOCK_RE.search(text)
    if match is None:
        return None
    return CodeBlock(code=match.group(1).strip(), start=match.start(), end=match.end())


def has_final_answer(text: str) -> bool:
    """True when ``text`` contains the final-answer marker ``\\boxed{``."""
    return FINAL_ANSWER_MARKER in text


def classify_turn(text: str, tool_use: bool = True) -> TurnKind:
    """Classify a turn's text; a turn with a code block is ``CODE`` even if it also has ``\\boxed{``.

    Without the tool (``tool_use`` False, the text-only baseline) a code block is text like any other: a turn is
    ``ANSWER`` or ``VOID``, so every trajectory ends after its one turn (``end_after_turn``)."""
    if tool_use and find_first_code_block(text) is not None:
        return TurnKind.CODE
    if has_final_answer(text):
        return TurnKind.ANSWER
    return TurnKind.VOID


def build_program(code: str, prelude: str = FINAL_ANSWER_PRELUDE) -> str:
    """Return the program actually executed for a code block: the ``final_answer`` prelude + the code."""
    return prelude + code


def truncate_middle(text: str, max_chars: int = 512) -> str:
    """Keep the first and last ``max_chars // 2`` characters with a truncation note between them."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    half = max_chars // 2
    note = f"\n..._This content has been truncated to stay below {max_chars} characters_...\n"
    return text[:half] + note + text[-half:]


def observation_body(
    stdout: str, stderr: str, *, timed_out: bool = False, max_chars: int = 512, stderr_lines: int = 1
) -> str:
    """Return what the model is shown of an execution: stdout, or the last stderr line(s) when stderr is set.

    Empty when the program printed nothing; ``Timeout`` on a timeout (after any output it printed).
    """
    if timed_out:
        shown = stdout.rstrip("\n")
        return truncate_middle(f"{shown}\n{TIMEOUT_OBSERVATION}" if shown else TIMEOUT_OBSERVATION, max_chars)
    if stderr:
        tail = "\n".join(stderr.splitlines()[-stderr_lines:]) if stderr_lines > 0 else stderr
        return truncate_middle(tail, max_chars)
    return truncate_middle(stdout, max_chars)


def format_observation(body: str, show_empty: bool = True) -> str:
    """Wrap an observation body as appended to the context. An empty body (a program that printed nothing) still
    appends ``"\\nCode execution result: \\n"``, as the final upstream code does; with ``show_empty`` False it
    appends nothing (the upstream code's earlier behaviour)."""
    if not body and not show_empty:
        return ""
    return f"{OBSERVATION_PREFIX}{body}{OBSERVATION_SUFFIX}"
