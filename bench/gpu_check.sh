#!/usr/bin/env bash
# GPU check for lm_train: GPT-2 small (124 M) with bf16 autocast, NCCL and torch.compile on a
# synthetic dataset; prints tokens/s and MFU. Needs only this repository and its venv (offline).
#
#   bash bench/gpu_check.sh [STEPS]        (default 60 steps per variant)
#
# Variants: compile + FlexAttention document masking (the gpt2-small.yaml default), compile +
# SDPA mask, and eager SDPA. Each runs under torchrun with one process per visible GPU.
# Results: runs/gpu_check/<variant>/metrics.jsonl, summary in runs/gpu_check/summary.json.
#
#   GPU_CHECK_SMOKE=1 bash bench/gpu_check.sh 4
# runs the same script on this machine's CPU (2 processes, gloo, a tiny model, eager), so the
# script itself is known to work before a device is lent; its figures mean nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
STEPS=${1:-60}
SMOKE=${GPU_CHECK_SMOKE:-0}
OUT=${OUT:-runs/gpu_check}
TINY=()
if [ "$SMOKE" = 1 ]; then
  OUT=${OUT}_smoke
  TINY=(n_layer=2 n_head=2 d_model=64 seq_len=128 batch_size=2 dtype=float32 data_workers=1 log_every=1)
fi
mkdir -p "$OUT"

$PY - <<'PYEOF'
import platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda build", torch.version.cuda)
print("torch.cuda.is_available():", torch.cuda.is_available())
if torch.cuda.is_available():
    print("devices:", [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
    print("bf16 supported:", torch.cuda.is_bf16_supported(), "| nccl", torch.cuda.nccl.version())
try:
    import triton
    print("triton", triton.__version__)
except Exception as exc:
    print("triton unavailable:", exc)
PYEOF
if [ "$SMOKE" = 1 ]; then
  NGPU=2
  echo "gpu_check: smoke run on CPU (GPU_CHECK_SMOKE=1): checks the script, measures nothing"
elif ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: no CUDA device visible to this torch build; nothing to measure." >&2
  exit 2
else
  NGPU=$($PY -c "import torch; print(torch.cuda.device_count())")
fi

DATA="$OUT/dataset"
if [ ! -f "$DATA/manifest.json" ]; then
  echo "== writing synthetic dataset (vocab 50304, ~24 M tokens) to $DATA"
  $PY -c "
from lm_train.data import write_synthetic_dataset
write_synthetic_dataset('$DATA', num_docs=24000, mean_len=1000, sigma=1.0, vocab_size=50304, num_shards=4)
"
fi

FAILED=""
run_variant() {
  local name=$1; shift
  local run="$OUT/$name"
  rm -rf "$run"
  echo "== $name: torchrun --nproc-per-node=$NGPU ... $*"
  local started=$(date +%s)
  $PY -m torch.distributed.run --standalone --nproc-per-node="$NGPU" -m lm_train.train \
    --data "$DATA" --out "$run" --config lm_train/configs/gpt2-small.yaml \
    max_steps="$STEPS" log_every=10 eval_every=0 ckpt_every=0 grad_accum=1 batch_size=16 \
    warmup_steps=10 tensorboard=false "$@" "${TINY[@]}" 2>&1 | tail -n 25
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $(( $(date +%s) - started ))s"
  [ "$rc" -eq 0 ] || FAILED="$FAILED $name"
}

COMPILE=true
[ "$SMOKE" = 1 ] && COMPILE=false  # inductor on 2 CPU cores would take minutes per variant
run_variant compile_flex compile=$COMPILE attention=flex
run_variant compile_sdpa compile=$COMPILE attention=sdpa
run_variant eager_sdpa compile=false attention=sdpa

$PY - "$OUT" "$SMOKE" <<'PYEOF'
import json, statistics, sys, os
out, smoke = sys.argv[1], sys.argv[2] == "1"
GOAL_MFU = 0.40  # GPT-2 small at sequence 1024, against the chip's dense bf16 peak
summary = {"smoke_run_on_cpu": smoke}
for name in ("compile_flex", "compile_sdpa", "eager_sdpa"):
    path = os.path.join(out, name, "metrics.jsonl")
    if not os.path.exists(path):
        summary[name] = "failed (no metrics)"
        continue
    recs = [json.loads(l) for l in open(path) if l.strip()]
    train = [r for r in recs if r.get("kind") == "train"][2:]  # skip compile warm-up windows
    run = json.load(open(os.path.join(out, name, "run.json")))
    if not train:
        summary[name] = "too few steps"
        continue
    summary[name] = {
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in train),
        "mfu": statistics.median(r["mfu"] for r in train),
        "data_wait_frac": statistics.median(r["data_wait_frac"] for r in train),
        "final_loss": train[-1]["loss"],
        "num_params": run["num_params"], "device": run["device_name"], "world_size": run["world_size"],
        "amp_dtype": run["amp_dtype"], "peak_flops_per_device": run["peak_flops_per_device"],
    }
    if not smoke:
        summary[name]["mfu_goal"] = GOAL_MFU
        summary[name]["meets_mfu_goal"] = summary[name]["mfu"] >= GOAL_MFU
print(json.dumps(summary, indent=2))
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
PYEOF
if [ -n "$FAILED" ]; then
  echo "gpu_check: failed variant(s):$FAILED" >&2
  exit 1
fi
