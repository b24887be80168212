"""netplay perf: iperf3 from one node to another on the real kernel (a positive figure, a
tbf rate limit measured as such, no iperf3 process left behind, even after Ctrl-C), and
its parser and failure paths on recorded reports."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import TEST_IMAGE, write_topology
from netplay.core.errors import HostError
from netplay.lab.perf import PerfFailed, measure, parse_report, rate
from netplay.machine.fake import FakeMachine
from netplay.model.validate import from_dict

TOPOLOGY = """
name: np18f
nodes:
  f18a: {interfaces: {eth0: {addresses: [10.203.0.1/24, fd0b:3::1/64]}}}
  f18b: {interfaces: {eth0: {addresses: [10.203.0.2/24, fd0b:3::2/64]}}}
links:
  - endpoints: [f18a:eth0, f18b:eth0]
"""

DOCKER_TOPOLOGY = """
name: np18fd
nodes:
  f18c: {kind: docker, interfaces: {eth0: {addresses: [10.206.0.3/24]}}}
  f18d: {interfaces: {eth0: {addresses: [10.206.0.4/24]}}}
links:
  - endpoints: [f18c:eth0, f18d:eth0]
"""

PORT = "5391"  # a port of these tests' own, so their iperf3 processes are told apart
LINE = re.compile(r"f18a -> f18b \(10\.203\.0\.2\): [0-9.]+ [KMG]bit/s \(sender\), "
                  r"[0-9.]+ [KMG]bit/s \(receiver\)\n\Z")


@pytest.fixture
def np18f(lab, tmp_path):
    lab(write_topology(tmp_path, TOPOLOGY, name="np18f.yaml"))
    return "np18f"


def iperf_pids():
    """{pid: argv} of the iperf3 processes on this host using PORT."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == "iperf3" and PORT in argv:
            found[int(pid)] = argv
    return found


