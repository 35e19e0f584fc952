#!/usr/bin/env bash
# The long-term-dependency study as a Slurm job array, one GPU per task.
# Edit the paths below, then submit as is:  sbatch scripts/slurm-sweep.sh
# Each array task runs its own disjoint shard of the grid (rnn-lab reads
# SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT); every task writes into the
# same sweep folder on shared storage. Resubmitting resumes: finished runs
# are skipped, cut-off runs restart. When all tasks are done:
#   rnn-lab aggregate "$SWEEP_DIR" && scripts/plot.py --sweep "$SWEEP_DIR"
#
#SBATCH --job-name=rnn-lab-sweep
#SBATCH --array=0-7
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=16G
#SBATCH --time=02:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail

# --- edit these -------------------------------------------------------------
RNN_LAB_DIR=${RNN_LAB_DIR:-$HOME/rnn-lab}          # a clone, set up and built once:
                                                   #   scripts/setup.sh && cargo build --release
SWEEP_DIR=${SWEEP_DIR:-$HOME/rnn-lab-runs/study}    # shared by all array tasks
JOBS_PER_GPU=${JOBS_PER_GPU:-4}                     # runs sharing one GPU at a time
# ----------------------------------------------------------------------------

echo "slurm-sweep: task ${SLURM_ARRAY_TASK_ID:-?} of ${SLURM_ARRAY_TASK_COUNT:-?} on $(hostname)"
exec "$RNN_LAB_DIR/target/release/rnn-lab" sweep \
  --tasks multiply,add --models rnn,lstm,gru --seq-lens 10,25,50,100,200 --seeds 1..3 --inits keras \
  --epochs 100 --device cuda --jobs "$JOBS_PER_GPU" --threads 1 --out "$SWEEP_DIR"
