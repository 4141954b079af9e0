"""A tiny TIR-capable model and its data, built locally in about a minute on a CPU (no hub, no download).

``recipes/train_tiny_cpu.sh`` trains it for real through verl; tests use it the same way. What is built:

- a problem set that ships with the package: arithmetic on three-digit and two-digit numbers (``347 * 28``,
  ``912 % 37``, ...) with exact answers (``tiny_problems``), generated from a fixed seed. A model this small
  cannot compute them in its head but can copy the operands into ``print()``: the tool is what makes them
  solvable, as in the paper. The first ``val_problems`` are held out: never demonstrated, never trained on;
- TIR demonstrations (of the other problems only) in the project's own protocol (``simpletir.tir.protocol``): the
  paper's instruction, a code block, the ``Code execution result:`` observation, ``\\boxed{}``. Most of them
  answer *without* the tool (a number the model can only guess), some use it, some stop with no answer (void
  turns). The warm start has two phases: first mostly tool use (``skill_weights``: the format, copying the
  operands into code), then mostly answers without the tool (``style_weights``: the habits of a base model,
  which rarely reaches for the tool unprompted). So the starting model can use the tool but seldom does: it is
  poor, GRPO groups mix right and wrong answers, and RL has something to find;
- a byte-level BPE tokenizer trained on that text, with a ChatML-style chat template;
- a small Llama-style model (randomly initialised, ~0.6M parameters, head_dim 32 as vLLM's CPU attention
  needs) warm-started on the demonstrations.

Everything is deterministic for a given ``TinyModelSpec``; ``build_tiny_model`` caches the result in a
folder keyed by the spec, written atomically (a concurrent builder never sees half a model).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from simpletir.tir.protocol import (
    FINAL_ANSWER_MARKER,
    OBSERVATION_PREFIX,
    OBSERVATION_SUFFIX,
    build_user_content,
    verl_row,
)

DATA_SOURCE = "tiny_arith"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
EOS = "<|im_end|>"
PAD = "<|endoftext|>"


@dataclass(frozen=True)
class TinyModelSpec:
    """What to build; every field changes the cache key."""

    vocab_size: int = 1024
    """BPE vocabulary size (special tokens included)."""
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    """Attention heads: head_dim = hidden_size / num_heads = 32, the smallest vLLM's CPU attention runs."""
    max_positions: int = 2048
    num_problems: int = 704
    """Arithmetic problems generated in all: the held-out ones, then demonstrations and RL prompts."""
    operands: tuple[int, int] = (99, 9)
    """The largest first and second operand of a problem (the smallest is 2)."""
    val_problems: int = 64
    """The first problems, held out for evaluation (``val.parquet``): not demonstrated, not trained on."""
    skill_weights: tuple[int, int, int, int] = (3, 3, 1, 1)
    """Phase 1 of the warm start (the skills: the format, copying operands into code): how often each
    ``demonstration`` style is drawn: print then box, ``final_answer``, box directly, void."""
    warmup_steps: int = 1200
    """Supervised steps of phase 1."""
    style_weights: tuple[int, int, int, int] = (1, 1, 5, 1)
    """Phase 2 (the habits of a base model): the same styles, mostly answering without the tool."""
    habit_steps: int = 200
    """Supervised steps of phase 2: they set how often the starting model reaches for the tool."""
    batch_size: int = 16
    learning_rate: float = 1e-3
    seed: int = 0
    version: int = 4
    """Bumped whenever the problems, demonstrations or training change, so caches of older builds are not reused."""

    def key(self) -> str:
        """A short stable hash of the spec (the cache folder name)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Problem:
    """One question with its exact integer answer."""

    question: str
    answer: int
    expression: str
    """The Python expression that computes ``answer``."""


def tiny_problems(count: int, seed: int = 0, operands: tuple[int, int] = (99, 9)) -> list[Problem]:
    """``count`` distinct problems on two numbers from 2 to ``operands`` (sums, products, differences, remainders),
    deterministic."""
    rng = random.Random(seed)
    templates = [
        ("What is {a} + {b}?", "{a} + {b}"),
        ("Compute {a} * {b}.", "{a} * {b}"),
        ("What is {a} minus {b}?", "{a} - {b}"),
        ("What is the remainder when {a} is divided by {b}?", "{a} % {b}"),
    ]
    problems: dict[str, Problem] = {}
    while len(problems) < count:
        question, expression = rng.choice(templates)
        a, b = (rng.randint(2, top) for top in operands)
        text = question.format(a=a, b=b)
        code = expression.format(a=a, b=b)
        problems.setdefault(text, Problem(text, int(eval(code)), code))
    return list(problems.values())


TOOL_OPENING = "Let me compute it with Python.\n"
"""How the tiny model's ``print`` demonstrations open a turn (prefixed to a prompt, it makes the model write code)."""


