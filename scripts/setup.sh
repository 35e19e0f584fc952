#!/usr/bin/env bash
# Installs what rnn-lab needs once: libtorch 2.11.0 (from PyPI's torch wheel,
# the pair tch 0.24 is built for) plus matplotlib, safetensors, scipy and
# pandas for the scripts, in a virtualenv cached outside the repository, then
# links it as .libtorch and .venv so plain `cargo build` and
# scripts/reference.py find it.
# Idempotent: a second run only checks and takes seconds.
# Clones may share one cache: a setup.sh waits while another works on the
# same cache (the lock CACHE/setup.lock), and a virtualenv counts as
# installed only once its install finished and imported (the marker file
# .rnn-lab-complete in it); an interrupted install is completed by the next run.
#
#   RNN_LAB_CACHE  where the virtualenv lives (default ~/.cache/rnn-lab)
#   PYTHON         the Python 3 used to create it (default python3)
#   LIBTORCH       if you set it, cargo uses your libtorch instead of this one
#   --keras        also install Keras 3.15.1 on TensorFlow 2.21 (CPU), as .venv-keras
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
help_if_asked "$@"

TORCH_VERSION=2.11.0
KERAS_VERSION=3.15.1 TF_VERSION=2.21.0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${RNN_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rnn-lab}
venv=$cache/venv-torch-$TORCH_VERSION
kvenv=$cache/venv-keras-$KERAS_VERSION
python=${PYTHON:-python3}
# Written into a virtualenv, holding its package list, once that list is
# installed and imports: a virtualenv without it (or with another list) is
# an install cut short or an older one, never used as it is.
MARKER=.rnn-lab-complete
torch_packages=("torch==$TORCH_VERSION" matplotlib safetensors numpy scipy pandas)
keras_packages=("keras==$KERAS_VERSION" "tensorflow-cpu==$TF_VERSION" safetensors numpy)

# Holds the cache's lock until this script ends (its pip included), so two
# setup.sh on one cache (two clones) never install into the same virtualenv
# at once, nor does one use what the other is still installing.
lock_cache() {
  mkdir -p "$cache"
  local lock=$cache/setup.lock
  local waiting="setup: waiting for another setup.sh to finish with $cache"
  if command -v flock >/dev/null; then
    exec 9>>"$lock"
    if ! flock -n 9; then
      echo "$waiting" >&2
      flock 9
    fi
    return
  fi
  # No flock(1) (macOS): a lock folder holding its owner's pid; one whose
  # owner is gone is taken over.
  lock_dir=$lock.d
  local said= owner
  until mkdir "$lock_dir" 2>/dev/null; do
    owner=$(cat "$lock_dir/pid" 2>/dev/null || true)
    if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
      rm -rf "$lock_dir"
      continue
    fi
    [ -n "$said" ] || { echo "$waiting (or remove $lock_dir if none runs)" >&2; said=1; }
    sleep 1
  done
  echo $$ >"$lock_dir/pid"
  trap 'rm -rf "$lock_dir"' EXIT
}

ready() {
  "$venv/bin/python" - "$TORCH_VERSION" <<'PY' 2>/dev/null
import sys, importlib.util
import torch
assert torch.__version__.split("+")[0] == sys.argv[1], torch.__version__
for mod in ("matplotlib", "safetensors", "numpy", "scipy", "pandas"):
    assert importlib.util.find_spec(mod), mod
PY
}

keras_ready() {
  "$kvenv/bin/python" - "$KERAS_VERSION" "$TF_VERSION" <<'PY' 2>/dev/null
import sys, importlib.util
import keras, tensorflow as tf
assert (keras.__version__, tf.__version__) == tuple(sys.argv[1:3])
assert importlib.util.find_spec("safetensors")
PY
}

# VENV: marked complete with exactly PACKAGE... and CHECK passes.
complete() {
  local dir=$1 check=$2
  shift 2
  [ -x "$dir/bin/python" ] && [ "$(cat "$dir/$MARKER" 2>/dev/null)" = "$*" ] && "$check"
}

# Installs PACKAGE... into VENV (creating it, or completing what is there),
# checks it with CHECK, then marks it complete.
install() {
  local dir=$1 check=$2 what=$3 size=$4
  shift 4
  rm -f "$dir/$MARKER"
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" -m pip --version >/dev/null 2>&1; then
    echo "setup: completing $what in $dir (not marked complete: an earlier install was cut short, or is older)"
  else
    command -v "$python" >/dev/null || { echo "setup: $python not found; install Python 3 or set PYTHON" >&2; exit 1; }
    echo "setup: installing $what into $dir ($size, once)"
    "$python" -m venv "$dir"
  fi
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" ||
    { echo "setup: pip could not install $what into $dir; rerun to complete it" >&2; exit 1; }
  "$check" || { echo "setup: $what did not import from $dir; remove that folder and rerun" >&2; exit 1; }
  printf '%s\n' "$*" >"$dir/$MARKER.partial"
  mv "$dir/$MARKER.partial" "$dir/$MARKER"
}

# Links NAME to TARGET unless it already does (a rerun changes nothing).
link() {
  [ "$(readlink "$2" 2>/dev/null)" = "$1" ] || ln -sfn "$1" "$2"
}

lock_cache
if complete "$venv" ready "${torch_packages[@]}"; then
  echo "setup: torch $TORCH_VERSION already installed in $venv"
else
  install "$venv" ready "torch==$TORCH_VERSION, matplotlib, safetensors, scipy, pandas" "about 4.6 GB" \
    "${torch_packages[@]}"
fi

# Found, not imported: ready() imported it already, and a rerun stays quick.
torch_dir=$("$venv/bin/python" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("torch").origin))')
link "$torch_dir" "$root/.libtorch"
link "$venv" "$root/.venv"
echo "setup: .libtorch -> $torch_dir"
# --keras: also Keras 3 on TensorFlow (the blog's framework, CPU build,
# about 1.6 GB) in a virtualenv of its own, linked as .venv-keras, for
# scripts/keras_reference.py and tests/keras_parity.rs.
if [ "${1:-}" = --keras ]; then
  if complete "$kvenv" keras_ready "${keras_packages[@]}"; then
    echo "setup: keras $KERAS_VERSION on tensorflow $TF_VERSION already installed in $kvenv"
  else
    install "$kvenv" keras_ready "keras==$KERAS_VERSION, tensorflow-cpu==$TF_VERSION" "about 1.6 GB" \
      "${keras_packages[@]}"
  fi
  link "$kvenv" "$root/.venv-keras"
  echo "setup: .venv-keras -> $kvenv"
fi
if [ -n "${LIBTORCH:-}" ]; then
  echo "setup: note: LIBTORCH=$LIBTORCH is set and takes precedence over .libtorch for cargo"
fi
