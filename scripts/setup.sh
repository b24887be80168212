#!/usr/bin/env bash
# Install everything netplay and its tests need on a fresh Debian/Ubuntu
# machine, then install netplay itself into a virtualenv.
#
# Idempotent: packages already installed are not reinstalled (apt is not
# touched at all when nothing is missing), an existing virtualenv is reused,
# and the editable install is skipped while the packaging metadata is
# unchanged.
#
# Usage: sudo scripts/setup.sh [--with-vagrant] [--force]
#   --with-vagrant  also install Debian's vagrant (used by the tests to run
#                   `vagrant validate`; not needed to use netplay)
#   --force         redo the pip install even if nothing changed
#
# Environment:
#   NETPLAY_VENV    virtualenv location (default: <repo>/.venv)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
VENV=${NETPLAY_VENV:-$REPO_ROOT/.venv}
LINK=/usr/local/bin/netplay

log() { printf 'setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

with_vagrant=0
# Print the header comment (line 2 up to the first non-comment line).
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

force=0
for arg in "$@"; do
    case $arg in
        --with-vagrant) with_vagrant=1 ;;
        --force) force=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

[[ $(id -u) -eq 0 ]] || die "must run as root (try: sudo $0)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: only Debian/Ubuntu are supported"

packages=(
    iproute2 bridge-utils iptables iputils-ping
    python3-venv python3-pip
    docker.io tcpdump shellcheck graphviz busybox-static
    procps kmod ca-certificates
    openssh-client openssh-server sudo
    zsh fish man-db groff-base
    iperf3
    chromium
)
if (( with_vagrant )); then
    packages+=(vagrant)
fi

is_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]
}

# invoke-rc.d and deb-systemd-invoke start no service while policy-rc.d exits 101.
POLICY=/usr/sbin/policy-rc.d
made_policy=0
quiet_services() {
    if [[ ! -e $POLICY ]]; then
        printf '#!/bin/sh\n# netplay setup.sh: start no service during this install\nexit 101\n' >"$POLICY"
        chmod 0755 "$POLICY"
        made_policy=1
        trap 'rm -f -- "$POLICY"' EXIT
    fi
}
end_quiet_services() {
    if (( made_policy )); then
        rm -f -- "$POLICY"
        trap - EXIT
        made_policy=0
    fi
    # Should a postinst have started the system's sshd all the same, stop it: it was
    # not running before this install (the package was not installed).
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        if systemctl is-active --quiet ssh.service 2>/dev/null; then
            log "stopping the ssh service the openssh-server package started"
            systemctl stop ssh.service ssh.socket 2>/dev/null || true
        fi
    elif [[ -s /run/sshd.pid ]]; then
        log "stopping the sshd the openssh-server package started"
        kill -- "$(cat /run/sshd.pid)" 2>/dev/null || true
    fi
}

missing=()
for pkg in "${packages[@]}"; do
    if is_installed "$pkg"; then
        continue
    fi
    # A Docker engine from another source (e.g. docker-ce from Docker's own
    # repository) conflicts with docker.io: keep the one that is there.
    if [[ $pkg == docker.io ]] && command -v dockerd >/dev/null 2>&1 \
        && command -v docker >/dev/null 2>&1; then
        log "docker.io not installed but dockerd/docker are present; keeping them"
        continue
    fi
    missing+=("$pkg")
done

if (( ${#missing[@]} )); then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # openssh-server is installed for its sshd binary only (the tests' simulated hosts
    # each run one of their own): keep the package from starting the system's sshd.
    if [[ " ${missing[*]} " == *" openssh-server "* ]]; then
        quiet_services
    fi
    apt-get install -y --no-install-recommends "${missing[@]}"
    if [[ " ${missing[*]} " == *" openssh-server "* ]]; then
        end_quiet_services
    fi
else
    log "all system packages already installed"
fi

# --- virtualenv -----------------------------------------------------------
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found on PATH"

if [[ -e $VENV ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    # Broken venv (e.g. its base interpreter is gone). Only delete what is
    # recognisably a virtualenv.
    [[ -f $VENV/pyvenv.cfg ]] || die "$VENV exists but is not a working virtualenv; remove it or set NETPLAY_VENV"
    log "virtualenv $VENV is broken; recreating it"
    rm -rf -- "$VENV"
fi
if [[ ! -e $VENV ]]; then
    log "creating virtualenv $VENV with $(command -v "$PYTHON")"
    "$PYTHON" -m venv "$VENV"
fi

# --- netplay (editable) ---------------------------------------------------
meta_files=()
for f in pyproject.toml setup.cfg setup.py; do
    if [[ -f $REPO_ROOT/$f ]]; then
        meta_files+=("$REPO_ROOT/$f")
    fi
done
(( ${#meta_files[@]} )) || die "no pyproject.toml, setup.cfg or setup.py in $REPO_ROOT"

stamp_file=$VENV/.netplay-setup-stamp
stamp=$( { printf '%s\n' "$REPO_ROOT"; cat -- "${meta_files[@]}"; } | sha256sum | cut -d' ' -f1)

if (( ! force )) && [[ -f $stamp_file && $(cat -- "$stamp_file") == "$stamp" ]] \
    && [[ -x $VENV/bin/netplay ]] \
    && (cd / && "$VENV/bin/python" -c 'import sys, netplay, pytest, hypothesis, xdist
sys.version_info < (3, 10) or __import__("mypy")') >/dev/null 2>&1; then
    log "netplay already installed in $VENV"
else
    log "installing netplay (editable, with test extras: pytest, hypothesis, pytest-xdist, mypy) into $VENV"
    rm -f -- "$stamp_file"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -e "${REPO_ROOT}[test]"
    printf '%s\n' "$stamp" >"$stamp_file"
fi

# --- put `netplay` on PATH --------------------------------------------------
target=$VENV/bin/netplay
[[ -x $target ]] || die "$target missing after install (does setup.cfg define the netplay console script?)"
if [[ -L $LINK && $(readlink -- "$LINK") == "$target" ]]; then
    log "$LINK already links to $target"
elif [[ -L $LINK && ! -e $LINK ]]; then
    log "replacing dangling link $LINK -> $(readlink -- "$LINK")"
    ln -sfn -- "$target" "$LINK"
elif [[ -e $LINK || -L $LINK ]]; then
    log "warning: $LINK exists and is not a link to $target; leaving it alone (use $target)"
else
    mkdir -p -- "$(dirname -- "$LINK")"
    ln -s -- "$target" "$LINK"
    log "linked $LINK -> $target"
fi

# --- the man page, written from the parser ------------------------------------
MAN1=/usr/local/share/man/man1
mkdir -p -- "$MAN1"
if "$VENV/bin/python" -m netplay.cli.manpage >"$MAN1/netplay.1.new"; then
    mv -f -- "$MAN1/netplay.1.new" "$MAN1/netplay.1"
    log "installed $MAN1/netplay.1 (man netplay)"
else
    rm -f -- "$MAN1/netplay.1.new"
    die "could not write the man page $MAN1/netplay.1"
fi

log "done"
