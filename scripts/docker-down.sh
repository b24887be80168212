#!/usr/bin/env bash
# Stop the dockerd that scripts/docker-up.sh started, and only that one:
# the PID comes from the pidfile, and nothing happens without a pidfile.
#
# Environment:
#   NETPLAY_DOCKERD_PIDFILE  (default: /run/netplay-dockerd.pid)
#   NETPLAY_DOCKERD_STOP_TIMEOUT  seconds to wait before SIGKILL (default: 30)
set -euo pipefail

PIDFILE=${NETPLAY_DOCKERD_PIDFILE:-/run/netplay-dockerd.pid}
STOP_TIMEOUT=${NETPLAY_DOCKERD_STOP_TIMEOUT:-30}

log() { printf 'docker-down: %s\n' "$*" >&2; }

# True if PID $1 exists and is not a zombie.
alive() {
    local state
    # Field 3 of /proc/PID/stat, after the parenthesised command name.
    state=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null || true)
    [[ -n $state && $state != Z ]]
}

if [[ ! -f $PIDFILE ]]; then
    log "no pidfile $PIDFILE: no dockerd was started by docker-up.sh; nothing to stop"
    exit 0
fi

pid=$(cat -- "$PIDFILE" 2>/dev/null || true)
if ! [[ $pid =~ ^[0-9]+$ ]]; then
    log "pidfile $PIDFILE holds no PID; removing it"
    rm -f -- "$PIDFILE"
    exit 0
fi

# Guard against PID reuse: only signal the process if it is still a dockerd.
if [[ $(cat "/proc/$pid/comm" 2>/dev/null || true) != dockerd ]]; then
    log "process $pid is no longer a dockerd; removing stale pidfile"
    rm -f -- "$PIDFILE"
    exit 0
fi

log "stopping dockerd $pid"
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + STOP_TIMEOUT))
while alive "$pid" && (( SECONDS < deadline )); do
    sleep 0.5
done
if alive "$pid"; then
    log "dockerd $pid still running after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do
        alive "$pid" || break
        sleep 0.5
    done
fi
if alive "$pid"; then
    log "error: dockerd $pid did not exit"
    exit 1
fi
rm -f -- "$PIDFILE"
log "dockerd $pid stopped"
