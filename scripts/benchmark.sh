#!/usr/bin/env bash
# Run netplay's benchmark (scripts/benchmark.py): linear:N with netplay, the
# ip -batch floor and Mininet; Docker nodes against plain docker run; verify
# against Mininet's pingall, and verify as users run it on linear:100 and
# linear:1000 (--only verify: these alone); netplay --help; linear:200 placed
# across 2 and 4 simulated hosts (--only hosts alone). Prints a table and writes JSON
# (default benchmarks/results.json). See docs/performance.md.
#
# Usage: sudo scripts/benchmark.sh [BENCHMARK OPTIONS...]
#   e.g. sudo scripts/benchmark.sh --sizes 10,100 --repeat 3
#   (--help also lists the benchmark's options once setup has run)
#
# Before measuring: installs what netplay needs (scripts/setup.sh), Debian's
# mininet if `mn` is missing (unless --skip-mininet), starts a Docker daemon
# if none answers (and stops exactly that one at the end), and builds the
# local netplay-busybox image. The benchmark holds /run/netplay-tests.lock
# while it measures, so the test suite waits for it.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
VENV=${NETPLAY_VENV:-$REPO_ROOT/.venv}

log() { printf 'benchmark: %s\n' "$*" >&2; }

for arg in "$@"; do
    if [[ $arg == -h || $arg == --help ]]; then
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
        if [[ -x $VENV/bin/python ]]; then
            printf '\n'
            "$VENV/bin/python" "$SCRIPT_DIR/benchmark.py" --help
        fi
        exit 0
    fi
done

[[ $(id -u) -eq 0 ]] || { log "error: must run as root (try: sudo $0)"; exit 1; }

bash "$SCRIPT_DIR/setup.sh"

skip_mininet=0
skip_docker=0
previous=
for arg in "$@"; do
    case $arg in
        --skip-mininet) skip_mininet=1 ;;
        --skip-docker) skip_docker=1 ;;
        --only=verify) skip_docker=1 ;;  # verify is compared with Mininet's pingall
        --only=*) skip_mininet=1; skip_docker=1 ;;  # --only hosts needs neither
        --only) ;;  # its value decides, below
        *) if [[ $previous == --only ]]; then
               skip_docker=1
               [[ $arg == verify ]] || skip_mininet=1
           fi ;;
    esac
    previous=$arg
done

if (( ! skip_mininet )) && ! command -v mn >/dev/null 2>&1; then
    log "installing Debian's mininet (without recommends: no Open vSwitch needed for lxbr)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends mininet
fi

if (( ! skip_docker )); then
    started=$(bash "$SCRIPT_DIR/docker-up.sh")
    if [[ -n $started ]]; then
        # Stop only the dockerd started just now.
        trap 'NETPLAY_DOCKERD_PIDFILE="$started" bash "$SCRIPT_DIR/docker-down.sh" || true' EXIT
    fi
    bash "$SCRIPT_DIR/build-image.sh"
fi

cd "$REPO_ROOT"
rc=0
"$VENV/bin/python" "$SCRIPT_DIR/benchmark.py" "$@" || rc=$?
exit "$rc"
