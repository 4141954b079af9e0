"""Smoke: the eval loop against a stand-in server that samples from a tiny random transformers model,
with the chat template of a tokenizer built and saved locally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_standin import ServerThread, model_app

from simpletir.eval.cli import main
from simpletir.eval.records import load_result
from simpletir.tir.protocol import TIR_INSTRUCTION

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory):
    """A saved tokenizer (byte-level BPE, chat template) and a random 1-layer Llama on it."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    corpus = [TIR_INSTRUCTION, "```python\nprint(1)\n```\n\\boxed{42} the answer is", CHAT_TEMPLATE]
    bpe.train_from_iterator(corpus, vocab_size=400, min_frequency=1, special_tokens=["<|end|>", "<pad>"])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token="<|end|>", pad_token="<pad>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    path = tmp_path_factory.mktemp("tok")
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    return path, tokenizer, LlamaForCausalLM(config).eval()


def test_loop_runs_on_a_real_model(tmp_path: Path, tiny_model, sandbox_backend: str) -> None:
    tok_path, tokenizer, model = tiny_model
    data = tmp_path / "tiny.jsonl"
    data.write_text(json.dumps({"problem": "What is 6*7?", "answer": "42"}) + "\n")
    with ServerThread(model_app(model, tokenizer, max_new_tokens=24)) as url:
        code = main([
            "run", "--url", url, "--data", str(data), "--tokenizer", str(tok_path), "--samples", "3",
            "--max-turns", "2", "--max-tokens-per-turn", "12", "--output-dir", str(tmp_path / "o"),
            "--sandbox", sandbox_backend, "--no-progress", "--seed", "1",
        ])  # fmt: skip
    assert code == 0
    result = load_result(tmp_path / "o" / "results.json")
    assert result.model == "tiny-random" and result.metrics["tiny"].trajectories == 3
    for record in result.trajectories:
        assert record.prompt.startswith("<|user|>\n" + TIR_INSTRUCTION) and record.prompt.endswith(
            "<|assistant|>\n"
        )
        assert record.prompt_tokens == len(tokenizer.encode(record.prompt))
        assert 1 <= len(record.turns) <= 2 and record.end_reason in {
            "answer",
            "void",
            "max_turns",
            "overlong",
        }
        assert record.response == "".join(t.text + t.observation for t in record.turns)
        assert all(0 < t.completion_tokens <= 12 for t in record.turns)
        assert record.response_tokens == sum(t.completion_tokens + t.observation_tokens for t in record.turns)
        assert record.void == (record.turns[-1].kind == "void")