def split_problems(spec: TinyModelSpec) -> tuple[list[Problem], list[Problem]]:
    """(training problems, held-out problems) of ``spec``: the first ``val_problems`` are held out."""
    problems = tiny_problems(spec.num_problems, spec.seed, spec.operands)
    return problems[spec.val_problems :], problems[: spec.val_problems]


def demonstration(problem: Problem, style: int) -> list[tuple[str, bool]]:
    """An assistant turn sequence for ``problem`` as (text, trained) pieces; observations are not trained.

    ``style`` 0: code that prints, then the boxed answer; 1: ``final_answer()`` in code; 2: boxed directly;
    3: a turn without code or answer (a void turn).
    """
    answer = problem.answer
    if style == 0:
        return [
            (f"{TOOL_OPENING}```python\nprint({problem.expression})\n```", True),
            (f"{OBSERVATION_PREFIX}{answer}{OBSERVATION_SUFFIX}", False),
            (f"\nThe answer is {FINAL_ANSWER_MARKER}{answer}}}.", True),
        ]
    if style == 1:
        return [
            (f"```python\nresult = {problem.expression}\nfinal_answer(result)\n```", True),
            (f"{OBSERVATION_PREFIX}{FINAL_ANSWER_MARKER}{answer}}}{OBSERVATION_SUFFIX}", False),
        ]
    if style == 2:
        return [(f"The answer is {FINAL_ANSWER_MARKER}{answer}}}.", True)]
    return [("I am not sure how to solve this.", True)]


def draw_style(rng: random.Random, weights: tuple[int, ...]) -> int:
    """A demonstration style, drawn with ``weights`` (``TinyModelSpec.style_weights``)."""
    return rng.choices(range(len(weights)), weights=weights)[0]


def prompt_messages(problem: Problem) -> list[dict[str, str]]:
    """The chat prompt of ``problem``: the paper's instruction followed by the question."""
    return [{"role": "user", "content": build_user_content(problem.question)}]


def verl_rows(problems: list[Problem], split: str) -> list[dict[str, Any]]:
    """Rows in the columns ``simpletir-prepare-data`` writes (``simpletir.tir.protocol.verl_row``)."""
    return [
        verl_row(
            DATA_SOURCE,
            p.question,
            str(p.answer),
            {"index": i, "split": split, "question": p.question},
            split == "train",
        )
        for i, p in enumerate(problems)
    ]


def write_datasets(out_dir: Path, spec: TinyModelSpec = TinyModelSpec()) -> dict[str, Path]:
    """Write ``train.parquet`` (the training problems) and ``val.parquet`` (the held-out ones) into ``out_dir``."""
    import pandas as pd

    train, val = split_problems(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"train": out_dir / "train.parquet", "val": out_dir / "val.parquet"}
    splits = {
        "train": verl_rows(train, "train"),
        "val": verl_rows(val, "test"),
    }
    for name, rows in splits.items():
        pd.DataFrame.from_records(rows).to_parquet(paths[name], index=False)
    return paths


