"""`home` on real Docker containers, as the tutorial builds it."""

import json
import subprocess

import pytest

from conftest import TEST_IMAGE, snapshot
from test_home import check_home_network

pytestmark = [pytest.mark.root, pytest.mark.docker]


def inspect(name):
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


def test_home_on_containers(lab, state_dir):
    lab("home", "--image", TEST_IMAGE)
    for name in ("laptop", "router", "verizon"):
        info = inspect(name)
        assert info["State"]["Running"]
        assert info["HostConfig"]["NetworkMode"] == "none"
        assert info["Config"]["Labels"]["netplay.lab"] == "home"
        assert info["HostConfig"]["Dns"] == ["8.8.8.8"]
        # the namespace named in /var/run/netns is the container's own
        ns_inode = subprocess.run(["stat", "-L", "-c", "%i", f"/var/run/netns/{name}"],
                                  capture_output=True, text=True).stdout.strip()
        pid = info["State"]["Pid"]
        proc_inode = subprocess.run(["stat", "-L", "-c", "%i", f"/proc/{pid}/ns/net"],
                                    capture_output=True, text=True).stdout.strip()
        assert ns_inode == proc_inode
    check_home_network()
    with open(f"{state_dir}/labs/home/log.json") as f:
        log = json.load(f)
    inspects = [s for s in log["steps"] if s.get("capture")]
    assert len(inspects) == 3
    assert all(s["result"]["value"].isdigit() for s in inspects)
    attach = [s for s in log["steps"] if s["argv"][:3] == ["ip", "netns", "attach"]]
    assert [s["argv"][4] for s in attach] == [{"ref": f"pid_{s['argv'][3]}"} for s in attach]


def test_docker_firewall_trap_is_handled_and_undone(lab):
    """With dockerd running, FORWARD drops bridged frames; the lab's rule lets them pass."""
    with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
        assert f.read().strip() == "1", "br_netfilter active, as with dockerd"
    assert "-P FORWARD DROP" in subprocess.run(["iptables", "-S", "FORWARD"],
                                               capture_output=True, text=True).stdout
    lab("home", "--image", TEST_IMAGE)
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    assert '-A FORWARD -i home -o home -m comment --comment "netplay:home" -j ACCEPT' in rules
    check_home_network()  # laptop -> router crosses the root-namespace bridge
    # the lab fixture then checks that down removed the rule with everything else


def test_container_removed_by_hand_is_reported_and_the_rest_cleaned(netplay, host_unchanged):
    assert netplay("run", "home", "--image", TEST_IMAGE).rc == 0
    subprocess.run(["docker", "rm", "-f", "laptop"], check=True, capture_output=True)
    result = netplay("down", "home")
    assert result.rc == 0, result
    notes = [line for line in result.err.splitlines() if line.strip()]
    assert notes == ["netplay: home: node laptop: its container was already gone "
                     "(removed outside netplay)"]


def test_missing_image_is_a_clear_error_and_creates_nothing(netplay, host_unchanged):
    result = netplay("run", "home", "--image", "netplay-no-such-image:0")
    assert result.rc == 2
    assert "image 'netplay-no-such-image:0' is not on this host and cannot be pulled" in result.err
    assert "scripts/build-image.sh" in result.err


def test_no_daemon_is_a_clear_error_with_runtime_docker(netplay, host_unchanged):
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = netplay("run", "home", "--runtime", "docker", "--image", TEST_IMAGE, env=env)
    assert result.rc == 2
    assert "no Docker daemon answers" in result.err
    assert "Traceback" not in result.err


def test_no_daemon_falls_back_to_namespaces(netplay):
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    before = snapshot()
    result = netplay("run", "home", env=env)
    try:
        assert result.rc == 0, result
        assert "no Docker daemon answers; building home on plain network namespaces" in result.err
        assert before["containers"] == snapshot()["containers"]
        check_home_network()
    finally:
        assert netplay("down", "home", env=env).rc == 0
    assert snapshot() == before


def test_a_container_that_fails_to_start_is_removed_with_the_rest(netplay, tmp_path,
                                                                  host_unchanged):
    from conftest import write_topology

    topo = write_topology(tmp_path, """
name: npt-badcmd
nodes:
  npt-bc1: {kind: docker, cmd: [/no/such/program]}
  npt-bc2: {kind: docker}
links:
  - endpoints: [npt-bc1:eth0, npt-bc2:eth0]
""")
    result = netplay("run", topo, "--image", TEST_IMAGE)
    assert result.rc == 1
    assert "/no/such/program" in result.err and "Traceback" not in result.err
    # host_unchanged: neither the started container nor the created-but-failed one remains
