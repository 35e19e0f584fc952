#!/usr/bin/env bash
# Per-run cost of packed runs against runs one at a time and against the
# best --jobs, at the blog's sizes, measured side by side in one call:
#   sequential  S seeds, one process after another (--pack 1)
#   jobs        the same S seeds as a sweep, J processes at once (--pack 1)
#   packed      P seeds in one pack (--pack P)
# Each figure is wall time per run-epoch, process start and data included.
#
#   scripts/bench-pack.sh [--device cpu|cuda] [--epochs E] [--seeds S] [--jobs J] [--pack P] [--models rnn,lstm,gru] [--json PATH]
#   defaults: cpu, 4 epochs, S 4, J = cores, P 32; results/bench-pack-<device>.json
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
device=cpu epochs=4 seeds=4 jobs=$(nproc) pack=32 models=rnn,lstm,gru json=
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --pack) pack=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
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
common=(--epochs "$epochs" --device "$device" --quiet)
results=$work/results.tsv
: >"$results"
timed() { # label model runs command...
  local label=$1 model=$2 runs=$3; shift 3
  local t0 t1
  t0=$EPOCHREALTIME; "$@"; t1=$EPOCHREALTIME
  echo -e "$model\t$label\t$runs\t$(awk "BEGIN{print $t1 - $t0}")" >>"$results"
  echo "bench-pack: $model $label: $runs runs in $(awk "BEGIN{print $t1 - $t0}") s"
}
for model in ${models//,/ }; do
  echo "bench-pack: $model, $device, $epochs epochs: sequential ($seeds), jobs $jobs ($seeds), packed ($pack)"
  timed sequential "$model" "$seeds" "$bin" reproduce --models "$model" --seeds "1..$seeds" --pack 1 --threads 1 \
    "${common[@]}" --out "$work/seq-$model"
  timed "jobs-$jobs" "$model" "$seeds" "$bin" sweep --models "$model" --seq-lens 100 --seeds "1..$seeds" --pack 1 \
    --jobs "$jobs" "${common[@]}" --out "$work/jobs-$model"
  timed "packed-$pack" "$model" "$pack" "$bin" reproduce --models "$model" --seeds "1..$pack" --pack "$pack" \
    --threads 1 "${common[@]}" --out "$work/pack-$model"
done
"$python" - "$results" "$json" "$device" "$epochs" "$seeds" "$jobs" "$pack" "$bin" <<'PY'
import json, subprocess, sys
results, out, device, epochs, seeds, jobs, pack, binary = sys.argv[1:]
epochs = int(epochs)
rows = [line.split("\t") for line in open(results).read().splitlines()]
report = {"device": device, "epochs": epochs, "info": json.loads(subprocess.check_output([binary, "info", "--json"])),
          "what": "wall seconds per run-epoch (process start, data and validation included), "
                  "sequential and jobs over the same seeds, packed over its own", "models": {}}
for model, label, runs, wall in rows:
    m = report["models"].setdefault(model, {})
    m[label] = {"runs": int(runs), "wall_s": float(wall), "per_run_epoch_s": float(wall) / (int(runs) * epochs)}
for model, m in report["models"].items():
    seq = m["sequential"]["per_run_epoch_s"]
    best_jobs = m[f"jobs-{jobs}"]["per_run_epoch_s"]
    packed = m[f"packed-{pack}"]["per_run_epoch_s"]
    m["packed_cost_vs_sequential"] = packed / seq
    m["jobs_cost_vs_sequential"] = best_jobs / seq
    m["packed_cost_vs_jobs"] = packed / best_jobs
    m["packed_throughput_vs_sequential"] = seq / packed
json.dump(report, open(out, "w"), indent=2)
print(f"bench-pack: wrote {out}")
for model, m in report["models"].items():
    print(f"  {model}: per run-epoch sequential {m['sequential']['per_run_epoch_s']:.3f} s, "
          f"jobs {m[f'jobs-{jobs}']['per_run_epoch_s']:.3f} s, packed {m[f'packed-{pack}']['per_run_epoch_s']:.3f} s; "
          f"packed/sequential {m['packed_cost_vs_sequential']:.2f}, packed/jobs {m['packed_cost_vs_jobs']:.2f}")
PY
