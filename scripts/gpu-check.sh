#!/usr/bin/env bash
# CUDA checks for a lent GPU machine, in one go (under 8 minutes): what
# libtorch sees, parity on CUDA for every cell (rnn-lab vs the PyTorch
# reference from the same initial weights, tolerance 1e-3: cuDNN and TF32
# differ from the CPU), CPU vs CUDA reproducibility of rnn-lab, the blog's
# runs on CUDA, the bench (single runs of each cell against PyTorch, the
# flat Adam on and off, the libtorch kernel) and packs of 1/32/256/1024 per
# cell. Writes gpu-report.json (everything in one file) and logs to OUT.
#
# Build here (cargo build --release), carry target/release/rnn-lab, and on
# the GPU machine run:  scripts/gpu-check.sh "$OUT"
#   PYTHON   the Python with torch 2.11.0 (default python3); its torch/lib
#            is put on LD_LIBRARY_PATH for the binary
#   DEVICE   the device to check (default cuda; cpu runs a dry run anywhere)
#   BLOG_EPOCHS, BENCH_EPOCHS, BENCH_REPS, PACKS   shorten a dry run (100, 6, 1, 1,32,256,1024)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-${OUT:-$root/runs/gpu-check}}
export PYTHON=${PYTHON:-python3}
device=${DEVICE:-cuda}
export RNN_LAB_BIN=${RNN_LAB_BIN:-$root/target/release/rnn-lab}
bin=$RNN_LAB_BIN
mkdir -p "$out"
torch_lib=$("$PYTHON" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH=$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { echo "gpu-check: $*"; }

say "environment"
"$bin" info --json | tee "$out/info.json"
nvidia-smi -L 2>/dev/null | tee "$out/nvidia-smi.txt" || true

say "parity on $device: rnn-lab vs reference, and rnn-lab $device vs cpu (3 epochs, blog sizes)"
for model in rnn irnn lstm gru; do
  flags=(--model "$model" --epochs 3 --threads 1 --quiet)
  "$bin" train "${flags[@]}" --device "$device" --out "$work/ours-$model" --save-init "$work/$model.init.safetensors"
  "$bin" train "${flags[@]}" --device cpu --out "$work/cpu-$model" --save-init "$work/$model.cpu-init.safetensors"
  "$root/scripts/reference.py" "${flags[@]}" --device "$device" --out "$work/ref-$model" \
    --init-from "$work/$model.init.safetensors"
done

say "the blog's runs on $device (rnn, lstm, gru; seed 1; 100 epochs)"
"$bin" reproduce --models rnn,lstm,gru --seeds 1 --device "$device" --epochs "${BLOG_EPOCHS:-100}" --quiet \
  --out "$work/blog" | tee "$out/blog.log"
cp "$work/blog/aggregate.md" "$out/blog-aggregate.md"

say "bench on $device"
RNN_LAB_BIN=$bin "$root/scripts/bench.sh" --device "$device" --epochs "${BENCH_EPOCHS:-6}" --reps "${BENCH_REPS:-1}" --json "$out/bench-$device.json" \
  | tee "$out/bench.log"

say "packs on $device"
RNN_LAB_BIN=$bin "$root/scripts/bench-pack.sh" --device "$device" --epochs 2 --packs "${PACKS:-1,32,256,1024}" \
  --json "$out/bench-pack-$device.json" | tee "$out/bench-pack.log"

"$PYTHON" - "$work" "$out" "$device" <<'PY'
import csv, json, os, sys
from safetensors.torch import load_file
work, out, device = sys.argv[1:]
def col(path, name):
    return [float(r[name]) for r in csv.DictReader(open(path))]
def rel(a, b):
    return max(abs(x - y) / max(abs(y), 1e-30) for x, y in zip(a, b))
def ab(a, b):
    return max(abs(x - y) for x, y in zip(a, b))
report = {"device": device, "info": json.load(open(os.path.join(out, "info.json"))), "parity": {}, "blog": {}}
ok = True
for m in ("rnn", "irnn", "lstm", "gru"):
    h = {k: os.path.join(work, f"{k}-{m}", "history.csv") for k in ("ours", "ref", "cpu")}
    p = {k: os.path.join(work, f"{k}-{m}", "predictions.csv") for k in ("ours", "ref", "cpu")}
    a, b = load_file(os.path.join(work, f"{m}.init.safetensors")), load_file(os.path.join(work, f"{m}.cpu-init.safetensors"))
    entry = {
        "init_equal_cpu_vs_device": all(a[k].equal(b[k]) for k in a),
        "loss_rel_vs_reference": rel(col(h["ours"], "loss"), col(h["ref"], "loss")),
        "val_loss_rel_vs_reference": rel(col(h["ours"], "val_loss"), col(h["ref"], "val_loss")),
        "pred_abs_vs_reference": ab(col(p["ours"], "prediction"), col(p["ref"], "prediction")),
        "loss_rel_device_vs_cpu": rel(col(h["ours"], "loss"), col(h["cpu"], "loss")),
        "val_loss_rel_device_vs_cpu": rel(col(h["ours"], "val_loss"), col(h["cpu"], "val_loss")),
        "pred_abs_device_vs_cpu": ab(col(p["ours"], "prediction"), col(p["cpu"], "prediction")),
        "rnn_lab_train_s_per_epoch": json.load(open(os.path.join(work, f"ours-{m}", "summary.json")))["train_seconds_per_epoch"],
    }
    entry["pass"] = (entry["init_equal_cpu_vs_device"] and entry["loss_rel_vs_reference"] <= 1e-3
                     and entry["val_loss_rel_vs_reference"] <= 1e-3 and entry["pred_abs_vs_reference"] <= 1e-3)
    ok &= entry["pass"]
    report["parity"][m] = entry
    if m == "irnn":
        continue  # not one of the blog's runs
    s = json.load(open(os.path.join(work, "blog", f"multiply-{m}-keras-len100-seed1", "summary.json")))
    report["blog"][m] = {k: s[k] for k in ("device", "correctness", "final_loss", "final_val_loss", "test_mse",
                                           "seconds_per_epoch", "train_seconds_per_epoch", "seconds_total", "versions")}
report["bench"] = json.load(open(os.path.join(out, f"bench-{device}.json")))
report["bench_pack"] = json.load(open(os.path.join(out, f"bench-pack-{device}.json")))
report["parity_pass"] = ok
json.dump(report, open(os.path.join(out, "gpu-report.json"), "w"), indent=2)
print(json.dumps(report["parity"], indent=2))
print("gpu-check: parity", "PASS" if ok else "FAIL", "- wrote", os.path.join(out, "gpu-report.json"))
sys.exit(0 if ok else 1)
PY
