#!/usr/bin/env bash
# Start the hosted demo: REPLICAS Streamlit servers, each with its own pool of sandboxed workers.
#
#   deploy/run_hosted.sh                    # one server on 0.0.0.0:8501
#   REPLICAS=4 deploy/run_hosted.sh         # 127.0.0.1:8501..8504, for deploy/nginx.conf
#
# Limits come from JAXPR_EXPLORER_* variables (see the README); hosted mode is always on, so the
# start-up check fails, and nothing starts, where bubblewrap cannot sandbox user programs.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
REPLICAS=${REPLICAS:-1}
BASE_PORT=${BASE_PORT:-8501}
if [ "$REPLICAS" -gt 1 ]; then ADDRESS=${ADDRESS:-127.0.0.1}; else ADDRESS=${ADDRESS:-0.0.0.0}; fi
export JAXPR_EXPLORER_HOSTED=1

"$PY" -m inspectors.sandbox --check --hosted

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for ((i = 0; i < REPLICAS; i++)); do
    "$PY" -m streamlit run app/main.py \
        --server.headless true \
        --server.address "$ADDRESS" \
        --server.port $((BASE_PORT + i)) \
        --browser.gatherUsageStats false \
        --server.fileWatcherType none &
    pids+=($!)
done
wait -n
