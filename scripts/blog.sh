#!/usr/bin/env bash
# The blog's experiment from a fresh clone: installs what is missing
# (scripts/setup.sh), builds rnn-lab, and runs SimpleRNN then LSTM for 100
# epochs with the blog's settings, on CUDA when a GPU is visible, else CPU.
# Extra arguments go to `rnn-lab reproduce` (e.g. --models rnn,lstm,gru
# --seeds 1..5 --out runs/mine).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
cargo build --release --quiet
echo "blog: target/release/rnn-lab reproduce --out runs/blog $*"
exec target/release/rnn-lab reproduce --out runs/blog "$@"
