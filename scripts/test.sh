#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what is missing
# (scripts/setup.sh --keras: torch 2.11.0 and Keras on TensorFlow, once),
# then builds and runs every test, PyTorch and Keras parity included.
# Extra arguments go to `cargo test`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" --keras
cd "$root"
echo "test: cargo test --release $*"
cargo test --release "$@"
