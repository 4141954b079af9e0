#!/usr/bin/env bash
# ROLLOUT_CORR=<preset>: verl's rollout correction (algorithm.rollout_correction), on top of the void-turn filter.
# Sourced by recipes/common.sh (every GPU training recipe) and recipes/train_tiny_cpu.sh; not run directly.
#
# verl's decoupled mode: the actor recomputes the old log-probs, and the gap to the rollout's log-probs
# (actor_rollout_ref.rollout.calculate_log_probs=true) sets importance-sampling (IS) weights and/or rejects
# sequences. Each preset is one of verl's RolloutCorrectionConfig.decoupled_<preset>() factories, values as verl
# writes them (tests/simpletir/test_recipes.py checks the composed config against them):
#   token_is   per-token truncated IS weights, threshold 2.0            rollout_is=token
#   seq_is     per-sequence truncated IS weights, threshold 2.0         rollout_is=sequence
#   seq_is_rs  seq_is + rejection of sequences whose ratio product is outside [0.5, 2.0]  rollout_rs=seq_sum_k1
#   geo_rs     rejection by the geometric mean of the ratios outside [0.999, 1.001], no IS  rollout_rs=seq_mean_k1
#   k3_rs      rejection by the sequence mean of the K3 divergence above 0.01, no IS        rollout_rs=seq_mean_k3
# Unset or empty: verl's defaults (no weights, no rejection; verl still logs its rollout_corr/* mismatch metrics
# whenever rollout log-probs are computed). Fine-tune with hydra overrides, e.g.
# algorithm.rollout_correction.rollout_is_threshold=3.0. verl's bypass-mode presets (rollout log-probs as the old
# ones) need actor-side loss settings too and are not offered here.

# Set the array ROLLOUT_CORR_ARGS to the hydra overrides of $ROLLOUT_CORR; says what is allowed and returns 2 on an
# unknown preset. Call it as a statement (`rollout_correction_overrides`), so that `set -e` stops the recipe.
rollout_correction_overrides() {
  local is threshold rs rs_threshold
  ROLLOUT_CORR_ARGS=()
  case "${ROLLOUT_CORR:-}" in
    "") return 0 ;;
    token_is)  is=token;    threshold=2.0; rs=null;        rs_threshold=null ;;
    seq_is)    is=sequence; threshold=2.0; rs=null;        rs_threshold=null ;;
    seq_is_rs) is=sequence; threshold=2.0; rs=seq_sum_k1;  rs_threshold="'0.5_2.0'" ;;
    geo_rs)    is=null;     threshold=2.0; rs=seq_mean_k1; rs_threshold="'0.999_1.001'" ;;
    k3_rs)     is=null;     threshold=2.0; rs=seq_mean_k3; rs_threshold=0.01 ;;
    *)
      echo "ROLLOUT_CORR must be one of token_is, seq_is, seq_is_rs, geo_rs, k3_rs (or unset), got '$ROLLOUT_CORR'" >&2
      return 2 ;;
  esac
  ROLLOUT_CORR_ARGS=(
    actor_rollout_ref.rollout.calculate_log_probs=true
    algorithm.rollout_correction.bypass_mode=false
    algorithm.rollout_correction.rollout_is="$is"
    algorithm.rollout_correction.rollout_is_threshold="$threshold"
    algorithm.rollout_correction.rollout_is_batch_normalize=false
    algorithm.rollout_correction.rollout_rs="$rs"
    algorithm.rollout_correction.rollout_rs_threshold="$rs_threshold"
  )
}
