"""``simpletir-eval`` command line: ``run`` is the default, and every bad input is one line with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from simpletir.eval.cli import main

URL = ["--url", "http://127.0.0.1:9"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [],
            "simpletir-eval: error: pass --url URL to evaluate a served model, or --model DIR to generate in",
        ),
        (
            ["-v"],
            "simpletir-eval: error: pass --url URL to evaluate a served model, or --model DIR to generate",
        ),
        (["foo"], "simpletir-eval: error: unknown command 'foo'; choose one of report, run, view"),
        ([*URL, "--extra-body", "{bad"], "argument --extra-body: not valid JSON"),
        ([*URL, "--extra-body", "[1]"], "argument --extra-body: expected a JSON object"),
        ([*URL, "--samples", "two"], "argument --samples: invalid int value: 'two'"),
        (["view"], "simpletir-eval view: error: the following arguments are required: result"),
        ([*URL, "--tokenizer", "./no/such/tokenizer"], "--tokenizer ./no/such/tokenizer: no such directory"),
    ],
)
def test_bad_input_is_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "toy.jsonl"
    data.write_text('{"problem": "What is 1+1?", "answer": "2"}\n')
    try:
        code = main([*argv, "--data", str(data)] if "--url" in argv else argv)
    except SystemExit as exc:  # argparse's own errors exit from inside parse_args
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "usage:" not in err and "Traceback" not in err


@pytest.fixture
def model_dirs(tmp_path: Path) -> Path:
    """Model directories that fail in different ways, before any weights are read: ``config_only`` (no tokenizer),
    ``no_template`` (a tokenizer without a chat template), ``garbage`` (a tokenizer and weights that do not load)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    config = '{"model_type": "llama", "vocab_size": 8, "hidden_size": 8, "intermediate_size": 8, ' \
        '"num_hidden_layers": 1, "num_attention_heads": 1, "num_key_value_heads": 1}'  # fmt: skip
    vocab = {"a": 0, "b": 1, "<unk>": 2}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
        eos_token="b",
        unk_token="<unk>",
    )
    for name in ("config_only", "no_template", "garbage"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(config)
    tokenizer.save_pretrained(tmp_path / "no_template")
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tokenizer.save_pretrained(tmp_path / "garbage")
    (tmp_path / "garbage" / "model.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "file").write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "{d}/nope"], "--model {d}/nope: no such directory (without --url, --model is a local"),
        (["--model", "{d}/file"], "--model {d}/file is not a Hugging Face model directory (no config.json"),
        (["--model", "{d}/config_only"], "--model {d}/config_only holds no tokenizer (tokenizer.json"),
        (["--model", "{d}/no_template"], "the tokenizer in {d}/no_template has no chat template; pass --no-chat"),
        (["--model", "{d}/garbage", "--retries", "5"], "--retries: server options, but there is no --url"),
        (["--model", "{d}/garbage", "--api-key", "k"], "--api-key: server options, but there is no --url"),
        (["--url", "http://127.0.0.1:9", "--model", "m", "--device", "cpu", "--no-chat-template"],
         "--device: the server (--url) generates; these options set up generation in this process"),
        (["--model", "{d}/garbage", "--device", "gpu"], "--device 'gpu' is not a torch device"),
        (["--model", "{d}/garbage", "--extra-body", '{"min_p": 0.1}'], "--extra-body: sampling option(s) ['min_p']"),
        (["--model", "{d}/garbage", "--extra-body", '{"top_k": 0}'], "--extra-body: top_k must be -1 (off) or >= 1"),
        (["--model", "{d}/garbage", "--top-p", "0"], "--temperature must be >= 0 and --top-p in (0, 1]"),
        (["--model", "{d}/garbage"], "cannot load a transformers causal LM from {d}/garbage: "),
    ],
)  # fmt: skip
def test_in_process_errors_are_one_line(
    argv: list[str], message: str, model_dirs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = model_dirs / "toy.jsonl"
    data.write_text('{"problem": "What is 1+1?", "answer": "2"}\n')
    argv = [a.replace("{d}", str(model_dirs)) for a in argv]
    try:
        code = main([*argv, "--data", str(data), "--output-dir", str(model_dirs / "out"), "--no-progress"])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message.replace("{d}", str(model_dirs)) in err
    assert "Traceback" not in err and "usage:" not in err
    assert len([line for line in err.strip().splitlines() if line.startswith("simpletir-eval")]) == 1


def test_cuda_without_a_gpu_is_a_one_line_error(model_dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    data = model_dirs / "toy.jsonl"
    data.write_text('{"problem": "What is 1+1?", "answer": "2"}\n')
    assert main(["--model", str(model_dirs / "garbage"), "--device", "cuda", "--data", str(data)]) == 2
    assert (
        "--device cuda: this machine has no usable CUDA device; use --device cpu" in capsys.readouterr().err
    )


def test_a_dry_run_does_not_load_the_model(model_dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = model_dirs / "toy.jsonl"
    data.write_text('{"problem": "What is 1+1?", "answer": "2"}\n')
    argv = ["--model", str(model_dirs / "garbage"), "--data", str(data), "--samples", "2", "--dry-run"]
    assert main([*argv, "--output-dir", str(model_dirs / "out")]) == 0  # its weights would not load
    assert "dry run: 2 trajectories (toy; 2 samples per problem), 2 to run" in capsys.readouterr().out


def test_run_defaults_are_the_training_configs() -> None:
    """Turn limits (validation) and the program time limit default to what training uses, not to copies."""
    from simpletir.eval.parser import build_parser
    from simpletir.tir.agent_config import TIRAgentConfig
    from simpletir.tir.code_runner import CodeRunSettings

    args = build_parser().parse_args(["run", "--url", "http://127.0.0.1:9", "--data", "x.parquet"])
    assert args.max_turns == TIRAgentConfig.val_max_turns
    assert args.max_tokens_per_turn == TIRAgentConfig.val_max_tokens_per_turn
    assert args.code_timeout == CodeRunSettings().timeout_s
