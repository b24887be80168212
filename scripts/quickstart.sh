#!/usr/bin/env bash
# First command of the README: install everything, start Docker, build the
# local busybox image and bring up the built-in "home" lab.
#
# Usage: sudo scripts/quickstart.sh [TOPOLOGY]   (default TOPOLOGY: home)
#
# The Docker daemon is left running: the lab's containers live in it.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
VENV=${NETPLAY_VENV:-$REPO_ROOT/.venv}
TOPOLOGY=${1:-home}

log() { printf 'quickstart: %s\n' "$*" >&2; }

[[ $(id -u) -eq 0 ]] || { log "error: must run as root (try: sudo $0)"; exit 1; }

bash "$SCRIPT_DIR/setup.sh"
started=$(bash "$SCRIPT_DIR/docker-up.sh")
bash "$SCRIPT_DIR/build-image.sh"

# Containers default to the ubuntu image; without a registry fall back to the
# local busybox image.
if [[ -z ${NETPLAY_IMAGE:-} ]]; then
    if docker image inspect ubuntu >/dev/null 2>&1; then
        log "using the local ubuntu image"
    elif timeout 60 docker pull ubuntu >/dev/null 2>&1; then
        log "pulled the ubuntu image"
    else
        log "ubuntu image not available; using netplay-busybox"
        export NETPLAY_IMAGE=netplay-busybox
    fi
fi

"$VENV/bin/netplay" run "$TOPOLOGY"

cat <<MSG

The "$TOPOLOGY" lab is up.
  netplay is at $VENV/bin/netplay (and /usr/local/bin/netplay if linked).
  Tear it down with:   netplay down $TOPOLOGY
MSG
if [[ -n $started ]]; then
    cat <<MSG
  dockerd was started for it (pidfile $started); after tearing the lab down
  you may stop it with:   scripts/docker-down.sh
MSG
fi
