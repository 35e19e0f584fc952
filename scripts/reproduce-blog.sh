#!/usr/bin/env bash
# Regenerates results/blog-cpu: the blog's experiment (rnn, lstm, gru; Keras
# init; blog settings; seeds 1..5) with rnn-lab and with the PyTorch
# reference, an rnn-lab ablation with PyTorch's init, the comparison table
# (with the blog's and textbook's published runs: compare.py --published)
# and the plots. rnn-lab and the reference run side by side, one thread each.
#
#   scripts/reproduce-blog.sh [OUT] [SEEDS]     (default results/blog-cpu 1..20)
#   EPOCHS=2 scripts/reproduce-blog.sh /tmp/quick 1   a quick check of the pipeline
#   PACK       rnn-lab's --pack (default auto: SimpleRNN and GRU packed on the CPU)
#   REFERENCE_MODELS  the reference's models (default "rnn lstm gru"; its GRU
#              costs about 2 s per epoch on one CPU core)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/results/blog-cpu}
seeds=${2:-1..20}
epochs=${EPOCHS:-100}
pack=${PACK:-auto}
reference_models=${REFERENCE_MODELS:-rnn lstm gru}
"$root/scripts/setup.sh"
build_rnn_lab "$root"
bin=$RNN_LAB_BIN
start=$(date +%s)

rnn_lab_runs() {
  echo "reproduce: rnn-lab, Keras init -> $out/rnn-lab"
  "$bin" reproduce --models rnn,lstm,gru --seeds "$seeds" --device cpu --threads 1 --quiet \
    --pack "$pack" --epochs "$epochs" --out "$out/rnn-lab"
  echo "reproduce: rnn-lab, PyTorch init -> $out/rnn-lab-torch-init"
  "$bin" reproduce --models rnn,lstm,gru --seeds "$seeds" --device cpu --threads 1 --quiet \
    --pack "$pack" --init torch --epochs "$epochs" --out "$out/rnn-lab-torch-init"
}

# 1..5 -> 1 2 3 4 5; 1,4,9 -> 1 4 9
seed_list() {
  case $1 in
    *..*) seq "${1%%..*}" "${1##*..}" ;;
    *) tr ',' ' ' <<<"$1" ;;
  esac
}

reference_runs() {
  echo "reproduce: PyTorch reference, Keras init -> $out/reference"
  for model in $reference_models; do
    for seed in $(seed_list "$seeds"); do
      # Resumes as the rnn-lab studies do: a finished run is kept.
      [ -f "$out/reference/$model/seed-$seed/summary.json" ] && continue
      "$root/scripts/reference.py" --model "$model" --seed "$seed" --epochs "$epochs" --device cpu --threads 1 \
        --quiet --force --out "$out/reference/$model/seed-$seed"
    done
  done
}

rnn_lab_runs & a=$!
reference_runs & b=$!
wait $a
wait $b
echo "reproduce: runs took $(( $(date +%s) - start )) s"
"$root/.venv/bin/python" "$root/scripts/compare.py" "$out" --published --per-seed > "$out/comparison.md"
echo "reproduce: wrote $out/comparison.md"
"$root/scripts/plot.py" --out "$out" "$out/rnn-lab" "$out/reference" "$out/rnn-lab-torch-init"
