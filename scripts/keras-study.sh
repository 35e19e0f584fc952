#!/usr/bin/env bash
# The plateau study of issue 10: per LSTM seed, 100 epochs at the blog's
# settings, CPU, one thread each:
#   rnn-lab-adam-keras/  rnn-lab with Keras's Adam (--adam keras)
#   keras-lockstep/      Keras on TensorFlow from rnn-lab's data, initial
#                        weights and batch order (seeds paired with rnn-lab's)
#   keras-blog/          the blog's own Keras fit, numpy data, seeded
# rnn-lab with libtorch's Adam and the PyTorch reference for the same seeds
# are in results/blog-cpu. Compare with:
#   scripts/compare.py results/keras-parity results/blog-cpu --published --per-seed
#
#   scripts/keras-study.sh [OUT] [SEEDS] [MODEL]   (default results/keras-parity 1..12 lstm)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/results/keras-parity}
seeds=${2:-1..12}
model=${3:-lstm}
epochs=${EPOCHS:-100}
"$root/scripts/setup.sh" --keras
bin=$(rnn_lab_bin "$root")
[ -x "$bin" ] || build_rnn_lab "$root"
export RNN_LAB_BIN=$bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TF_CPP_MIN_LOG_LEVEL=3
for seed in $(seq "${seeds%%..*}" "${seeds##*..}"); do
  ours=$out/rnn-lab-adam-keras/$model/seed-$seed
  if [ ! -e "$ours/summary.json" ]; then
    echo "keras-study: seed $seed: rnn-lab --adam keras"
    "$bin" train --model "$model" --seed "$seed" --epochs "$epochs" --adam keras --device cpu --threads 1 --quiet \
      --force --out "$ours" --save-init "$work/init-$seed.safetensors" --save-data "$work/data-$seed.safetensors"
  else
    "$bin" train --model "$model" --seed "$seed" --epochs "$epochs" --device cpu --threads 1 --quiet --force \
      --out "$work/unused-$seed" --save-init "$work/init-$seed.safetensors" --save-data "$work/data-$seed.safetensors"
  fi
  if [ ! -e "$out/keras-lockstep/$model/seed-$seed/summary.json" ]; then
    echo "keras-study: seed $seed: Keras lockstep"
    "$root/scripts/keras_reference.py" --model "$model" --seed "$seed" --epochs "$epochs" --quiet --force \
      --data "$work/data-$seed.safetensors" --init-from "$work/init-$seed.safetensors" \
      --out "$out/keras-lockstep/$model/seed-$seed"
  fi
  if [ ! -e "$out/keras-blog/$model/seed-$seed/summary.json" ]; then
    echo "keras-study: seed $seed: Keras blog path"
    "$root/scripts/keras_reference.py" --model "$model" --seed "$seed" --epochs "$epochs" --quiet --force \
      --out "$out/keras-blog/$model/seed-$seed"
  fi
done
