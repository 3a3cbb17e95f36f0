#!/bin/bash
# A distributed study on one machine with several GPUs, without a batch system:
# a chief and one worker per GPU, all on this host.
#
#   bash examples/single_node_study.sh                 # every GPU nvidia-smi lists
#   GPUS="0 1" TRIALS=100 bash examples/single_node_study.sh
#   GPUS="cpu1 cpu2" EXTRA="--default-rows 20000" bash examples/single_node_study.sh  # no GPU
#
# Stop it with Ctrl-C (everything stops; run it again to resume). Logs: RESULTS/logs/.
set -euo pipefail

RESULTS=${RESULTS:-results}
STUDY=${STUDY:-default}
TRIALS=${TRIALS:-50}
PORT=${PORT:-8470}
EXTRA=${EXTRA:-}                     # further study flags for the chief
GPUS=${GPUS:-$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | tr '\n' ' ')}
if [ -z "$GPUS" ]; then
    echo "no GPU found: set GPUS, e.g. GPUS=\"cpu1 cpu2\" for CPU workers" >&2
    exit 2
fi
ORACLE="127.0.0.1:$PORT"
mkdir -p "$RESULTS/logs"
trap 'kill 0' INT TERM

# The chief admits only callers with the study's secret: it writes
# $RESULTS/$STUDY/chief.secret (mode 0600) and the workers read it there (README: Security).
# shellcheck disable=SC2086
python run_study.py --trials "$TRIALS" --study "$STUDY" --results "$RESULTS" $EXTRA \
    --role chief --oracle "$ORACLE" > "$RESULTS/logs/chief.log" 2>&1 &
CHIEF=$!
for gpu in $GPUS; do
    case $gpu in
        cpu*) device=(--worker-id "$(hostname -s)-$gpu") ;;     # a CPU worker
        *) device=(--gpu "$gpu") ;;                             # id: <host>-gpu<N>
    esac
    python run_study.py --study "$STUDY" --results "$RESULTS" \
        --role worker --oracle "$ORACLE" "${device[@]}" > "$RESULTS/logs/worker-$gpu.log" 2>&1 &
done
echo "chief and workers started; follow $RESULTS/logs/chief.log"
wait "$CHIEF"      # retrains, validates, exports and reports after the search
wait
tail -n 5 "$RESULTS/logs/chief.log"
