#!/usr/bin/env bash
# Installs what rnn-lab needs once: libtorch 2.11.0 (from PyPI's torch wheel,
# the pair tch 0.24 is built for) plus matplotlib, safetensors and scipy for the
# scripts, in a virtualenv cached outside the repository, then links it as
# .libtorch and .venv so plain `cargo build` and scripts/reference.py find it.
# Idempotent: a second run only checks and takes seconds.
#
#   RNN_LAB_CACHE  where the virtualenv lives (default ~/.cache/rnn-lab)
#   PYTHON         the Python 3 used to create it (default python3)
#   LIBTORCH       if you set it, cargo uses your libtorch instead of this one
#   --keras        also install Keras 3.15.1 on TensorFlow 2.21 (CPU), as .venv-keras
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"

TORCH_VERSION=2.11.0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${RNN_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rnn-lab}
venv=$cache/venv-torch-$TORCH_VERSION
python=${PYTHON:-python3}

ready() {
  "$venv/bin/python" - "$TORCH_VERSION" <<'PY' 2>/dev/null
import sys, importlib.util
import torch
assert torch.__version__.split("+")[0] == sys.argv[1], torch.__version__
for mod in ("matplotlib", "safetensors", "numpy", "scipy"):
    assert importlib.util.find_spec(mod), mod
PY
}

if [ -x "$venv/bin/python" ] && ready; then
  echo "setup: torch $TORCH_VERSION already installed in $venv"
else
  command -v "$python" >/dev/null || { echo "setup: $python not found; install Python 3 or set PYTHON" >&2; exit 1; }
  echo "setup: installing torch==$TORCH_VERSION, matplotlib, safetensors, scipy into $venv (about 4.6 GB, once)"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "torch==$TORCH_VERSION" matplotlib safetensors numpy scipy
  ready || { echo "setup: torch $TORCH_VERSION did not import from $venv; remove that folder and rerun" >&2; exit 1; }
fi

torch_dir=$("$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
ln -sfn "$torch_dir" "$root/.libtorch"
ln -sfn "$venv" "$root/.venv"
echo "setup: .libtorch -> $torch_dir"
# --keras: also Keras 3 on TensorFlow (the blog's framework, CPU build,
# about 1.6 GB) in a virtualenv of its own, linked as .venv-keras, for
# scripts/keras_reference.py and tests/keras_parity.rs.
if [ "${1:-}" = --keras ]; then
  KERAS_VERSION=3.15.1 TF_VERSION=2.21.0
  kvenv=$cache/venv-keras-$KERAS_VERSION
  if [ -x "$kvenv/bin/python" ] && "$kvenv/bin/python" -c "
import keras, tensorflow as tf, safetensors
assert keras.__version__ == '$KERAS_VERSION' and tf.__version__ == '$TF_VERSION'" 2>/dev/null; then
    echo "setup: keras $KERAS_VERSION on tensorflow $TF_VERSION already installed in $kvenv"
  else
    echo "setup: installing keras==$KERAS_VERSION, tensorflow-cpu==$TF_VERSION into $kvenv (about 1.6 GB, once)"
    "$python" -m venv "$kvenv"
    "$kvenv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "keras==$KERAS_VERSION" "tensorflow-cpu==$TF_VERSION" safetensors numpy
  fi
  ln -sfn "$kvenv" "$root/.venv-keras"
  echo "setup: .venv-keras -> $kvenv"
fi
if [ -n "${LIBTORCH:-}" ]; then
  echo "setup: note: LIBTORCH=$LIBTORCH is set and takes precedence over .libtorch for cargo"
fi
