#!/bin/bash
# A distributed study under Slurm: one chief task and one worker per GPU, across nodes.
#
#   sbatch examples/slurm_study.sh                     # from the project root
#   TRIALS=200 STUDY=wide EXTRA="--narrow width=128:512" sbatch examples/slurm_study.sh
#
# RESULTS must be on a filesystem every node sees (the chief and the workers share it).
# Resubmitting the same script resumes the study: finished trials are kept, and each
# worker id (slurm<job>-task<rank>, stable when Slurm requeues the job) resumes the
# trial it was running. After the search, one GPU task retrains, validates and exports
# the best trial, and the report is written.
#SBATCH --job-name=acceptance-study
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4          # = GPUs per node: one worker per GPU
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --output=%x-%j.out
set -euo pipefail

RESULTS=${RESULTS:-$PWD/results}
STUDY=${STUDY:-default}
TRIALS=${TRIALS:-50}
PORT=${PORT:-$((20000 + SLURM_JOB_ID % 40000))}   # per job; taken: the chief stops, no secret
EXTRA=${EXTRA:-}                     # further study flags for the chief (--tuner tpe ...)
CHIEF_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
ORACLE="$CHIEF_HOST:$PORT"

# The chief: serves the oracle, holds the study's lock, writes trials.csv. No GPU.
# Each run it makes a new secret and, once the port is its own, writes it to
# $RESULTS/$STUDY/chief.secret (mode 0600), which the workers read on the shared
# filesystem. The secret never travels: the chief and each worker prove it to each other
# by HMAC over fresh nonces, so whoever holds the port (before the chief, or after it
# stops) learns nothing that admits them (docs/security.md). Across untrusted networks
# add --tls-cert/--tls-key here and --tls-ca on the workers.
# shellcheck disable=SC2086
srun --nodes=1 --ntasks=1 --nodelist="$CHIEF_HOST" --gpus=0 --cpus-per-task=2 --exact \
    python run_study.py --trials "$TRIALS" --study "$STUDY" --results "$RESULTS" $EXTRA \
    --no-retrain --no-report --role chief --oracle "$ORACLE" &
CHIEF=$!

# The workers: one task per GPU; Slurm gives each task its own GPU (CUDA_VISIBLE_DEVICES),
# the worker turns on memory growth. They wait up to --connect-timeout for the chief.
srun --ntasks-per-node="$SLURM_NTASKS_PER_NODE" --gpus-per-task=1 --exact \
    python run_study.py --study "$STUDY" --results "$RESULTS" \
    --role worker --oracle "$ORACLE" --connect-timeout 900 &
WORKERS=$!

wait "$CHIEF"      # the chief exits once every trial has ended
wait "$WORKERS" || true

# The best trial: retrained on one GPU, validated, exported; then the HTML report.
srun --nodes=1 --ntasks=1 --gpus=1 --exact \
    python run_study.py retrain --study "$STUDY" --results "$RESULTS"
python run_study.py report --study "$STUDY" --results "$RESULTS"
