"""netplay capture: tcpdump inside a node, a pcap read back packet by packet, clean stops.

Every capture is started here, waited for, and stopped by the PID this test started; a
finalizer kills that PID (and only that one) if a test fails half way.
"""

import ipaddress
import os
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

from netplay.cli.commands.capture import tcpdump_argv

pytestmark = pytest.mark.root

ICMP, ECHO_REPLY, ECHO_REQUEST = 1, 0, 8


def read_pcap(path):
    """The packets of a classic pcap file, or of pcap bytes: [(linktype, bytes)]."""
    if isinstance(path, bytes):
        data = path
    else:
        with open(path, "rb") as f:
            data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise AssertionError(f"{path} is not a pcap file (magic {magic!r})")
    _, major, minor, _, _, _, linktype = struct.unpack(endian + "IHHiIII", data[:24])
    assert (major, minor) == (2, 4)
    packets, offset = [], 24
    while offset < len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        offset += 16
        packets.append((linktype, data[offset:offset + incl]))
        offset += incl
    assert offset == len(data), "a truncated record"
    return packets


def icmp_packets(path):
    """(type, source, destination) of each IPv4 ICMP packet in an Ethernet pcap (a file's
    path or the bytes of one)."""
    out = []
    for linktype, frame in read_pcap(path):
        assert linktype == 1  # Ethernet
        if struct.unpack("!H", frame[12:14])[0] != 0x0800:
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != ICMP:
            continue
        src, dst = (str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20])))
        out.append((ip[ihl], src, dst))
    return out


class Capture:
    """`netplay capture ...` running in the background, stopped by its own PID."""

    def __init__(self, state_dir, *args):
        env = dict(os.environ, NETPLAY_STATE_DIR=state_dir)
        self.proc = subprocess.Popen([sys.executable, "-m", "netplay", "capture", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, cwd=os.path.dirname(state_dir))
        self.err_lines = []
        self.listening = 0
        self.tcpdumps = sum(1 for a in args if ":" in a and not a.startswith("-")) or 1
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read_err, daemon=True)
        self._reader.start()

    def _read_err(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace")
            self.err_lines.append(line)
            if "listening on" in line:
                self.listening += 1
                if self.listening == self.tcpdumps:  # every tcpdump of the capture
                    self.ready.set()
        self.ready.set()

    def wait_ready(self, timeout=20):
        # what the capture said so far, and whether it still runs: a failure here (seen
        # once in a full run, never alone) then shows why
        assert self.ready.wait(timeout), ("tcpdump never said it was listening",
                                          self.listening, self.err_lines, self.proc.poll())
        assert self.proc.poll() is None, ("capture ended early", self.err_lines)

    def wait(self, timeout=20, binary=False):
        out = self.proc.stdout.read()
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc, out if binary else out.decode(errors="replace"), "".join(self.err_lines)

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def captures(state_dir):
    started = []

    def start(*args):
        cap = Capture(state_dir, *args)
        started.append(cap)
        return cap

    yield start
    for cap in started:
        cap.kill()


def ping(ns, address, count=1):
    return subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", str(count), "-i", "0.2",
                           "-W", "2", address], capture_output=True, text=True)


def test_tcpdump_argv_runs_inside_the_namespace():
    assert tcpdump_argv("router", "eth1", "/tmp/x.pcap", 2, ["icmp"]) == [
        "ip", "netns", "exec", "router", "tcpdump", "-i", "eth1", "-n", "--immediate-mode",
        "-U", "-w",
        "/tmp/x.pcap", "-c", "2", "icmp"]
    assert tcpdump_argv(None, "home", None, None, []) == [
        "tcpdump", "-i", "home", "-n", "--immediate-mode", "-l"]


def test_a_capture_of_a_ping_holds_the_echo_request_and_reply(lab, captures, state_dir,
                                                              tmp_path):
    lab("home", "--runtime", "netns")
    pcap = tmp_path / "ping.pcap"
    cap = captures("home", "router:eth1", "-w", str(pcap), "-c", "2", "--", "icmp")
    cap.wait_ready()
    assert ping("laptop", "10.200.1.1").returncode == 0
    rc, _, err = cap.wait()
    assert rc == 0, err
    assert icmp_packets(pcap) == [(ECHO_REQUEST, "10.200.1.2", "10.200.1.1"),
                                  (ECHO_REPLY, "10.200.1.1", "10.200.1.2")]
    assert "2 packets captured" in err


def test_ctrl_c_stops_a_capture_cleanly_and_the_pcap_is_whole(lab, captures, tmp_path):
    lab("home", "--runtime", "netns")
    pcap = tmp_path / "routed.pcap"
    # verizon's side of the router: the laptop's pings arrive there routed
    cap = captures("home", "verizon:eth1", "-w", str(pcap), "--", "icmp")
    cap.wait_ready()
    assert ping("laptop", "198.51.100.1", count=3).returncode == 0
    time.sleep(0.3)
    cap.stop(signal.SIGINT)
    rc, _, err = cap.wait()
    assert rc == 0, err
    packets = icmp_packets(pcap)
    assert packets.count((ECHO_REQUEST, "10.200.1.2", "198.51.100.1")) == 3
    assert packets.count((ECHO_REPLY, "198.51.100.1", "10.200.1.2")) == 3
    assert "packets captured" in err