def _train_tokenizer(spec: TinyModelSpec, texts: list[str]) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` with the chat template and special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    # Words may merge within a line (short prompts), never across a newline, a fence or a digit.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(pattern="\n", behavior="isolated"),
            pre_tokenizers.Split(pattern="```", behavior="isolated"),
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=[PAD, "<|im_start|>", EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=PAD, bos_token=None)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _examples(
    tokenizer: Any, problems: list[Problem], weights: tuple[int, ...], seed: int
) -> list[tuple[list[int], list[int]]]:
    """(input ids, loss labels) of one demonstration per problem, its style drawn with ``weights``; the prompt
    and observations are labelled -100."""
    rng = random.Random(seed)
    examples = []
    for problem in problems:
        text = tokenizer.apply_chat_template(
            prompt_messages(problem), add_generation_prompt=True, tokenize=False
        )
        ids = tokenizer.encode(text, add_special_tokens=False)
        labels = [-100] * len(ids)
        for text, trained in [*demonstration(problem, draw_style(rng, weights)), (EOS, True)]:
            piece = tokenizer.encode(text, add_special_tokens=False)
            ids += piece
            labels += piece if trained else [-100] * len(piece)
        examples.append((ids, labels))
    return examples


def _warm_start(
    model: Any, phases: list[tuple[list[tuple[list[int], list[int]]], int]], spec: TinyModelSpec, pad_id: int
) -> None:
    """Supervised training on the demonstrations of each (examples, steps) phase in turn (AdamW, constant LR)."""
    import torch
    from tqdm import tqdm

    rng = random.Random(spec.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small runs fastest on one thread (and shares the machine)
    model.train()
    schedule = [examples for examples, steps in phases for _ in range(steps)]
    for examples in tqdm(schedule, desc="warm-start tiny model", leave=False, disable=None):
        batch = rng.sample(examples, min(spec.batch_size, len(examples)))
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad_id)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, lab) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, : len(lab)] = torch.tensor(lab)
            mask[row, : len(ids)] = 1
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    torch.set_num_threads(threads)


def default_cache_dir() -> Path:
    """``$SIMPLETIR_CACHE`` or ``~/.cache/simpletir``."""
    return Path(os.environ.get("SIMPLETIR_CACHE", Path.home() / ".cache" / "simpletir")).expanduser()


def build_tiny_model(spec: TinyModelSpec = TinyModelSpec(), cache_dir: Path | None = None) -> Path:
    """Build (or reuse) the tiny model for ``spec``; return its folder (a Hugging Face model directory)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as transformers_logging

    target = (cache_dir or default_cache_dir()) / f"tiny-tir-{spec.key()}"
    if (target / "config.json").is_file():
        return target
    problems, _ = split_problems(spec)
    rng = random.Random(spec.seed)
    # The instruction weighs as much as the demonstrations, so BPE merges it into few tokens (short prompts).
    corpus = [build_user_content(p.question) for p in problems]
    corpus += [
        "".join(text for text, _ in demonstration(p, draw_style(rng, spec.skill_weights))) for p in problems
    ]
    tokenizer = _train_tokenizer(spec, corpus)
    torch.manual_seed(spec.seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.hidden_size * 2,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    model = LlamaForCausalLM(config)
    phases = [
        (_examples(tokenizer, problems, spec.skill_weights, spec.seed), spec.warmup_steps),
        (_examples(tokenizer, problems, spec.style_weights, spec.seed + 1), spec.habit_steps),
    ]
    _warm_start(model, phases, spec, tokenizer.pad_token_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    transformers_logging.disable_progress_bar()
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "tiny_model_spec.json").write_text(json.dumps(asdict(spec), indent=2))
        os.rename(staging, target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """Console entry: ``model`` builds (or reuses) the tiny model and prints its folder; ``data DIR`` writes the data."""
    parser = argparse.ArgumentParser(
        prog="python -m simpletir.dev.tiny_model", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    model_cmd = sub.add_parser("model", help="build the tiny model (cached) and print its folder")
    model_cmd.add_argument(
        "--cache-dir", type=Path, default=None, help="default: $SIMPLETIR_CACHE or ~/.cache/simpletir"
    )
    data_cmd = sub.add_parser("data", help="write train.parquet and val.parquet of tiny problems")
    data_cmd.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "model":
        print(build_tiny_model(cache_dir=args.cache_dir))
    else:
        for path in write_datasets(args.out_dir).values():
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
