#!/usr/bin/env bash
# What a checkpoint costs: seconds to write one and bytes on disk, at the
# blog's size (the LSTM and the SimpleRNN, 30 units, 2 layers) for a lone
# run and for a pack of 1000. Each run checkpoints after every epoch
# (--checkpoint-every 1) and summary.json records the checkpoints it wrote,
# the seconds they took (a pack's for all its members) and one member's
# file size. The data are small (the cost does not depend on them).
#
#   scripts/bench-checkpoint.sh [--models lstm,rnn] [--packs 1,1000] [--epochs 4] [--json PATH]
#   defaults: results/bench-checkpoint-cpu.json
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
models=lstm,rnn packs=1,1000 epochs=4 json=
while [ $# -gt 0 ]; do
  case $1 in
    --models) models=$2; shift 2 ;;
    --packs) packs=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    *) echo "bench-checkpoint: unknown argument $1" >&2; exit 2 ;;
  esac
done
json=${json:-$root/results/bench-checkpoint-cpu.json}
bin=${RNN_LAB_BIN:-$root/target/release/rnn-lab}
python=${PYTHON:-$root/.venv/bin/python}
[ -x "$bin" ] || build_rnn_lab "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for model in ${models//,/ }; do
  for pack in ${packs//,/ }; do
    echo "bench-checkpoint: $model, a pack of $pack, $epochs epochs"
    "$bin" reproduce --models "$model" --seeds "1..$pack" --pack "$pack" --threads 1 --device cpu \
      --samples 300 --fit-rows 250 --seq-len 10 --epochs "$epochs" --checkpoint-every 1 \
      --quiet --out "$work/$model-$pack" >/dev/null
  done
done
"$bin" info --json >"$work/info.json"
"$python" - "$work" "$json" "$models" "$packs" "$work/info.json" <<'PY'
import glob, json, os, sys
work, out, models, packs, info = sys.argv[1:]
info = json.load(open(info))
report = {"cpu": info["cpu"], "versions": info["versions"],
          "what": "seconds_per_checkpoint: a run's (a pack's: all its members') seconds per checkpoint; "
                  "bytes_per_member: one member's checkpoint.safetensors; parameters: one member's",
          "runs": {}}
for model in models.split(","):
    for pack in packs.split(","):
        s = json.load(open(sorted(glob.glob(f"{work}/{model}-{pack}/*/summary.json"))[0]))
        c = s["checkpoints"]
        r = {"members": int(pack), "parameters": s["parameters"], "written": c["written"],
             "seconds_per_checkpoint": c["seconds"] / c["written"], "bytes_per_member": c["bytes"],
             "train_seconds_per_epoch": s["train_seconds_per_epoch"]}
        report["runs"][f"{model}-pack{pack}"] = r
        print(f"  {model}, pack of {pack}: {r['seconds_per_checkpoint'] * 1000:.1f} ms a checkpoint, "
              f"{r['bytes_per_member']} bytes a member ({r['parameters']} parameters)")
with open(out + ".tmp", "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")
os.replace(out + ".tmp", out)
print(f"bench-checkpoint: wrote {out}")
PY
