#!/usr/bin/env bash
# Second command of the README, and what CI runs: install everything (plus
# vagrant, to validate the Vagrantfile), make sure Docker runs and the busybox
# image exists, then run the test suite.
#
# Usage: sudo scripts/test.sh [PYTEST ARGS...]
#
# A dockerd started here is stopped again on exit, and its docker0 removed; a daemon
# that was already running is left alone, as is anything that was here before the run.
# Exits with pytest's exit code, except that "no tests collected" (pytest's 5) is a
# failure (1).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
VENV=${NETPLAY_VENV:-$REPO_ROOT/.venv}

log() { printf 'test: %s\n' "$*" >&2; }

[[ $(id -u) -eq 0 ]] || { log "error: must run as root (try: sudo $0)"; exit 1; }

# What the run leaves besides its labs (docker0, the /run/netns mount, /etc/netns) is
# taken away at exit if it was not here before: scripts/leftovers.sh.
leftovers=$(mktemp /tmp/netplay-leftovers.XXXXXX)
bash "$SCRIPT_DIR/leftovers.sh" note "$leftovers"
started=
# shellcheck disable=SC2317  # run by the EXIT trap
finish() {
    local bridge=
    # Stop only the dockerd started just now; its docker0 goes with it.
    if [[ -n $started ]] && NETPLAY_DOCKERD_PIDFILE="$started" bash "$SCRIPT_DIR/docker-down.sh"; then
        bridge=bridge
    fi
    bash "$SCRIPT_DIR/leftovers.sh" clear "$leftovers" ${bridge:+"$bridge"} || true
    rm -f -- "$leftovers"
}
trap finish EXIT

bash "$SCRIPT_DIR/setup.sh" --with-vagrant

started=$(bash "$SCRIPT_DIR/docker-up.sh")

bash "$SCRIPT_DIR/build-image.sh"

# The tests run the venv's netplay, and use the local image (no registry).
export PATH="$VENV/bin:$PATH"
export NETPLAY_IMAGE=${NETPLAY_IMAGE:-netplay-busybox}

cd "$REPO_ROOT"
rc=0
"$VENV/bin/python" -m pytest -q tests "$@" || rc=$?
if (( rc == 5 )); then
    log "error: pytest collected no tests"
    exit 1
fi
exit "$rc"
