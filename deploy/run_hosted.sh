#!/usr/bin/env bash
# Start the hosted demo: REPLICAS Streamlit servers, each with its own pool of sandboxed workers.
#
#   deploy/run_hosted.sh                    # one server on 0.0.0.0:8501
#   REPLICAS=4 deploy/run_hosted.sh         # 127.0.0.1:8501..8504, for deploy/nginx.conf
#
# Limits come from JAXPR_EXPLORER_* variables (see the README); hosted mode is always on, so the
# start-up check fails, and nothing starts, where bubblewrap cannot sandbox user programs.
#
# The server never runs as root: started by root, the script re-runs itself as RUN_AS (default
# `jaxpr-explorer`, created as a system user without a home or shell if missing). That user must
# be able to read the checkout and its Python (a venv under /root is not readable: install it
# elsewhere). RUN_AS_CHECK=1 prints who the server would run as, and exits.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_AS=${RUN_AS:-jaxpr-explorer}
if [ "$(id -u)" = 0 ]; then
    if ! id -u "$RUN_AS" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_AS"
    fi
    export HOME=/tmp RUN_AS
    exec setpriv --reuid="$RUN_AS" --regid="$(id -g "$RUN_AS")" --init-groups --inh-caps=-all \
        --bounding-set=-all --no-new-privs -- "$0" "$@"
fi
if [ "${RUN_AS_CHECK:-0}" = 1 ]; then
    echo "the server runs as $(id -un) (uid $(id -u))"
    exit 0
fi

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
