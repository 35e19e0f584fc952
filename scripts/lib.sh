# Shared by the shell scripts (sourced, not run): --help from a script's
# own header, and the one way they build rnn-lab.

# Prints the comment block at the top of the calling script and exits,
# when the first argument asks for help; nothing is built or installed.
help_if_asked() {
  case "${1:-}" in
    -h|--help)
      sed -n '2,/^set -euo/{/^#/{s/^# \{0,1\}//;p;};}' "$0"
      exit 0 ;;
  esac
}

# The release binary of the checkout at $1: in cargo's target folder,
# $CARGO_TARGET_DIR when set (relative to the checkout, as cargo takes it).
rnn_lab_bin() {
  local target=${CARGO_TARGET_DIR:-target}
  case $target in /*) ;; *) target=$1/$target ;; esac
  echo "$target/release/rnn-lab"
}

# Builds the release binary of the checkout at $1, showing cargo's progress
# (a first build compiles libtorch's bindings and takes several minutes),
# and exports it as RNN_LAB_BIN: the Python scripts ask it for rnn-lab's
# tasks, cells and limits.
build_rnn_lab() {
  local root=$1
  if [ ! -x "$(rnn_lab_bin "$root")" ]; then
    echo "building rnn-lab (first build: several minutes)" >&2
  fi
  (cd "$root" && cargo build --release) >&2
  RNN_LAB_BIN=$(rnn_lab_bin "$root")
  export RNN_LAB_BIN
}
