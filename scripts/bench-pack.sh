#!/usr/bin/env bash
# Per-run cost of packs: wall seconds per run-epoch (process start, data
# and validation included) of P runs trained as one pack (--pack P), for
# each pack size and cell at the blog's sizes, in one call; P = 1 is four
# runs one after another; and the training alone (the last epoch's
# train_seconds over the runs a pack trains), which is what a long run
# costs once process start and data are amortised over its epochs. The
# cost of a pack against lone runs is the ratio of the two in the same call.
#
# Each pack size runs once per kernel of --kernels (default auto, then
# composed: on the CPU auto is the native kernel where the cell has one),
# so the kernels' costs are side by side in one call.
#
#   scripts/bench-pack.sh [--device cpu|cuda] [--epochs E] [--packs 1,8,32,128] [--models rnn,lstm,gru]
#                         [--kernels auto,composed] [--json PATH]
#   defaults: cpu, 2 epochs; results/bench-pack-<device>.json
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
device=cpu epochs=2 packs=1,8,32,128 models=rnn,lstm,gru kernels=auto,composed json=
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --packs) packs=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --kernels) kernels=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    *) echo "bench-pack: unknown argument $1" >&2; exit 2 ;;
  esac
done
json=${json:-$root/results/bench-pack-${device%%:*}.json}
bin=${RNN_LAB_BIN:-$root/target/release/rnn-lab}
python=${PYTHON:-$root/.venv/bin/python}
[ -x "$bin" ] || build_rnn_lab "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$work/results.tsv
: >"$results"
for model in ${models//,/ }; do
  for pack in ${packs//,/ }; do
   for choice in ${kernels//,/ }; do
    runs=$pack
    [ "$pack" = 1 ] && runs=4
    echo "bench-pack: $model, $device, $epochs epochs, --kernel $choice: $runs run(s) in packs of $pack"
    t0=$EPOCHREALTIME
    "$bin" reproduce --models "$model" --seeds "1..$runs" --pack "$pack" --threads 1 --epochs "$epochs" \
      --device "$device" --kernel "$choice" --quiet --out "$work/$model-$pack-$choice"
    t1=$EPOCHREALTIME
    # The kernel, and the training alone: the last epoch's train_seconds (a
    # pack's, shared by its members) over the runs it trained, median.
    train=$("$python" - "$work/$model-$pack-$choice" "$pack" <<'PY'
import csv, glob, json, statistics, sys
folders = sorted(glob.glob(sys.argv[1] + "/*/summary.json"))
last = [float(list(csv.DictReader(open(f.replace("summary.json", "history.csv"))))[-1]["train_seconds"])
        for f in folders]
print(json.load(open(folders[0]))["kernel"], statistics.median(last) / int(sys.argv[2]))
PY
)
    read -r kernel train_s <<<"$train"
    echo -e "$model\t$pack\t$runs\t$(awk "BEGIN{print $t1 - $t0}")\t$kernel\t$train_s\t$choice" >>"$results"
   done
  done
done
"$bin" info --json >"$work/info.json"
"$python" - "$results" "$json" "$device" "$epochs" "$work/info.json" <<'PY'
import json, sys
results, out, device, epochs, info = sys.argv[1:]
epochs = int(epochs)
info = json.load(open(info))
report = {"device": device, "epochs": epochs, "cpu": info["cpu"], "versions": info["versions"],
          "what": "per_run_epoch_s: wall seconds per run-epoch (process start, data and validation "
                  "included) of runs trained in packs of each size, pack 1 being 4 runs one after another; "
                  "train_per_run_epoch_s: the last epoch's training seconds over the runs its pack trains",
          "models": {}}
report["what"] += ("; models[model][--kernel][pack]; cost_vs_lone and train_cost_vs_lone are "
                   "against the first --kernel's lone runs (pack 1) of the same call")
for line in open(results).read().splitlines():
    model, pack, runs, wall, kernel, train, choice = line.split("\t")
    m = report["models"].setdefault(model, {}).setdefault(choice, {})
    m[pack] = {"runs": int(runs), "wall_s": float(wall), "kernel": kernel,
               "per_run_epoch_s": float(wall) / (int(runs) * epochs),
               "train_per_run_epoch_s": float(train)}
for model, by_kernel in report["models"].items():
    lone = next(iter(by_kernel.values())).get("1")
    for choice, m in by_kernel.items():
        for pack, r in m.items():
            if lone:
                r["cost_vs_lone"] = r["per_run_epoch_s"] / lone["per_run_epoch_s"]
                r["train_cost_vs_lone"] = r["train_per_run_epoch_s"] / lone["train_per_run_epoch_s"]
        print(f"  {model} --kernel {choice}: " + ", ".join(
            f"pack {p} ({r['kernel']}): {r['per_run_epoch_s']:.3f} s ({r.get('cost_vs_lone', float('nan')):.2f}x), "
            f"training {r['train_per_run_epoch_s']:.4f} s ({r.get('train_cost_vs_lone', float('nan')):.2f}x)"
            for p, r in m.items()))
with open(out + ".tmp", "w") as f:
    json.dump(report, f, indent=2)
import os
os.replace(out + ".tmp", out)
print(f"bench-pack: wrote {out}")
PY
