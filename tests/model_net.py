"""Measurements inside lab namespaces for the model tests (issue 6): pings, round-trip
times, the source address a server sees, and bounded transfers. Every one runs with
`ip netns exec` in a namespace the test built, talks only to addresses inside the lab,
and is bounded in bytes and time."""

import re
import subprocess
import sys
import time

SERVER = r"""
import socket, sys, time
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(float(sys.argv[4]))
print("ready", flush=True)
c, peer = s.accept()
c.settimeout(float(sys.argv[4]))
want, got, start = int(sys.argv[3]), 0, None
while got < want:
    data = c.recv(65536)
    if not data:
        break
    if start is None:
        start = time.monotonic()
    got += len(data)
end = time.monotonic()
print(peer[0], got, end - (start or end), flush=True)
"""

CLIENT = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[4]))
c.sendall(b"x" * int(sys.argv[3]))
c.close()
"""


def in_ns(ns, *argv, timeout=30):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          timeout=timeout)


def ping(ns, address, count=1, wait=2):
    family = "-6" if ":" in address else "-4"
    return in_ns(ns, "ping", family, "-c", str(count), "-W", str(wait), address).returncode == 0


def ping_soon(ns, address, within=5.0):
    """A ping that gets a reply within `within` seconds (a fresh lab's carriers come up
    within about a second: the kernel reports them in batches)."""
    deadline = time.monotonic() + within
    while True:
        if ping(ns, address, wait=1):
            return True
        if time.monotonic() > deadline:
            return False


def rtt_ms(ns, address, count=10):
    """The average round trip of `count` pings, in milliseconds."""
    family = "-6" if ":" in address else "-4"
    out = in_ns(ns, "ping", family, "-q", "-c", str(count), "-i", "0.2", "-W", "3",
                address).stdout
    match = re.search(r"= [0-9.]+/([0-9.]+)/", out)
    assert match, out
    return float(match.group(1))


def connect(client_ns, server_ns, address, port=5201, nbytes=1, timeout=20):
    """Send nbytes from client_ns to address:port served in server_ns: (the peer address
    the server saw, bytes received, seconds from first to last byte)."""
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, sys.executable, "-c", SERVER,
                               address, str(port), str(nbytes), str(timeout)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready", server.stderr.read()
        client = in_ns(client_ns, sys.executable, "-c", CLIENT, address, str(port),
                       str(nbytes), str(timeout), timeout=timeout + 5)
        assert client.returncode == 0, client.stderr
        out, err = server.communicate(timeout=timeout + 5)
        assert server.returncode == 0, err
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    peer, got, seconds = out.split()
    return peer, int(got), float(seconds)


def transfer_seconds(client_ns, server_ns, address, nbytes, port=5201):
    peer, got, seconds = connect(client_ns, server_ns, address, port, nbytes)
    assert got == nbytes
    return seconds