def test_printing_capture_on_a_bridge_port_stops_on_sigterm(lab, captures):
    lab("home", "--runtime", "netns")
    cap = captures("home", "home:laptop_eth1", "--", "icmp")
    cap.wait_ready()
    assert ping("laptop", "10.200.1.1").returncode == 0
    time.sleep(0.3)
    cap.stop(signal.SIGTERM)
    rc, out, err = cap.wait()
    assert rc == 0, err
    lines = [line for line in out.splitlines() if "ICMP" in line]
    assert any("10.200.1.2 > 10.200.1.1: ICMP echo request" in line for line in lines), out
    assert any("10.200.1.1 > 10.200.1.2: ICMP echo reply" in line for line in lines), out


def test_capture_names_a_missing_interface_in_one_line(lab, netplay):
    lab("home", "--runtime", "netns")
    result = netplay("capture", "home", "laptop:eth9")
    assert result.rc == 2
    assert result.err.strip() == ("netplay: error: laptop:eth9: no interface eth9 in "
                                  "namespace laptop; it has eth1, lo")
    result = netplay("capture", "home", "nobody:eth0")
    assert result.rc == 2 and "no node or bridge 'nobody'" in result.err
    result = netplay("capture", "home", "laptop")
    assert result.rc == 2 and "NODE:IFACE" in result.err
    result = netplay("capture", "home", "laptop:eth1", "-c", "0")
    assert result.rc == 2 and "Traceback" not in result.err


TWO_NODES = """
name: npcap
nodes:
  a: {interfaces: {e0: {addresses: [10.211.0.1/24]}}}
  b: {interfaces: {e0: {addresses: [10.211.0.2/24]}}}
links:
  - endpoints: [a:e0, b:e0]
"""


def test_w_dash_streams_pcap_on_stdout_and_nothing_else(lab, captures, tmp_path):
    from conftest import write_topology

    lab(write_topology(tmp_path, TWO_NODES, "npcap.yaml"), "--runtime", "netns")
    cap = captures("npcap", "a:e0", "-w", "-", "-c", "2", "--", "icmp")
    cap.wait_ready()
    assert ping("a", "10.211.0.2").returncode == 0
    rc, out, err = cap.wait(binary=True)
    assert rc == 0, err
    assert not (tmp_path / "-").exists()  # the capture's working directory
    assert icmp_packets(out) == [(ECHO_REQUEST, "10.211.0.1", "10.211.0.2"),
                                 (ECHO_REPLY, "10.211.0.2", "10.211.0.1")]
    assert "2 packets captured" in err and "netplay: wrote" not in err


def test_several_interfaces_merge_into_one_pcap_stream(lab, captures, tmp_path):
    from conftest import write_topology

    lab(write_topology(tmp_path, TWO_NODES, "npcap.yaml"), "--runtime", "netns")
    cap = captures("npcap", "a:e0", "b:e0", "-w", "-", "-c", "4", "--", "icmp")
    cap.wait_ready()  # both tcpdumps listen
    assert ping("a", "10.211.0.2", count=2).returncode == 0
    rc, out, err = cap.wait(binary=True)
    assert rc == 0, err
    # one global header, then 4 whole records: the first echo's request and reply, seen
    # on both ends of the link (which two comes first between the interfaces may vary)
    packets = icmp_packets(out)
    assert len(packets) == 4, packets
    assert packets.count((ECHO_REQUEST, "10.211.0.1", "10.211.0.2")) == 2, packets
    assert packets.count((ECHO_REPLY, "10.211.0.2", "10.211.0.1")) == 2, packets
    assert err.count("listening on e0") == 2


def test_several_interfaces_stop_together_on_sigterm(lab, captures, tmp_path):
    from conftest import write_topology

    lab(write_topology(tmp_path, TWO_NODES, "npcap.yaml"), "--runtime", "netns")
    cap = captures("npcap", "a:e0", "b:e0", "-w", "-", "--", "icmp")
    cap.wait_ready()
    assert ping("a", "10.211.0.2", count=3).returncode == 0
    time.sleep(0.3)
    cap.stop(signal.SIGTERM)
    rc, out, err = cap.wait(binary=True)
    assert rc == 0, err
    packets = icmp_packets(out)
    assert packets.count((ECHO_REQUEST, "10.211.0.1", "10.211.0.2")) == 6, packets
    assert packets.count((ECHO_REPLY, "10.211.0.2", "10.211.0.1")) == 6, packets
    assert err.count("6 packets captured") == 2, err


def test_several_interfaces_without_w_dash_are_refused_in_one_line(lab, netplay, tmp_path):
    from conftest import write_topology

    lab(write_topology(tmp_path, TWO_NODES, "npcap.yaml"), "--runtime", "netns")
    result = netplay("capture", "npcap", "a:e0", "b:e0", "--", "icmp")
    assert result.rc == 2 and result.out == ""
    assert result.err.strip() == (
        "netplay: error: a:e0 b:e0: several interfaces are captured into one pcap stream "
        "on stdout only; add -w - (e.g. `-w - > both.pcap` or `-w - | wireshark -k -i -`)")
    result = netplay("capture", "npcap", "a:e0", "a:e0", "-w", "-")
    assert result.rc == 2 and "named twice" in result.err
    result = netplay("capture", "npcap", "a:e0", "b:e9", "-w", "-")
    assert result.rc == 2 and "b:e9: no interface e9 in namespace b" in result.err
