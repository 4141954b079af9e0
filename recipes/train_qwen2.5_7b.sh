#!/usr/bin/env bash
# SimpleTIR, the paper's 7B setting: Zero RL from Qwen2.5-7B base with multi-turn TIR and void-turn filtering.
#
# GRPO, no KL, no entropy bonus, no reference model; 512 prompts x 16 samples, mini-batch 128; lr 1e-6 constant,
# AdamW betas (0.9, 0.99), grad clip 1.0; clip 0.2 / 0.28, dual-clip c = 3; token-mean; temperature 1.0, top-p
# 1.0; full batches of useful groups, as upstream's fixed pool of 3 x 512 prompts (the paper: 1,280 per 512): groups
# the group filters reject (reward std below 1e-3, fewer than 4 non-overlong) are replaced by fresh prompts, at most
# 3 x 512 per step (algorithm.filter_groups.max_num_gen_batches), valid groups duplicated when fewer survive; up to
# INFLIGHT_GEN_BATCHES=3 batches in flight (docs/training.md, Full batches); rollout TP 2.
# Run by steps, as the paper ("the best checkpoint within 1,000 steps"): TOTAL_STEPS (trainer.total_training_steps;
# trainer.total_epochs=100 only bounds it, as upstream's script), a checkpoint every SAVE_FREQ steps, validation on
# AIME24/AIME25/AMC23/MATH500 every TEST_FREQ steps; at the end it prints the saved checkpoint with the best
# BEST_METRIC (python -m simpletir.dev.run_report best, over verl's file logs in $METRICS_DIR).
# STAGE=1: 5 turns, 16K response tokens (8K per turn). STAGE=2 (the paper's raise once the mean response length
# plateaus, from step ~200): 10 turns, 24K response tokens (12K per turn), resumed from RESUME_FROM.
# Code as the final upstream script runs it: 3 s and SANDBOX_MEMORY_MB (512) per program, observations cut to 512
# characters (first 256 + last 256) and 256 tokens, a program that printed nothing still gets "Code execution
# result: " (docs/training.md says where we differ: exact sampled tokens, no re-tokenised turns).
# The paper reports 50.5 on AIME24 (avg@32) for this setting (Table 1); see docs/training.md.
# Ablations, one variable each (same data and settings otherwise): BASELINE=no_void_filter (naive multi-turn, Table
# 2: 20.8), BASELINE=text_only (text-only Zero RL, no tool, one turn: 22.1), ROLLOUT_CORR=<preset> (verl's rollout
# correction on top of the filter: token_is, seq_is, seq_is_rs, geo_rs, k3_rs; recipes/rollout_correction.sh).
#
# Needs: 8+ GPUs of 80 GB per node (the paper trained on several nodes), `pip install -e ".[gpu]"`,
# and the data from recipes/prepare_data.sh. Multi-node: `ray start --head` on node 0 and
# `ray start --address=<head>:6379` on the others, then run this on node 0 with NNODES set.
#
# Usage: recipes/train_qwen2.5_7b.sh [extra hydra overrides...]
# Environment (defaults in recipes/common.sh): ASYNC MODEL_PATH DATA_DIR NNODES GPUS_PER_NODE SANDBOX_BACKEND
#   SANDBOX_URL SANDBOX_MEMORY_MB EXPERIMENT_NAME PROJECT_NAME CKPT_DIR INFLIGHT_GEN_BATCHES STAGE RESUME_FROM
#   BASELINE ROLLOUT_CORR TOTAL_STEPS (1000) SAVE_FREQ (50) TEST_FREQ (10) BEST_METRIC (val-core/aime24/acc/mean@1)
#   LOGGER (console,file) METRICS_DIR ($CKPT_DIR/metrics)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-7B}"
EXPERIMENT_NAME="${EXPERIMENT_NAME:-simpletir_qwen2.5_7b}"
source "$HERE/common.sh"
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then recipe_help "$0"; exit 0; fi
sandbox_overrides
rollout_correction_overrides
paper_settings
MAX_PROMPT_LENGTH=2048
# verl's dynamic batching fits at least one whole trajectory (prompt + response) per GPU micro-batch
TOKENS_PER_GPU=$(( MAX_PROMPT_LENGTH + MAX_RESPONSE_LENGTH > 20000 ? MAX_PROMPT_LENGTH + MAX_RESPONSE_LENGTH : 20000 ))
file_logger "$@"

python -m simpletir.main \
  actor_rollout_ref.model.path="$MODEL_PATH" \
  data.train_files="$DATA_DIR/train.parquet" \
  data.val_files="[$DATA_DIR/aime24.parquet,$DATA_DIR/aime25.parquet,$DATA_DIR/amc23.parquet,$DATA_DIR/math500.parquet]" \
  data.train_batch_size=512 \
  data.max_prompt_length="$MAX_PROMPT_LENGTH" \
  data.max_response_length="$MAX_RESPONSE_LENGTH" \
  algorithm.adv_estimator=grpo \
  algorithm.use_kl_in_reward=false \
  algorithm.filter_groups.enable=true \
  algorithm.filter_groups.metric=acc \
  algorithm.filter_groups.max_num_gen_batches=3 \
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
  actor_rollout_ref.actor.ppo_max_token_len_per_gpu="$TOKENS_PER_GPU" \
  actor_rollout_ref.rollout.n=16 \
  actor_rollout_ref.rollout.temperature=1.0 \
  actor_rollout_ref.rollout.top_p=1.0 \
  actor_rollout_ref.rollout.tensor_model_parallel_size=2 \
  actor_rollout_ref.rollout.gpu_memory_utilization=0.7 \
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=1 \
  simpletir.agent.tool_use="$TOOL_USE" \
  simpletir.agent.max_turns="$MAX_TURNS" \
  simpletir.agent.val_max_turns="$VAL_MAX_TURNS" \
  simpletir.agent.max_tokens_per_turn="$MAX_TOKENS_PER_TURN" \
  simpletir.agent.val_max_tokens_per_turn="$VAL_MAX_TOKENS_PER_TURN" \
  simpletir.agent.max_observation_tokens=256 \
  simpletir.agent.code.max_observation_chars=512 \
  simpletir.agent.code.show_empty_output=true \
  simpletir.agent.code.timeout_s=3 \
  simpletir.filter.void_turn="$VOID_FILTER" \
  "${SANDBOX_ARGS[@]}" \
  "${ROLLOUT_CORR_ARGS[@]}" \
  trainer.v1.trainer_mode="$TRAINER_MODE" \
  trainer.n_gpus_per_node="$GPUS_PER_NODE" \
  trainer.nnodes="$NNODES" \
  trainer.total_training_steps="$TOTAL_STEPS" \
  trainer.total_epochs=100 \
  trainer.test_freq="$TEST_FREQ" \
  trainer.save_freq="$SAVE_FREQ" \
  trainer.resume_mode="$RESUME_MODE" \
  trainer.resume_from_path="$RESUME_FROM_PATH" \
  trainer.logger="[$LOGGER]" \
  trainer.project_name="$PROJECT_NAME" \
  trainer.experiment_name="$EXPERIMENT_NAME" \
  trainer.default_local_dir="$CKPT_DIR" \
  "$@"
run_summary "$@"
