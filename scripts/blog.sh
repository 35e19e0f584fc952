#!/usr/bin/env bash
# The blog's experiment from a fresh clone: installs what is missing
# (scripts/setup.sh), builds rnn-lab, and runs SimpleRNN then LSTM for 100
# epochs with the blog's settings, on CUDA when a GPU is visible, else CPU.
# Extra arguments go to `rnn-lab reproduce` (e.g. --models rnn,lstm,gru
# --seeds 1..5 --out runs/mine); the study folder is runs/blog unless you
# give another --out.
# Rerunning resumes: finished runs are kept, cut-off ones restart, and more
# --seeds or --models grow the study in place.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
build_rnn_lab "$root"
# One --out in the command shown and run: runs/blog, or the user's instead
# (rnn-lab would take the last, but the line printed should say what runs).
args=(--out runs/blog "$@")
for arg in "$@"; do
  case $arg in
    --out|--out=*) args=("$@") ;;
  esac
done
echo "blog: ${RNN_LAB_BIN#"$root"/} reproduce ${args[*]}"
exec "$RNN_LAB_BIN" reproduce "${args[@]}"
