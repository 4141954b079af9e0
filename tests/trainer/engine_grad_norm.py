"""Run ``simpletir.trainer.grad_norm.unmasked_grad_norm`` on verl's real FSDP2 engine (CPU, one rank); print JSON.

Run by ``test_grad_norm.py`` in a fresh interpreter (``python -m tests.trainer.engine_grad_norm DIR``):
it initialises torch.distributed and verl's cpu platform, which must not leak into the test process.

Two engines are built from the same randomly initialised tiny Llama and the same optimizer settings. Both
take one real step (so AdamW has state), then engine A measures the norm on a batch with one row masked,
with that row's original masks (``unmasked``) and with the batch's own masks (``same``), and both engines
take the real step on the masked batch. Next to verl's numbers, the script computes the gradient norms by
hand: plain transformers forward and backward of the on-policy GRPO loss, token-mean, on A's weights.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from copy import deepcopy
from functools import partial
from pathlib import Path

import torch

PROMPT_LENS, RESPONSE_LENS = [5, 3, 4, 6], [7, 5, 6, 4]
ADVANTAGES = [1.0, -1.0, 0.5, -0.5]
MASKED_ROW = 3


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nested(rows: list[torch.Tensor]) -> torch.Tensor:
    """Rows as one jagged nested tensor, as verl's TransferQueue hands them to the worker."""
    return torch.nested.as_nested_tensor(rows, layout=torch.jagged)


def response_log_probs(model: torch.nn.Module, prompts: list, responses: list) -> list[torch.Tensor]:
    """Each row's response-token log-probs under ``model`` (one row at a time: no padding)."""
    out = []
    for prompt, response in zip(prompts, responses, strict=True):
        logits = model(torch.cat([prompt, response])[None]).logits[0, len(prompt) - 1 : -1]
        out.append(torch.log_softmax(logits.float(), dim=-1).gather(-1, response[:, None])[:, 0])
    return out


def hand_grad_norm(model: torch.nn.Module, prompts: list, responses: list, masks: list) -> float:
    """Gradient norm of the on-policy GRPO loss, token-mean over ``masks``, with plain torch."""
    model.zero_grad(set_to_none=True)
    log_probs = response_log_probs(model, prompts, responses)
    total = sum(float(m.sum()) for m in masks)
    loss = sum(
        (-a * torch.exp(lp - lp.detach()) * m).sum()
        for lp, m, a in zip(log_probs, masks, ADVANTAGES, strict=True)
    )
    (loss / total).backward()
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])))


def full_state(engine) -> dict[str, torch.Tensor]:
    """The engine's weights, gathered from DTensor shards."""
    return {k: plain_tensor(v).detach().clone() for k, v in engine.module.state_dict().items()}


def plain_tensor(value: object) -> object:
    """A DTensor gathered; anything else unchanged."""
    return value.full_tensor() if hasattr(value, "full_tensor") else value


def same_optimizer_state(before: dict, after: dict) -> bool:
    """Whether two optimizer ``state_dict()``s hold the same hyper-parameters and equal state tensors."""
    if before["param_groups"] != after["param_groups"] or before["state"].keys() != after["state"].keys():
        return False
    for index, state in before["state"].items():
        other = after["state"][index]
        if state.keys() != other.keys():
            return False
        for key, value in state.items():
            value, other_value = plain_tensor(value), plain_tensor(other[key])
            if isinstance(value, torch.Tensor):
                if not torch.equal(value, other_value):
                    return False
            elif value != other_value:
                return False
    return True