def alive(pid):
    """Whether pid is a process that has not ended (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def perf_watched(state_dir, *args, interrupt_after=None):
    """Run `netplay perf ...` (its port PORT), recording every iperf3 process it starts
    while it runs (polled); with interrupt_after, SIGINT to netplay alone once a server
    and a client have been seen and that many seconds have passed. (rc, out, err, pids)."""
    env = dict(os.environ, NETPLAY_STATE_DIR=state_dir)
    proc = subprocess.Popen([sys.executable, "-m", "netplay", "perf", *args, "-p", PORT],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen, since = {}, None
    try:
        while proc.poll() is None:
            seen.update(iperf_pids())
            roles = {"-s" if "-s" in argv else "-c" for argv in seen.values()}
            if interrupt_after is not None and roles == {"-s", "-c"}:
                since = since or time.monotonic()
                if time.monotonic() - since >= interrupt_after:
                    proc.send_signal(signal.SIGINT)
                    interrupt_after = None
            time.sleep(0.02)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err, seen


@pytest.mark.root
def test_perf_measures_and_leaves_no_iperf3(np18f, netplay, state_dir):
    rc, out, err, pids = perf_watched(state_dir, np18f, "f18a", "f18b", "-t", "2")
    assert (rc, err) == (0, ""), (out, err)
    assert LINE.match(out), out
    servers = [p for p, argv in pids.items() if "-s" in argv]
    clients = [p for p, argv in pids.items() if "-c" in argv]
    assert servers and clients, pids  # both were seen: inside the nodes, as said
    assert not [p for p in pids if alive(p)], pids  # all gone, by PID
    result = netplay("perf", np18f, "f18a", "f18b", "-6", "-t", "1", "--json")
    assert result.rc == 0, result
    data = result.json()
    assert (data["source"], data["target"], data["address"], data["protocol"]) == \
        ("f18a", "f18b", "fd0b:3::2", "tcp")
    assert data["sender_bps"] > 0 and data["receiver_bps"] > 0, data


@pytest.mark.root
def test_perf_shows_a_rate_limit(np18f, netplay):
    assert netplay("link", np18f, "f18a:eth0", "--rate", "10mbit").rc == 0
    result = netplay("perf", np18f, "f18a", "f18b", "-t", "3", "--json")
    assert result.rc == 0, result
    received = result.json()["receiver_bps"]
    assert 5e6 < received < 12e6, result  # tbf's 10 Mbit/s, generously
    result = netplay("perf", np18f, "f18a", "f18b", "-t", "2", "--udp", "-b", "20M", "--json")
    data = result.json()
    assert result.rc == 0 and data["protocol"] == "udp", result
    # 20 Mbit/s offered through a 10 Mbit/s limit (tbf on the sender's own interface holds
    # the socket back rather than dropping, so the loss is the receiver's to say)
    assert 5e6 < data["receiver_bps"] < 12e6 and data["lost_percent"] is not None, data


@pytest.mark.root
def test_perf_stops_both_iperf3_on_ctrl_c(np18f, state_dir):
    start = time.monotonic()
    rc, out, err, pids = perf_watched(state_dir, np18f, "f18a", "f18b", "-t", "120",
                                      interrupt_after=0.5)
    took = time.monotonic() - start
    # iperf3 writes to the terminal's stderr: a client that saw its server stop first may
    # say so ("iperf3: interrupt - the server has terminated") before netplay's own line
    lines = err.splitlines()
    assert rc == 1 and lines[-1:] == ["netplay: interrupted"], (rc, out, err, pids, took)
    assert all(line.startswith("iperf3: ") for line in lines[:-1]), (err, pids, took)
    assert took < 60, (rc, out, err, pids, took)  # stopped, not run to its end
    assert len(pids) >= 2 and not [p for p in pids if alive(p)], (pids, took)


@pytest.mark.root
def test_perf_to_an_unreachable_node_is_one_line_exit_1(np18f, netplay, state_dir):
    assert netplay("link", np18f, "f18b:eth0", "--down").rc == 0
    rc, out, err, pids = perf_watched(state_dir, np18f, "f18a", "f18b", "-4", "-t", "1")
    assert rc == 1 and out == "" and err.count("\n") == 1, (out, err)
    assert err.startswith("netplay: error: f18a -> f18b (10.203.0.2): unable to connect"), err
    assert pids and not [p for p in pids if alive(p)], pids


@pytest.mark.root
def test_perf_bad_input_is_one_line_exit_2(np18f, netplay):
    for argv, words in [(("nolab", "f18a", "f18b"), "no lab named 'nolab'"),
                        ((np18f, "nobody", "f18b"), "has no node 'nobody'"),
                        ((np18f, "f18a", "nobody"), "has no node 'nobody'"),
                        ((np18f, "f18a", "f18b:eth9"), "no interface 'eth9'"),
                        ((np18f, "f18a", "10.203.0.2"), "name the node"),
                        ((np18f, "f18a", "f18b", "-t", "0"), "1 to 3600 seconds"),
                        ((np18f, "f18a", "f18b", "-b", "fast"), "--bitrate 'fast'")]:
        result = netplay("perf", *argv)
        assert result.rc == 2 and result.out == "", (argv, result)
        assert result.err.count("\n") == 1 and words in result.err, (argv, result)
    assert iperf_pids() == {}


@pytest.mark.root
@pytest.mark.docker
def test_perf_with_a_container_node(lab, tmp_path, netplay):
    # the image has no iperf3: the host's runs in the container's named namespace
    lab(write_topology(tmp_path, DOCKER_TOPOLOGY, name="np18fd.yaml"), "--image", TEST_IMAGE)
    for a, b, address in [("f18c", "f18d", "10.206.0.4"), ("f18d", "f18c", "10.206.0.3")]:
        result = netplay("perf", "np18fd", a, b, "-t", "1", "--json")
        assert result.rc == 0, result
        data = result.json()
        assert data["address"] == address and data["receiver_bps"] > 0, data


# --- without a host: the parser and the failure paths ----------------------------------------

# the `end` sums of iperf 3.12's `-J` reports, recorded on this machine
TCP_END = {"sum_sent": {"start": 0, "end": 1.000031, "seconds": 1.000031, "bytes": 2313420800,
                        "bits_per_second": 18506792689.42663, "retransmits": 9, "sender": True},
           "sum_received": {"start": 0, "end": 1.000077, "seconds": 1.000077,
                            "bytes": 2313420800, "bits_per_second": 18505941442.508926,
                            "sender": True}}
UDP_END = {"sum": {"seconds": 1.000168, "bits_per_second": 10222481.304575192,
                   "jitter_ms": 0.007498073146239463, "lost_packets": 0, "packets": 39,
                   "lost_percent": 0, "sender": True},
           "sum_sent": {"seconds": 1.000111, "bits_per_second": 10222481.304575192,
                        "jitter_ms": 0, "lost_packets": 0, "packets": 39, "lost_percent": 0},
           "sum_received": {"seconds": 1.000168, "bits_per_second": 10221898.72101487,
                            "jitter_ms": 0.007498073146239463, "lost_packets": 0,
                            "packets": 39, "lost_percent": 0, "sender": False}}


def test_parse_report_and_rate():
    tcp = parse_report("a", "b", "10.0.0.2", False, {"end": TCP_END})
    assert (tcp.sender_bps, tcp.receiver_bps, tcp.retransmits, tcp.seconds) == \
        (18506792689.42663, 18505941442.508926, 9, 1.000031)
    udp = parse_report("a", "b", "10.0.0.2", True, {"end": UDP_END})
    assert (udp.receiver_bps, udp.jitter_ms, udp.lost_percent, udp.retransmits) == \
        (10221898.72101487, 0.007498073146239463, 0, None)
    with pytest.raises(PerfFailed):
        parse_report("a", "b", "10.0.0.2", False, {"end": {}})
    assert [rate(r) for r in (9.41e9, 9.57e6, 812500, 12)] == \
        ["9.41 Gbit/s", "9.57 Mbit/s", "812.50 Kbit/s", "12 bit/s"]


def _topo():
    import yaml

    return from_dict(yaml.safe_load(TOPOLOGY))


def test_a_server_that_cannot_listen_is_reported_and_stopped():
    fake = FakeMachine(dirs={"/var/run/netns": ["f18a", "f18b"]})
    server = ["ip", "netns", "exec", "f18b", "iperf3", "-s", "-1", "-J", "-B", "10.203.0.2",
              "-p", "5201"]
    fake.feed(server, json.dumps({"error": "unable to start listener for connections: "
                                           "Address already in use"}).encode(), rc=1)
    with pytest.raises(PerfFailed, match="could not listen on 10.203.0.2 port 5201: "
                                         "unable to start listener"):
        measure(_topo(), fake, "f18a", "f18b", 1)
    assert fake.argvs("stream") == [server]  # no client started
    assert fake.streams[0].stopped


def test_a_client_error_is_reported_and_both_are_stopped():
    fake = FakeMachine(dirs={"/var/run/netns": ["f18a", "f18b"]})
    client = ["ip", "netns", "exec", "f18a", "iperf3", "-c", "10.203.0.2", "-p", "5201", "-J",
              "-t", "1", "--connect-timeout", "3000"]
    fake.feed(client, json.dumps({"error": "unable to connect to server: No route to host"})
              .encode(), rc=1)
    blocking = _BlockingServer(fake)
    with pytest.raises(PerfFailed, match=r"f18a -> f18b \(10.203.0.2\): unable to connect"):
        measure(_topo(), blocking, "f18a", "f18b", 1)
    assert [s.stopped for s in blocking.started] == [True, True]


class _BlockingServer:
    """A FakeMachine whose first stream (the server) blocks reading until stopped."""

    def __init__(self, fake):
        self.fake, self.started = fake, []

    def __getattr__(self, name):
        return getattr(self.fake, name)

    def stream(self, argv):
        import threading

        handle = self.fake.stream(argv)
        if not self.started:
            gate = threading.Event()

            class Pipe:
                def read(self):
                    gate.wait(10)
                    return b""

            handle.stdout, stop = Pipe(), handle.stop
            handle.stop = lambda: (stop(), gate.set())
        self.started.append(handle)
        return handle


def test_no_iperf3_on_the_host_is_one_line():
    fake = FakeMachine(missing={"iperf3"}, dirs={"/var/run/netns": ["f18a", "f18b"]})
    with pytest.raises(HostError, match="apt-get install iperf3"):
        measure(_topo(), fake, "f18a", "f18b", 1)
    assert fake.argvs("stream") == []
