#!/usr/bin/env bash
# What a test run leaves on the host besides its labs, taken away again, so that the
# host is as it was found (CI machines and developers' alike):
#   - the docker0 bridge of a dockerd that scripts/docker-up.sh started: dockerd makes
#     it and leaves it when it stops;
#   - the bind mount of /run/netns that `ip netns add` makes on its first use;
#   - /etc/netns, made by the first lab with etc_hosts (each lab removes its own folder
#     in it, not the folder that holds them).
#
# Usage (scripts/test.sh does both):
#   leftovers.sh note FILE            before anything: note in FILE which of them exist
#   leftovers.sh clear FILE [bridge]  at exit: remove what FILE says was absent, while
#                                     unused (the mount and the folder: empty); the bridge
#                                     only when asked (its dockerd was started and stopped
#                                     by the caller) and when it has no ports.
#
# Environment (tests point these elsewhere): NETPLAY_RUN_NETNS (/run/netns),
# NETPLAY_ETC_NETNS (/etc/netns).
set -euo pipefail

BRIDGE=docker0
RUN_NETNS=${NETPLAY_RUN_NETNS:-/run/netns}
ETC_NETNS=${NETPLAY_ETC_NETNS:-/etc/netns}

log() { printf 'leftovers: %s\n' "$*" >&2; }
usage() { log "usage: $0 note FILE | $0 clear FILE [bridge]"; exit 2; }

has_bridge() { ip link show dev "$BRIDGE" >/dev/null 2>&1; }
empty_dir() { [[ -d $1 && -z $(ls -A -- "$1") ]]; }

note() {
    {
        has_bridge && echo bridge
        mountpoint -q -- "$RUN_NETNS" && echo mount
        [[ -e $ETC_NETNS ]] && echo folder
        true
    } >"$1"
}

# True if FILE noted that $2 existed.
had() { grep -qx -- "$2" "$1"; }

clear_leftovers() {
    local file=$1 bridge=${2:-}
    [[ -f $file ]] || { log "no note $file: removing nothing"; return 0; }
    if [[ $bridge == bridge ]] && ! had "$file" bridge && has_bridge; then
        if [[ -n $(ip -o link show master "$BRIDGE" 2>/dev/null) ]]; then
            log "$BRIDGE has ports; leaving it"
        else
            ip link delete dev "$BRIDGE" && log "removed $BRIDGE (left by the dockerd stopped)"
        fi
    fi
    if ! had "$file" mount && mountpoint -q -- "$RUN_NETNS"; then
        if empty_dir "$RUN_NETNS"; then
            umount -- "$RUN_NETNS" && log "unmounted $RUN_NETNS (mounted by ip netns add)"
        else
            log "$RUN_NETNS holds namespaces; leaving its mount"
        fi
    fi
    if ! had "$file" folder && empty_dir "$ETC_NETNS"; then
        rmdir -- "$ETC_NETNS" && log "removed $ETC_NETNS"
    fi
}

case ${1:-} in
    note) [[ $# -eq 2 ]] || usage; note "$2" ;;
    clear) [[ $# -eq 2 || $# -eq 3 ]] || usage; clear_leftovers "$2" "${3:-}" ;;
    *) usage ;;
esac
