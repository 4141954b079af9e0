#!/usr/bin/env bash
# SimpleTIR, the 32B setting: Zero RL from Qwen2.5-32B base with multi-turn TIR and void-turn filtering.
#
# GRPO, no KL, no entropy bonus, no reference model; 512 prompts x 16 samples, mini-batch 128, 1 epoch;
# lr 1e-6 constant, AdamW betas (0.9, 0.99), grad clip 1.0; clip 0.2 / 0.28, dual-clip c = 3; token-mean;
# temperature 1.0, top-p 1.0; groups whose accuracy is all-equal are resampled (verl's DAPO dynamic sampling,
# the paper's over-sampling of 1,280 prompts per 512: up to INFLIGHT_GEN_BATCHES=3 batches in flight);
# rollout TP 4; 5 turns and 16K response tokens; validation every 10 steps.
# The paper reports 59.9 on AIME24 (avg@32) for SimpleTIR-32B (Table 1); see docs/training.md.
#
# Needs: 4+ nodes of 8 x 80 GB GPUs (rollout TP 4, FSDP with parameter offload), `pip install -e ".[gpu]"`,
# and the data from recipes/prepare_data.sh. Multi-node: `ray start --head` on node 0 and
# `ray start --address=<head>:6379` on the others, then run this on node 0 with NNODES set.
#
# Usage: recipes/train_qwen2.5_32b.sh [extra hydra overrides...]
# Environment: ASYNC MODEL_PATH DATA_DIR NNODES GPUS_PER_NODE SANDBOX_BACKEND SANDBOX_URL EXPERIMENT_NAME CKPT_DIR
#   INFLIGHT_GEN_BATCHES
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-32B}"
NNODES="${NNODES:-4}"
EXPERIMENT_NAME="${EXPERIMENT_NAME:-simpletir_qwen2.5_32b}"
source "$HERE/common.sh"
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then recipe_help "$0"; exit 0; fi
sandbox_overrides

python -m simpletir.main \
  actor_rollout_ref.model.path="$MODEL_PATH" \
  data.train_files="$DATA_DIR/train.parquet" \
  data.val_files="[$DATA_DIR/aime24.parquet,$DATA_DIR/aime25.parquet,$DATA_DIR/amc23.parquet,$DATA_DIR/math500.parquet]" \
  data.train_batch_size=512 \
  data.max_prompt_length=2048 \
  data.max_response_length=16000 \
  algorithm.adv_estimator=grpo \
  algorithm.use_kl_in_reward=false \
  algorithm.filter_groups.enable=true \
  algorithm.filter_groups.metric=acc \
  algorithm.filter_groups.max_inflight_gen_batches="${INFLIGHT_GEN_BATCHES:-3}" \
  actor_rollout_ref.actor.optim.lr=1e-6 \
  actor_rollout_ref.actor.ppo_mini_batch_size=128 \
  actor_rollout_ref.actor.clip_ratio_low=0.2 \
  actor_rollout_ref.actor.clip_ratio_high=0.28 \
  actor_rollout_ref.actor.clip_ratio_c=3.0 \
  actor_rollout_ref.actor.loss_agg_mode=token-mean \
  actor_rollout_ref.actor.use_kl_loss=false \
  actor_rollout_ref.actor.entropy_coeff=0 \
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1 \
  actor_rollout_ref.actor.use_dynamic_bsz=true \
  actor_rollout_ref.actor.ppo_max_token_len_per_gpu=18000 \
  actor_rollout_ref.actor.fsdp_config.param_offload=true \
  actor_rollout_ref.actor.fsdp_config.optimizer_offload=true \
  actor_rollout_ref.rollout.n=16 \
  actor_rollout_ref.rollout.temperature=1.0 \
  actor_rollout_ref.rollout.top_p=1.0 \
  actor_rollout_ref.rollout.tensor_model_parallel_size=4 \
  actor_rollout_ref.rollout.gpu_memory_utilization=0.7 \
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=1 \
  simpletir.agent.max_turns=5 \
  simpletir.agent.val_max_turns=10 \
  "${SANDBOX_ARGS[@]}" \
  trainer.v1.trainer_mode="$TRAINER_MODE" \
  trainer.n_gpus_per_node="$GPUS_PER_NODE" \
  trainer.nnodes="$NNODES" \
  trainer.test_freq=10 \
  trainer.save_freq=50 \
  trainer.total_epochs=1 \
  trainer.project_name="$PROJECT_NAME" \
  trainer.experiment_name="$EXPERIMENT_NAME" \
  trainer.default_local_dir="$CKPT_DIR" \
  "$@"
