"""ssh's ProxyCommand for the simulated hosts (tests/simhost.py): connect to HOST:PORT from
inside the underlay's network namespace and pass the connected socket back to ssh
(`ProxyUseFdpass yes`), so that nothing of the underlay is reachable from, or created in,
the real host's root namespace.

Usage: simproxy.py NETNS_FILE HOST PORT TIMEOUT   (stdout: the socket ssh gave us)
"""

import ctypes
import os
import socket
import sys

CLONE_NEWNET = 0x40000000


def main(argv):
    netns, host, port, timeout = argv[1], argv[2], int(argv[3]), float(argv[4])
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns {netns}: {os.strerror(err)}")
    os.close(fd)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        print(f"simproxy: cannot connect to {host}:{port}: {exc}", file=sys.stderr)
        return 1
    sock.setblocking(True)
    out = socket.socket(fileno=sys.stdout.fileno())
    socket.send_fds(out, [b"\0"], [sock.fileno()])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
