#!/usr/bin/env bash
# Build the small local image netplay-busybox:latest without any registry:
# a rootfs made from Debian's busybox-static, imported with `docker import`.
# Skipped when the image already exists, unless --force is given.
#
# Usage: scripts/build-image.sh [--force]
# Environment:
#   NETPLAY_BUSYBOX_IMAGE  image name (default: netplay-busybox:latest)
#   BUSYBOX                busybox binary to use (default: /bin/busybox)
set -euo pipefail

IMAGE=${NETPLAY_BUSYBOX_IMAGE:-netplay-busybox:latest}
BUSYBOX=${BUSYBOX:-/bin/busybox}

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Print the header comment (line 2 up to the first non-comment line).
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

force=0
for arg in "$@"; do
    case $arg in
        --force) force=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

command -v docker >/dev/null 2>&1 || die "docker CLI not found (run scripts/setup.sh)"
timeout 10 docker info >/dev/null 2>&1 || die "no Docker daemon answers (run scripts/docker-up.sh)"

if (( ! force )) && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already exists; skipping (use --force to rebuild)"
    exit 0
fi

[[ -x $BUSYBOX ]] || die "$BUSYBOX not found (apt-get install busybox-static)"
# The image has no libc: the binary must be static.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked; install busybox-static"
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/netplay-busybox.XXXXXX")
trap 'rm -rf -- "$workdir"' EXIT
rootfs=$workdir/rootfs

mkdir -p -- "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,var/run}
chmod 1777 "$rootfs/tmp"
install -m 0755 -- "$BUSYBOX" "$rootfs/bin/busybox"

# One symlink per applet, in the directory busybox itself would use
# (`busybox --list-full` gives e.g. "bin/sh", "sbin/ip", "usr/bin/wget").
count=0
while IFS= read -r applet; do
    [[ -n $applet && $applet != bin/busybox ]] || continue
    dir=$rootfs/$(dirname -- "$applet")
    mkdir -p -- "$dir"
    if [[ ! -e $rootfs/$applet ]]; then
        ln -s /bin/busybox "$rootfs/$applet"
        count=$((count + 1))
    fi
done < <("$BUSYBOX" --list-full)
[[ -e $rootfs/bin/sh ]] || die "no sh applet in $BUSYBOX"

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
: >"$rootfs/etc/resolv.conf"

log "importing rootfs ($count applets) as $IMAGE"
tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . \
    | docker import \
        --change 'CMD ["sleep","2147483647"]' \
        --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
        --message "netplay busybox image from $("$BUSYBOX" 2>&1 | head -n 1)" \
        - "$IMAGE" >/dev/null

out=$(docker run --rm --net=none "$IMAGE" sh -c 'echo ok')
[[ $out == ok ]] || die "smoke test of $IMAGE failed (got: $out)"
log "built $IMAGE"
