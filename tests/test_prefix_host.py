"""Labs side by side on the real kernel: copies of one topology, each `run --name NAME
--prefix`, built at once, verified, reached by their short node names, and taken down to
leave the host exactly as it was."""

import os
import signal
import subprocess
import sys

import pytest

from conftest import snapshot

pytestmark = pytest.mark.root


@pytest.fixture
def labs(netplay, state_dir):
    """Start labs with `labs(topology, name)` (in parallel, each a `netplay run` process);
    every one is taken down afterwards, even when the test fails, and the host must then
    be as it was."""
    before = snapshot()
    names = []

    def start(topology, *lab_names):
        env = dict(os.environ, NETPLAY_STATE_DIR=state_dir)
        procs = []
        for name in lab_names:
            names.append(name)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "netplay", "run", topology, "--name", name, "--prefix"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        outs = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            outs.append((proc.returncode, out, err))
        return outs

    yield start
    for name in names:
        netplay("down", name)
    assert snapshot() == before, "a lab left something on the host"


def _capture_one_packet(state_dir, netplay, tmp_path):
    """`capture np-sbs1 h3:eth0` (a short name) sees the ping from h1."""
    pcap = tmp_path / "h3.pcap"
    proc = subprocess.Popen([sys.executable, "-m", "netplay", "capture", "np-sbs1", "h3:eth0",
                             "-c", "1", "-w", str(pcap), "--", "icmp"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, NETPLAY_STATE_DIR=state_dir))
    try:
        for _ in range(10):
            netplay("ping", "np-sbs1", "h1", "h3")
            try:
                out, err = proc.communicate(timeout=1)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            raise AssertionError("capture saw no packet")
    finally:
        if proc.poll() is None:  # netplay passes SIGINT on to its tcpdump, which stops
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, out + err
    assert pcap.stat().st_size > 24  # a pcap header and a packet


def test_three_linear_labs_side_by_side(labs, netplay, state_dir, tmp_path):
    before = snapshot()
    names = ["np-sbs1", "np-sbs2", "np-sbs3"]
    for rc, out, err in labs("linear:3", *names):
        assert rc == 0, out + err
    during = snapshot()
    for name in names:
        assert {f"{name}-{n}" for n in ("h1", "h2", "h3", "switches")} <= set(during["netns"])
        result = netplay("verify", name)
        assert result.rc == 0, result
    result = netplay("exec", "np-sbs2", "h1", "--", "ping", "-c1", "-W2", "10.0.0.3")
    assert result.rc == 0, result
    result = netplay("ping", "np-sbs3", "h1", "h2")
    assert result.rc == 0, result
    result = netplay("link", "np-sbs1", "h1:eth0", "--down", "--dry-run")
    assert result.rc == 0 and "ip -n np-sbs1-h1 link set eth0 down" in result.out, result
    _capture_one_packet(state_dir, netplay, tmp_path)
    for name in names:
        assert netplay("down", name).rc == 0
    assert snapshot() == before


def test_levels_twice_side_by_side(labs, netplay):
    for rc, out, err in labs("levels", "np-lv1", "np-lv2"):
        assert rc == 0, out + err
    links = snapshot()["links"]
    assert {"np-lv1-veth0a", "np-lv2-veth0a"} <= set(links) and "veth0a" not in links
    for name in ("np-lv1", "np-lv2"):
        result = netplay("verify", name)
        assert result.rc == 0, result
    result = netplay("exec", "np-lv2", "levela", "--", "ip", "-br", "addr", "show", "veth1a")
    assert result.rc == 0 and "172.16.1.0/24" in result.out, result
