#!/usr/bin/env bash
# Seconds per training epoch (validation excluded; median over epochs after
# the first, a warm-up) of rnn-lab against the PyTorch reference at the
# blog's sizes, same device and thread count, the two interleaved run by
# run so machine noise hits both. A benchmark: it asserts nothing.
#
#   scripts/bench.sh [--device cpu|cuda] [--threads N] [--epochs N] [--reps N] [--json PATH]
#   RNN_LAB_BIN=path/to/rnn-lab   use this binary instead of building one
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
device=cpu threads=1 epochs=6 reps=3 json=
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
json=${json:-$root/results/bench-${device%%:*}.json}
python=${PYTHON:-$root/.venv/bin/python}
if [ -z "${RNN_LAB_BIN:-}" ]; then
  "$root/scripts/setup.sh" >/dev/null
  build_rnn_lab "$root"
  RNN_LAB_BIN=$root/target/release/rnn-lab
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(--device "$device" --threads "$threads" --epochs "$epochs" --quiet --force)
for rep in $(seq 1 "$reps"); do
  for model in rnn lstm gru; do
    echo "bench: rep $rep/$reps $model: rnn-lab, then reference ($device, $threads thread(s), $epochs epochs)"
    "$RNN_LAB_BIN" train --model "$model" "${flags[@]}" --out "$work/rnn-lab/$model/$rep"
    "$python" "$root/scripts/reference.py" --model "$model" "${flags[@]}" --out "$work/reference/$model/$rep"
  done
done
"$python" - "$work" "$json" "$device" "$threads" "$epochs" "$reps" <<'PY'
import csv, glob, json, os, platform, statistics, sys
work, out, device, threads, epochs, reps = sys.argv[1:]
result = {"device": device, "threads": int(threads), "epochs": int(epochs), "reps": int(reps),
          "host": platform.node(), "cpu": platform.processor() or platform.machine(),
          "metric": "median seconds per training epoch (validation excluded, first epoch left out)", "models": {}}
def per_epoch(impl, model):
    times = []
    for h in glob.glob(os.path.join(work, impl, model, "*", "history.csv")):
        times += [float(r["train_seconds"]) for r in list(csv.DictReader(open(h)))[1:]]
    return statistics.median(times)
print(f"{'model':6} {'rnn-lab s/epoch':>16} {'reference s/epoch':>18} {'reference / rnn-lab':>20}")
for model in ("rnn", "lstm", "gru"):
    ours, theirs = per_epoch("rnn-lab", model), per_epoch("reference", model)
    result["models"][model] = {"rnn_lab": ours, "reference": theirs, "ratio_reference_over_rnn_lab": theirs / ours}
    print(f"{model:6} {ours:16.4f} {theirs:18.4f} {theirs / ours:20.2f}")
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
json.dump(result, open(out, "w"), indent=2)
print(f"bench: wrote {out}")
PY