def main(workdir: Path) -> dict:
    """Build the engines, run the scenario of the module docstring, return what it measured."""
    os.environ.update(
        VERL_PLATFORM="cpu", RANK="0", WORLD_SIZE="1", LOCAL_RANK="0",
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
    )  # fmt: skip
    import torch.distributed as dist
    from tensordict import TensorDict
    from transformers import AutoModelForCausalLM
    from verl.trainer.config import CheckpointConfig
    from verl.utils import tensordict_utils as tu
    from verl.workers.config import FSDPActorConfig, FSDPEngineConfig, FSDPOptimizerConfig, HFModelConfig
    from verl.workers.engine import EngineRegistry
    from verl.workers.utils.losses import ppo_loss

    from simpletir.backends.cpu_platform import apply_cpu_patches
    from simpletir.trainer.grad_norm import unmasked_grad_norm
    from tests.tir.tir_fixtures import tiny_model, tiny_tokenizer

    apply_cpu_patches()
    dist.init_process_group("gloo")
    tokenizer = tiny_tokenizer()
    model_dir = workdir / "model"
    tiny_model(len(tokenizer), seed=1).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)

    def engine():
        return EngineRegistry.new(
            model_type="language_model",
            backend="fsdp2",
            model_config=HFModelConfig(
                path=str(model_dir), use_remove_padding=False, override_config={"attn_implementation": "sdpa"}
            ),
            engine_config=FSDPEngineConfig(
                strategy="fsdp2",
                use_torch_compile=False,
                micro_batch_size_per_gpu=2,
                mixed_precision={"param_dtype": "fp32", "reduce_dtype": "fp32", "buffer_dtype": "fp32"},
            ),
            optimizer_config=FSDPOptimizerConfig(lr=1e-2, total_training_steps=10),
            checkpoint_config=CheckpointConfig(),
        )

    a, b = engine(), engine()
    a.initialize()
    b.initialize()
    loss_fn = partial(
        ppo_loss,
        config=FSDPActorConfig(
            strategy="fsdp2", loss_agg_mode="token-mean", ppo_mini_batch_size=4, ppo_micro_batch_size_per_gpu=2,
            use_dynamic_bsz=False, rollout_n=1,
        ),
    )  # fmt: skip

    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(3, len(tokenizer), (n,), generator=g) for n in PROMPT_LENS]
    responses = [torch.randint(3, len(tokenizer), (n,), generator=g) for n in RESPONSE_LENS]
    masks = [torch.ones(n, dtype=torch.int64) for n in RESPONSE_LENS]
    masks[2][2:4] = 0  # an observation
    masked = deepcopy(masks)
    masked[MASKED_ROW] *= 0

    def batch(row_masks: list, old: list) -> TensorDict:
        data = TensorDict(
            {
                "prompts": nested(prompts),
                "responses": nested(responses),
                "input_ids": nested([torch.cat(pr) for pr in zip(prompts, responses, strict=True)]),
                "position_ids": nested(
                    [torch.arange(p + r) for p, r in zip(PROMPT_LENS, RESPONSE_LENS, strict=True)]
                ),
                "response_mask": nested(row_masks),
                "loss_mask": nested(row_masks),
                "old_log_probs": nested(old),
                "advantages": nested(
                    [torch.full((n,), x) for n, x in zip(RESPONSE_LENS, ADVANTAGES, strict=True)]
                ),
            },
            batch_size=len(prompts),
        )
        tu.assign_non_tensor(
            data, temperature=1.0, global_batch_size=len(prompts), calculate_entropy=False,
            use_remove_padding=False, use_dynamic_bsz=False, max_token_len_per_gpu=None,
            micro_batch_size_per_gpu=2, use_fused_kernels=False,
        )  # fmt: skip
        return data

    def step(engine, data: TensorDict) -> float:
        with engine.train_mode():
            return float(engine.train_batch(data, loss_function=loss_fn)["metrics"]["grad_norm"])

    first = batch(masks, [-torch.rand(n, generator=g) * 3 for n in RESPONSE_LENS])
    step(a, first.copy())
    step(b, first.copy())

    hand = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa", dtype=torch.float32)
    hand.load_state_dict(full_state(a))
    with torch.no_grad():
        old = response_log_probs(hand, prompts, responses)  # on-policy: ratio 1, no clipping
    data = batch(masked, old)
    weights = full_state(a)
    optimizer, scheduler = deepcopy(a.optimizer.state_dict()), deepcopy(a.lr_scheduler.state_dict())
    original = batch(masks, old)
    with a.train_mode():
        unmasked = unmasked_grad_norm(
            a, loss_fn, data, {"response_mask": original["response_mask"], "loss_mask": original["loss_mask"]}
        )
        same = unmasked_grad_norm(a, loss_fn, data, {})
    after = full_state(a)
    untouched = {
        "weights": all(torch.equal(weights[k], after[k]) for k in weights),
        "optimizer": bool(optimizer["state"]) and same_optimizer_state(optimizer, a.optimizer.state_dict()),
        "scheduler": scheduler == a.lr_scheduler.state_dict(),
        "grads_none": all(p.grad is None for p in a.module.parameters()),
        "data_masks": torch.equal(data["loss_mask"].values(), batch(masked, old)["loss_mask"].values()),
    }
    real_a, real_b = step(a, data.copy()), step(b, batch(masked, old))
    trained_a, trained_b = full_state(a), full_state(b)
    return {
        "unmasked": unmasked,
        "same": same,
        "real_a": real_a,
        "real_b": real_b,
        "same_update": all(torch.equal(trained_a[k], trained_b[k]) for k in trained_a),
        "hand_unmasked": hand_grad_norm(hand, prompts, responses, masks),
        "hand_masked": hand_grad_norm(hand, prompts, responses, masked),
        **untouched,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
