#!/usr/bin/env bash
# The blog's experiment from a fresh clone: installs what is missing
# (scripts/setup.sh), builds rnn-lab, and runs SimpleRNN then LSTM for 100
# epochs with the blog's settings, on CUDA when a GPU is visible, else CPU.
# Extra arguments go to `rnn-lab reproduce` after its --out runs/blog, so
# any flag wins (e.g. --models rnn,lstm,gru --seeds 1..5 --out runs/mine).
# Rerunning resumes: finished runs are kept, cut-off ones restart, and more
# --seeds or --models grow the study in place.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
build_rnn_lab "$root"
echo "blog: target/release/rnn-lab reproduce --out runs/blog $*"
exec target/release/rnn-lab reproduce --out runs/blog "$@"
