#!/usr/bin/env bash
# Regenerates results/blog-cpu: the blog's experiment (rnn, lstm, gru; Keras
# init; blog settings; seeds 1..5) with rnn-lab and with the PyTorch
# reference, an rnn-lab ablation with PyTorch's init, the comparison table
# and the plots. rnn-lab and the reference run side by side, one thread each.
#
#   scripts/reproduce-blog.sh [OUT] [SEEDS]     (default results/blog-cpu 1..5)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/results/blog-cpu}
seeds=${2:-1..5}
"$root/scripts/setup.sh"
(cd "$root" && cargo build --release --quiet)
bin=$root/target/release/rnn-lab
start=$(date +%s)

rnn_lab_runs() {
  echo "reproduce: rnn-lab, Keras init -> $out/rnn-lab"
  "$bin" reproduce --models rnn,lstm,gru --seeds "$seeds" --device cpu --threads 1 --quiet --force \
    --out "$out/rnn-lab"
  echo "reproduce: rnn-lab, PyTorch init -> $out/rnn-lab-torch-init"
  "$bin" reproduce --models rnn,lstm,gru --seeds "$seeds" --device cpu --threads 1 --quiet --force \
    --init torch --out "$out/rnn-lab-torch-init"
}

reference_runs() {
  echo "reproduce: PyTorch reference, Keras init -> $out/reference"
  for model in rnn lstm gru; do
    for seed in $("$root/.venv/bin/python" -c "import sys; a, _, b = sys.argv[1].partition('..'); print(*range(int(a), int(b or a) + 1)) if ',' not in sys.argv[1] else print(*sys.argv[1].split(','))" "$seeds"); do
      "$root/scripts/reference.py" --model "$model" --seed "$seed" --device cpu --threads 1 --quiet --force \
        --out "$out/reference/$model/seed-$seed"
    done
  done
}

rnn_lab_runs & a=$!
reference_runs & b=$!
wait $a
wait $b
echo "reproduce: runs took $(( $(date +%s) - start )) s"
"$root/.venv/bin/python" "$root/scripts/compare.py" "$out" > "$out/comparison.md"
echo "reproduce: wrote $out/comparison.md"
"$root/scripts/plot.py" --out "$out" "$out/rnn-lab" "$out/reference" "$out/rnn-lab-torch-init"
