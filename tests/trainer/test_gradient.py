"""The core claim, with verl's own GRPO advantage and policy loss on a tiny real causal LM (float64, CPU).

A void trajectory masked after advantages were computed with it in its group contributes exactly
nothing to the parameter gradient, and tool-output tokens get zero gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage, get_policy_loss_fn
from verl.workers.config import FSDPActorConfig

from simpletir.trainer.filters import FilterConfig, compute_keep_mask, mask_rows
from tests.tir.tir_fixtures import tiny_model

VOCAB, PROMPT_LEN, RESP_LEN = 64, 6, 10
FILTER = FilterConfig(min_group_reward_std=None, accuracy_band=None, min_non_overlong=0)


def actor_config() -> FSDPActorConfig:
    """The paper's loss settings: clip 0.2/0.28, dual-clip c = 3, token-mean."""
    return FSDPActorConfig(
        strategy="fsdp", clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=3.0, loss_agg_mode="token-mean",
        ppo_mini_batch_size=4, ppo_micro_batch_size_per_gpu=4, use_dynamic_bsz=False, rollout_n=4,
    )  # fmt: skip


def make_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    """One GRPO group of 4 trajectories; rows have tool-output tokens (mask 0) in the middle."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, VOCAB, (4, PROMPT_LEN + RESP_LEN), generator=g)
    response_mask = torch.ones(4, RESP_LEN, dtype=torch.int64)
    response_mask[:, 3:6] = 0  # an observation
    response_mask[3, 8:] = 0  # right padding
    rewards = torch.zeros(4, RESP_LEN, dtype=torch.float64)
    for row, score in enumerate([1.0, 0.0, 1.0, 0.0]):
        last = int(response_mask[row].nonzero().max())
        rewards[row, last] = score
    return {"input_ids": input_ids, "response_mask": response_mask, "rewards": rewards}


def response_log_probs(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """Log-probs of the response tokens under ``model`` (rows are independent: causal LM, no padding mix)."""
    logits = model(input_ids).logits[:, PROMPT_LEN - 1 : -1]
    return torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, PROMPT_LEN:, None]).squeeze(-1)


def policy_gradient(
    batch: dict[str, torch.Tensor],
    void: list[bool],
    rows: list[int] | None = None,
    advantages: torch.Tensor | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Gradient of verl's vanilla policy loss after GRPO advantages and the void-turn mask."""
    model = tiny_model(VOCAB, seed=1).double()
    index = np.array(["g"] * 4, dtype=object)
    if advantages is None:
        advantages, _ = compute_grpo_outcome_advantage(batch["rewards"], batch["response_mask"], index)
    keep = compute_keep_mask(list(index), batch["rewards"].sum(-1).tolist(), batch["rewards"].sum(-1).tolist(),
                             void, [False] * 4, FILTER).keep  # fmt: skip
    mask = mask_rows(batch["response_mask"], keep)
    rows = list(range(4)) if rows is None else rows
    log_prob = response_log_probs(model, batch["input_ids"][rows])
    log_prob.retain_grad()
    old = log_prob.detach() + 0.1 * torch.sin(
        torch.arange(RESP_LEN, dtype=torch.float64)
    )  # exercises the clips
    loss, _ = get_policy_loss_fn("vanilla")(
        old_log_prob=old, log_prob=log_prob, advantages=advantages[rows], response_mask=mask[rows],
        loss_agg_mode="token-mean", config=actor_config(),
    )  # fmt: skip
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}, log_prob.grad, advantages


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], exact: bool) -> None:
    for name in a:
        if exact:
            assert torch.equal(a[name], b[name]), name
        else:
            torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-12, msg=name)


def test_void_trajectory_content_does_not_change_the_gradient() -> None:
    batch = make_batch()
    grads, _, _ = policy_gradient(batch, void=[False, False, True, False])
    other = dict(batch, input_ids=batch["input_ids"].clone())
    other["input_ids"][2, PROMPT_LEN:] = (other["input_ids"][2, PROMPT_LEN:] + 7) % VOCAB  # other tokens
    grads_other, _, _ = policy_gradient(other, void=[False, False, True, False])
    assert_same(grads, grads_other, exact=True)


def test_masked_void_row_equals_dropping_it_after_advantages() -> None:
    batch = make_batch()
    grads, _, advantages = policy_gradient(batch, void=[False, False, True, False])
    # the advantages still come from the full group (the void row counted in mean/std)
    without, _, _ = policy_gradient(
        batch, void=[False, False, False, False], rows=[0, 1, 3], advantages=advantages
    )
    assert_same(grads, without, exact=False)


def test_a_non_void_trajectory_changes_the_gradient() -> None:
    batch = make_batch()
    with_void, _, _ = policy_gradient(batch, void=[False, False, True, False])
    all_kept, _, _ = policy_gradient(batch, void=[False, False, False, False])
    assert any(not torch.allclose(with_void[n], all_kept[n]) for n in with_void)


def test_tool_output_tokens_get_zero_gradient() -> None:
    batch = make_batch()
    _, log_prob_grad, _ = policy_gradient(batch, void=[False, False, False, False])
    tool = batch["response_mask"] == 0
    assert torch.count_nonzero(log_prob_grad[tool]) == 0
    assert torch.count_nonzero(log_prob_grad[~tool]) > 0


@pytest.mark.gpu
def test_loss_runs_with_cuda_tensors() -> None:
    batch = {k: v.cuda() for k, v in make_batch().items()}
    advantages, _ = compute_grpo_outcome_advantage(
        batch["rewards"], batch["response_mask"], np.array(["g"] * 4)
    )
    model = tiny_model(VOCAB, seed=1).double().cuda()
    log_prob = response_log_probs(model, batch["input_ids"])
    keep = np.array([True, True, False, True])
    loss, _ = get_policy_loss_fn("vanilla")(
        old_log_prob=log_prob.detach(), log_prob=log_prob, advantages=advantages,
        response_mask=mask_rows(batch["response_mask"], keep), loss_agg_mode="token-mean", config=actor_config(),
    )  # fmt: skip
    loss.backward()
    assert torch.isfinite(loss)
