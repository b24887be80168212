#!/usr/bin/env bash
# Make sure a Docker daemon answers `docker info`.
#
# If one already answers, start nothing and write no pidfile. Otherwise start
# dockerd in the background (no systemd needed), write its PID to the pidfile
# and wait (bounded) until `docker info` works.
#
# Stdout: the pidfile path if, and only if, THIS run started a dockerd (empty
# otherwise), so callers can tell whether they own the daemon. Messages go to
# stderr. scripts/docker-down.sh stops exactly that dockerd again.
#
# Environment:
#   NETPLAY_DOCKERD_PIDFILE  pidfile for a dockerd we start
#                            (default: /run/netplay-dockerd.pid)
#   NETPLAY_DOCKERD_LOG      dockerd's log (default: /tmp/netplay-dockerd.log)
#   NETPLAY_DOCKERD_TIMEOUT  seconds to wait for the daemon (default: 30)
#   NETPLAY_DOCKERD_FLAGS    extra dockerd flags, whitespace separated
set -euo pipefail

PIDFILE=${NETPLAY_DOCKERD_PIDFILE:-/run/netplay-dockerd.pid}
LOGFILE=${NETPLAY_DOCKERD_LOG:-/tmp/netplay-dockerd.log}
TIMEOUT=${NETPLAY_DOCKERD_TIMEOUT:-30}
read -r -a EXTRA_FLAGS <<<"${NETPLAY_DOCKERD_FLAGS:-}"

log() { printf 'docker-up: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker CLI not found (run scripts/setup.sh)"

docker_ok() { timeout 10 docker info >/dev/null 2>&1; }

# True if PID $1 exists and is not a zombie.
alive() {
    local state
    # Field 3 of /proc/PID/stat, after the parenthesised command name.
    state=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null || true)
    [[ -n $state && $state != Z ]]
}

# True if PID $1 is a live dockerd process.
is_dockerd() {
    [[ $1 =~ ^[0-9]+$ ]] && alive "$1" \
        && [[ $(cat "/proc/$1/comm" 2>/dev/null) == dockerd ]]
}

# Wait until `docker info` works. Returns 1 on timeout or if PID $1 (when
# given) exits first.
wait_for_docker() {
    local pid=${1:-} deadline=$((SECONDS + TIMEOUT))
    while (( SECONDS < deadline )); do
        if docker_ok; then
            return 0
        fi
        if [[ -n $pid ]] && ! alive "$pid"; then
            return 1
        fi
        sleep 1
    done
    docker_ok
}

if docker_ok; then
    log "a Docker daemon already answers; starting nothing"
    exit 0
fi

# A dockerd we started earlier may still be coming up.
if [[ -f $PIDFILE ]]; then
    old=$(cat -- "$PIDFILE" 2>/dev/null || true)
    if is_dockerd "$old"; then
        log "dockerd $old from $PIDFILE is running; waiting for it"
        if wait_for_docker "$old"; then
            exit 0
        fi
        die "dockerd $old (from $PIDFILE) does not answer; see $LOGFILE or run scripts/docker-down.sh"
    fi
    log "removing stale pidfile $PIDFILE"
    rm -f -- "$PIDFILE"
fi

# Some other dockerd (not ours) that is not answering: don't start a second.
if [[ -f /var/run/docker.pid ]] && is_dockerd "$(cat /var/run/docker.pid 2>/dev/null || true)"; then
    other=$(cat /var/run/docker.pid)
    log "dockerd $other (not started by netplay) is running; waiting for it"
    wait_for_docker "$other" && exit 0
    die "dockerd $other does not answer docker info; not starting another"
fi

[[ $(id -u) -eq 0 ]] || die "no Docker daemon answers and starting one needs root (try: sudo $0)"
command -v dockerd >/dev/null 2>&1 || die "dockerd not found (run scripts/setup.sh)"

mkdir -p -- "$(dirname -- "$PIDFILE")" "$(dirname -- "$LOGFILE")"

# Start dockerd with the given extra flags; sets $pid. setsid puts it in its
# own session so it outlives this script and a Ctrl-C in the caller's
# terminal. (This script has no job control, so the background child is not a
# process-group leader and setsid execs dockerd in place: $! is dockerd.)
start_dockerd() {
    log "starting: dockerd ${EXTRA_FLAGS[*]} $* (log: $LOGFILE)"
    printf '\n==== %s: dockerd %s %s\n' "$(date -Is)" "${EXTRA_FLAGS[*]}" "$*" >>"$LOGFILE"
    setsid dockerd "${EXTRA_FLAGS[@]}" "$@" </dev/null >>"$LOGFILE" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$PIDFILE"
}

# Stop the dockerd $pid we just started (after a failed start).
stop_started() {
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        local _
        for _ in $(seq 1 20); do
            alive "$pid" || break
            sleep 0.5
        done
        if alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    rm -f -- "$PIDFILE"
}

pid=
start_dockerd
if wait_for_docker "$pid"; then
    log "dockerd $pid is up"
    printf '%s\n' "$PIDFILE"
    exit 0
fi
stop_started

# Fallbacks for sandboxes/kernels where the defaults do not work. Look only at
# this attempt's part of the log.
attempt_log=$(awk '/^==== /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$LOGFILE")
fallback=()
if grep -qiE 'overlay|storage.driver|graphdriver' <<<"$attempt_log"; then
    fallback+=(--storage-driver=vfs)
fi
if grep -qiE 'iptables|nf_tables|xtables' <<<"$attempt_log"; then
    fallback+=(--iptables=false --ip6tables=false)
fi
if (( ${#fallback[@]} )); then
    log "dockerd failed; retrying with ${fallback[*]}"
    start_dockerd "${fallback[@]}"
    if wait_for_docker "$pid"; then
        log "dockerd $pid is up (with ${fallback[*]})"
        printf '%s\n' "$PIDFILE"
        exit 0
    fi
    stop_started
fi

log "dockerd did not come up within ${TIMEOUT}s; last lines of $LOGFILE:"
tail -n 25 -- "$LOGFILE" >&2 || true
exit 1
