#!/usr/bin/env bash
# Seconds per training epoch (validation excluded; median over epochs after
# the first, a warm-up) at the blog's sizes, per cell, of:
#   rnn-lab          as it runs by default (--kernel auto, --adam-layout flat;
#                    on the CPU the native kernel)
#   per-tensor Adam  the same with --adam-layout per-tensor
#   handwritten      --kernel handwritten (the CPU default before the native
#                    kernel, for the cells that have it)
#   libtorch kernel  --kernel libtorch --adam-layout per-tensor (rnn-lab
#                    before the hand-written backward and the flat Adam)
#   reference        scripts/reference.py (PyTorch)
# interleaved run by run so machine noise hits all alike, and the FLOP
# floor: the recurrence's GEMM FLOPs per epoch (forward and backward, 6 per
# multiply-add of a weight) over a large GEMM's rate measured in the same
# call, one thread. A benchmark: it asserts nothing.
#
#   scripts/bench.sh [--device cpu|cuda] [--threads N] [--epochs N] [--reps N] [--models rnn,irnn,lstm,gru] [--json PATH]
#   RNN_LAB_BIN=path/to/rnn-lab   use this binary instead of building one
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
device=cpu threads=1 epochs=6 reps=3 models=rnn,irnn,lstm,gru json=
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
json=${json:-$root/results/bench-${device%%:*}.json}
python=${PYTHON:-$root/.venv/bin/python}
if [ -z "${RNN_LAB_BIN:-}" ]; then
  "$root/scripts/setup.sh" >/dev/null
  build_rnn_lab "$root"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(--device "$device" --threads "$threads" --epochs "$epochs" --quiet --force)
# The cells with a hand-written kernel, from info --json.
handwritten=$("$RNN_LAB_BIN" info --json | "$python" -c '
import json, sys
print(" ".join(c["name"] for c in json.load(sys.stdin)["cells"] if "handwritten" in c["kernels"]))')
for rep in $(seq 1 "$reps"); do
  for model in ${models//,/ }; do
    echo "bench: rep $rep/$reps $model ($device, $threads thread(s), $epochs epochs)"
    "$RNN_LAB_BIN" train --model "$model" "${flags[@]}" --out "$work/rnn-lab/$model/$rep"
    "$RNN_LAB_BIN" train --model "$model" "${flags[@]}" --adam-layout per-tensor --out "$work/per-tensor/$model/$rep"
    if [[ " $handwritten " == *" $model "* ]]; then
      "$RNN_LAB_BIN" train --model "$model" "${flags[@]}" --kernel handwritten --out "$work/handwritten/$model/$rep"
    fi
    "$RNN_LAB_BIN" train --model "$model" "${flags[@]}" --kernel libtorch --adam-layout per-tensor \
      --out "$work/libtorch/$model/$rep"
    "$python" "$root/scripts/reference.py" --model "$model" "${flags[@]}" --out "$work/reference/$model/$rep"
  done
done
"$RNN_LAB_BIN" info --json >"$work/info.json"
"$python" - "$work" "$json" "$device" "$threads" "$epochs" "$reps" "$models" <<'PY'
import csv, glob, json, os, statistics, sys, time
import torch
work, out, device, threads, epochs, reps, models = sys.argv[1:]
torch.set_num_threads(int(threads))
dev = torch.device("cuda" if device.startswith("cuda") else "cpu")

def gemm_rate(n=1024, reps=20):
    """GFLOP/s of an n x n float32 matmul, best of reps (libtorch's own GEMM)."""
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    best = float("inf")
    for _ in range(reps):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if dev.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9

info = json.load(open(os.path.join(work, "info.json")))
c = info["defaults"]
rate = gemm_rate()
gates = {"rnn": 1, "irnn": 1, "lstm": 4, "gru": 3}
train_rows = int(c["fit_rows"] * (1 - c["val_split"]))
result = {"device": device, "threads": int(threads), "epochs": int(epochs), "reps": int(reps),
          "cpu": info["cpu"], "versions": info["versions"], "gemm_gflops": rate,
          "metric": "median seconds per training epoch (validation excluded, first epoch left out)",
          "floor": "GEMM FLOPs of the recurrence per training epoch (6 per weight multiply-add: forward, "
                   "input and weight gradients) over gemm_gflops; elementwise work and the head left out",
          "models": {}}

def per_epoch(impl, model):
    times = []
    for h in glob.glob(os.path.join(work, impl, model, "*", "history.csv")):
        times += [float(r["train_seconds"]) for r in list(csv.DictReader(open(h)))[1:]]
    return statistics.median(times) if times else None

def kernel(impl, model):
    return json.load(open(glob.glob(os.path.join(work, impl, model, "*", "summary.json"))[0]))["kernel"]

print(f"GEMM {rate:.1f} GFLOP/s; seconds per epoch, ratios side by side")
print(f"{'model':6} {'kernel':>8} {'rnn-lab':>8} {'flat off':>8} {'handwr.':>8} {'before':>8} {'PyTorch':>8} "
      f"{'PyT/rnn-lab':>11} {'floor':>7} {'rnn-lab/floor':>13} {'before/floor':>12}")
for model in models.split(","):
    h, L = c["units"], c["seq_len"]
    widths = [2] + [h] * (c["layers"] - 1)
    flops = 6 * train_rows * L * gates[model] * h * sum(w + h for w in widths)
    floor = flops / (rate * 1e9)
    ours, flat_off = per_epoch("rnn-lab", model), per_epoch("per-tensor", model)
    before, theirs = per_epoch("libtorch", model), per_epoch("reference", model)
    hand = per_epoch("handwritten", model)
    result["models"][model] = {
        "kernel": kernel("rnn-lab", model), "rnn_lab": ours, "rnn_lab_per_tensor_adam": flat_off,
        "rnn_lab_handwritten_kernel": hand,
        "ratio_handwritten_over_rnn_lab": hand / ours if hand else None,
        "rnn_lab_libtorch_kernel": before, "reference": theirs,
        "ratio_reference_over_rnn_lab": theirs / ours, "ratio_before_over_rnn_lab": before / ours,
        "ratio_per_tensor_over_flat_adam": flat_off / ours,
        "gemm_flops_per_epoch": flops, "floor_s": floor,
        "rnn_lab_over_floor": ours / floor, "before_over_floor": before / floor,
        "reference_over_floor": theirs / floor}
    hand_s = f"{hand:8.4f}" if hand else f"{'-':>8}"
    print(f"{model:6} {kernel('rnn-lab', model):>8} {ours:8.4f} {flat_off:8.4f} {hand_s} {before:8.4f} {theirs:8.4f} "
          f"{theirs / ours:11.2f} {floor:7.4f} {ours / floor:13.1f} {before / floor:12.1f}")
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
with open(out + ".tmp", "w") as f:
    json.dump(result, f, indent=2)
os.replace(out + ".tmp", out)
print(f"bench: wrote {out}")
PY
