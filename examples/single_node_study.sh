#!/bin/bash
# Several trials at once on one machine, without a batch system: `--parallel`, which makes
# this process the chief on loopback (a free port, chosen at run time) and starts its
# workers itself, one per GPU (or PER_GPU per GPU, or CPU_WORKERS on the CPU).
#
#   bash examples/single_node_study.sh                 # every GPU nvidia-smi lists
#   GPUS=0,1 TRIALS=100 bash examples/single_node_study.sh
#   GPUS= CPU_WORKERS=2 EXTRA="--default-rows 20000" bash examples/single_node_study.sh  # no GPU
#
# Stop it with Ctrl-C (everything stops; run it again to resume). The workers' logs:
# RESULTS/logs/STUDY/. No fixed port: the chief and its workers prove this run's secret
# to each other (it never travels), and the workers are stopped before the final fit,
# so no worker calls a port that another user could take (docs/security.md).
set -euo pipefail

RESULTS=${RESULTS:-results}
STUDY=${STUDY:-default}
TRIALS=${TRIALS:-50}
EXTRA=${EXTRA:-}                     # further study flags (--tuner tpe ...)
PER_GPU=${PER_GPU:-1}                # trials at once on each GPU
CPU_WORKERS=${CPU_WORKERS:-2}        # trials at once without a GPU
GPUS=${GPUS-$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null || true)}
GPUS=$(echo "$GPUS" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')   # "0 1" or "0,1": 0,1

if [ -n "$GPUS" ]; then
    PARALLEL=(--parallel "$PER_GPU" --gpus "$GPUS")
else
    echo "no GPU: $CPU_WORKERS trials at once on the CPU" >&2
    PARALLEL=(--parallel "$CPU_WORKERS")
fi
# shellcheck disable=SC2086
python run_study.py --trials "$TRIALS" --study "$STUDY" --results "$RESULTS" \
    "${PARALLEL[@]}" $EXTRA       # retrains, validates, exports and reports after the search
