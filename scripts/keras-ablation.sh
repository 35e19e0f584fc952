#!/usr/bin/env bash
# Issue 10's "one thing at a time": runs that sit between Keras's blog path
# and rnn-lab, each changing one thing, per seed, 100 epochs at the blog's
# settings, CPU, one thread each (resumable; sets next to keras-study.sh's):
#
#   keras-blog                  (keras-study.sh) numpy data, Keras init, fit() shuffling, TensorFlow
#   keras-rnn-lab-data          rnn-lab's data;            Keras init, fit() shuffling
#   keras-rnn-lab-data-weights  rnn-lab's data and weights;            fit() shuffling
#   keras-lockstep              (keras-study.sh) rnn-lab's data, weights and batch order
#   rnn-lab-adam-keras          (keras-study.sh) the same in rnn-lab: libtorch's kernels
#   rnn-lab                     (results/blog-cpu) libtorch's Adam
# and, cheap, the initialisers alone inside rnn-lab:
#   rnn-lab-keras-weights       rnn-lab --adam keras from the weights Keras's own
#                               initialisers draw for the seed (keras_reference.py --save-init)
#
#   scripts/keras-ablation.sh [OUT] [SEEDS] [MODEL]   (default results/keras-parity 1..12 lstm)
#   VARIANTS="rnn-lab-keras-weights" scripts/keras-ablation.sh   (a subset)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/results/keras-parity}
seeds=${2:-1..12}
model=${3:-lstm}
epochs=${EPOCHS:-100}
variants=${VARIANTS:-rnn-lab-keras-weights keras-rnn-lab-data keras-rnn-lab-data-weights}
"$root/scripts/setup.sh" --keras
bin=$(rnn_lab_bin "$root")
[ -x "$bin" ] || build_rnn_lab "$root"
export RNN_LAB_BIN=$bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TF_CPP_MIN_LOG_LEVEL=3
keras=$root/scripts/keras_reference.py
for seed in $(seq "${seeds%%..*}" "${seeds##*..}"); do
  # rnn-lab's data and initial weights for the seed: they do not depend on
  # the number of epochs, so one epoch writes them.
  "$bin" train --model "$model" --seed "$seed" --epochs 1 --adam keras --device cpu --threads 1 --quiet --force \
    --out "$work/rnn-lab-$seed" --save-init "$work/init-$seed.safetensors" --save-data "$work/data-$seed.safetensors"
  for variant in $variants; do
    dest=$out/$variant/$model/seed-$seed
    [ -e "$dest/summary.json" ] && continue
    echo "keras-ablation: seed $seed: $variant"
    case $variant in
      rnn-lab-keras-weights)
        "$keras" --model "$model" --seed "$seed" --epochs 1 --quiet --force \
          --save-init "$work/keras-init-$seed.safetensors" --out "$work/keras-init-$seed"
        "$bin" train --model "$model" --seed "$seed" --epochs "$epochs" --adam keras --device cpu --threads 1 \
          --quiet --force --init-from "$work/keras-init-$seed.safetensors" --out "$dest" ;;
      keras-rnn-lab-data)
        "$keras" --model "$model" --seed "$seed" --epochs "$epochs" --quiet --force \
          --data "$work/data-$seed.safetensors" --out "$dest" ;;
      keras-rnn-lab-data-weights)
        "$keras" --model "$model" --seed "$seed" --epochs "$epochs" --quiet --force --order keras \
          --data "$work/data-$seed.safetensors" --init-from "$work/init-$seed.safetensors" --out "$dest" ;;
      *) echo "keras-ablation: unknown variant $variant" >&2; exit 2 ;;
    esac
  done
done
