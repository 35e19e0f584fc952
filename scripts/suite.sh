#!/usr/bin/env bash
# The long-term-dependency suite as one study: the adding problem (Le et
# al.'s halves, Hochreiter & Schmidhuber's), the multiplication problem
# (the blog's and H&S's), copying memory and temporal order, for every
# cell rnn-lab has (`rnn-lab info` lists them), at lengths 25, 50 and 100,
# seeds 1..5, with
# the blog's model and training (2 x 30 units, Adam 1e-3, 100 epochs)
# and gradient-norm clipping at 1. Then the figures (scripts/plot.py) and
# the tests between cells (scripts/compare.py --by model --unpaired, into
# comparison.md). Installs and builds what is missing first.
#
#   scripts/suite.sh [--out DIR] [any sweep flag...]
#   scripts/suite.sh --device cuda --jobs 16 --out runs/suite-gpu
#   scripts/suite.sh --seq-lens 200 --seeds 1..5    # grow it in place
#
# Extra flags go to `rnn-lab sweep` after the suite's own, so they win.
# Rerunning resumes; more lengths or seeds grow the study. Default out:
# runs/suite; on the CPU --jobs 2.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=runs/suite
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = --out ] && [ $((i + 1)) -lt ${#args[@]} ] && out=${args[$((i + 1))]}
done
"$root/scripts/setup.sh"
cd "$root"
build_rnn_lab "$root"
models=$(.venv/bin/python -c 'import json, sys; print(",".join(c["name"] for c in json.load(sys.stdin)["cells"]))' \
  < <(target/release/rnn-lab info --json))
suite=(--tasks multiply,add-halves,hs-add,hs-multiply,copy,order --models "$models"
  --seq-lens 25,50,100 --seeds 1..5 --clip-norm 1 --jobs 2 --out "$out")
echo "suite: ${RNN_LAB_BIN#"$root"/} sweep ${suite[*]} $*"
"$RNN_LAB_BIN" sweep "${suite[@]}" "$@"
scripts/plot.py "$out"
scripts/compare.py "$out" --by model --unpaired >"$out/comparison.md"
echo "suite: $out/comparison.md, $out/*.png"
