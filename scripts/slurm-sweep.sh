#!/usr/bin/env bash
# The long-term-dependency study as a Slurm job array: each array task runs
# its own disjoint shard of the grid (rnn-lab reads SLURM_ARRAY_TASK_ID /
# SLURM_ARRAY_TASK_COUNT) into one sweep folder on shared storage.
#
#   sbatch --gres=gpu:1 scripts/slurm-sweep.sh --out /shared/study
#   sbatch --array=0-3 -c 2 scripts/slurm-sweep.sh --out /shared/small --seeds 1..2 --device cpu
#
# Arguments go to `rnn-lab sweep` after the study's defaults below, so any
# flag you pass wins (grid, --epochs, --device, --jobs, --out, --shard ...).
# Resources are sbatch's: pass --gres, --mem, -c, --time, --array on the
# sbatch command line (they override the #SBATCH lines). Resubmitting the
# same command resumes: finished runs are skipped, cut-off runs go on from
# their checkpoints. Preemption and time limits: the job may be requeued
# (--requeue); 120 s before its time limit Slurm warns this script (USR1),
# the running runs save their checkpoints, and the task requeues itself
# when runs are left; a preempted or requeued task's runs save theirs on
# Slurm's SIGTERM. The requeued task resumes them; its output is appended.
# To retry one shard K of an N-task array (counted from 1), submit one task
# that names it: sbatch --array=0 scripts/slurm-sweep.sh ... --shard K/N
# (a one-task array alone would sweep the whole grid as shard 1/1, which
# also resumes correctly but runs every missing run in one task).
# When all tasks are done:
#   rnn-lab aggregate --complete DIR && scripts/plot.py --sweep DIR
#
# The binary is the first of: $RNN_LAB_BIN; $RNN_LAB_DIR/target/release/rnn-lab;
# target/release/rnn-lab of the folder sbatch was called from (submit from
# your clone, after scripts/setup.sh && cargo build --release); that of the
# clone this script is in, when it is run without sbatch.
# Without --out the study goes to runs/study of the submit folder.
#
#SBATCH --job-name=rnn-lab-sweep
#SBATCH --array=0-7
#SBATCH --cpus-per-task=8
#SBATCH --time=02:00:00
#SBATCH --output=slurm-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@120
set -euo pipefail
# Slurm runs a copy of this script from its spool folder: nothing beside
# it can be sourced, so --help is spelled out here.
case "${1:-}" in -h|--help) sed -n '2,/^#SBATCH/{/^#SBATCH/d;/^#/{s/^# \{0,1\}//;p;};}' "$0"; exit 0 ;; esac

submit=${SLURM_SUBMIT_DIR:-$PWD}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
candidates=()
[ -n "${RNN_LAB_BIN:-}" ] && candidates+=("$RNN_LAB_BIN")
[ -n "${RNN_LAB_DIR:-}" ] && candidates+=("$RNN_LAB_DIR/target/release/rnn-lab")
candidates+=("$submit/target/release/rnn-lab" "$here/target/release/rnn-lab")
bin=
for c in "${candidates[@]}"; do
  if [ -x "$c" ]; then bin=$c; break; fi
done
if [ -z "$bin" ]; then
  echo "slurm-sweep: no rnn-lab binary at ${candidates[*]}; submit from your built clone, or set RNN_LAB_BIN" >&2
  exit 1
fi

echo "slurm-sweep: task ${SLURM_ARRAY_TASK_ID:-?} of ${SLURM_ARRAY_TASK_COUNT:-?} on $(hostname), $bin"
# The sweep runs as a child so this shell can act on signals. Slurm's
# warning before the time limit (USR1, --signal above) has the running runs
# save their checkpoints, and the task requeues itself. On scancel,
# preemption or scontrol requeue Slurm sends SIGTERM to the sweep and its
# runs itself (then requeues or ends the task): this shell waits while
# they save their checkpoints.
requeue= sweep=
# Set before the sweep starts: a warning that came first would end this shell.
trap 'requeue=1; [ -z "$sweep" ] || kill -TERM "$sweep" 2>/dev/null || true' USR1
trap ':' TERM INT
"$bin" sweep \
  --tasks multiply,blog-add --models rnn,lstm,gru --seq-lens 10,25,50,100,200 --seeds 1..3 --inits keras \
  --epochs 100 --jobs 4 --out "$submit/runs/study" "$@" &
sweep=$!
status=0
# `wait` returns early when a trapped signal arrives: wait until the sweep ends.
while :; do
  wait "$sweep" && status=0 || status=$?
  kill -0 "$sweep" 2>/dev/null || break
done
if [ -n "$requeue" ] && [ "$status" -eq 75 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
  echo "slurm-sweep: time limit near: runs saved their checkpoints; requeueing"
  scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
