#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what is missing
# (scripts/setup.sh: torch 2.11.0, once), then builds and runs every test,
# PyTorch parity included. Extra arguments go to `cargo test`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
echo "test: cargo test --release $*"
cargo test --release "$@"
