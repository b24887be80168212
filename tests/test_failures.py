"""Bad input, partial failure, locking: one clear line, and the host as it was."""

import fcntl
import json
import os
import subprocess
import sys

import pytest

from conftest import write_topology

pytestmark = pytest.mark.root

BROKEN_ROUTE = """
name: npt-broken
nodes:
  npt-b1: {interfaces: {eth0: {addresses: [10.250.1.1/24]}}}
  npt-b2:
    interfaces: {eth0: {addresses: [10.250.1.2/24]}}
    routes:   # the same destination twice: the kernel refuses the second ("File exists")
      - {to: 10.250.9.0/24, via: 10.250.1.1}
      - {to: 10.250.9.0/24, via: 10.250.1.1}
links:
  - endpoints: [npt-b1:eth0, npt-b2:eth0]
"""


def one_line_error(result):
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    return lines[0]


def test_failed_step_rolls_back_everything(netplay, tmp_path, state_dir, host_unchanged):
    result = netplay("run", write_topology(tmp_path, BROKEN_ROUTE))
    assert result.rc == 1
    line = one_line_error(result)
    # step 15: npt-b1, npt-b2's gateway, has its forwarding turned off first (issue 13)
    assert "step 15 failed: `ip -n npt-b2 route add 10.250.9.0/24 via 10.250.1.1`" in line
    assert "File exists" in line
    with open(f"{state_dir}/labs/npt-broken/log.json") as f:
        log = json.load(f)
    assert log["status"] == "down"
    undone = [entry["argv"] for entry in log["teardown"]]
    assert undone == [["ip", "netns", "delete", "npt-b2"], ["ip", "netns", "delete", "npt-b1"]]
    assert netplay("down", "npt-broken").rc == 0  # nothing left to do


@pytest.mark.parametrize("text,message", [
    ("name: x\nnodes: {a: {kind: netns}\n", ":3:1: malformed YAML"),
    ("name: x\nnodes: {a: {colour: red}}\n", "unknown key 'colour'"),
    ("name: x\nnodes: {'a$(reboot)': {}}\n", "may use only letters"),
    # issue 13: each of these passed validation and failed (or misbehaved) on the host
    ("name: npt-x\nnodes: {npt-a: {}, npt-b: {}}\nlinks: [{endpoints: [npt-a:lo, npt-b:e0]}]\n",
     "interface name 'lo' is the loopback device"),
    ("name: npt-x\nnodes: {_npt-c: {kind: docker}}\n", "Docker refuses container names"),
    ("name: npt-x\nnodes: {npt-a: {interfaces: {e0: {addresses: [10.251.1.1/24]}}},\n"
     "  npt-b: {interfaces: {e0: {addresses: [10.251.1.1/24]}}}}\n"
     "links: [{endpoints: [npt-a:e0, npt-b:e0]}]\n",
     "npt-a:e0 and npt-b:e0 both have address 10.251.1.1 on one layer-2 segment"),
    ("name: npt-x\nnodes: {npt-a: {}, npt-b: {}}\n"
     "links: [{endpoints: [npt-a:e0, npt-b:e0], subnet: 169.254.0.0/16}]\n",
     "overlaps the link-local range 169.254.0.0/16"),
])
def test_bad_topology_file_changes_nothing(netplay, tmp_path, host_unchanged, text, message):
    result = netplay("run", write_topology(tmp_path, text))
    assert result.rc == 2
    assert message in one_line_error(result)


HOST_ROUTE = ("name: npt-hr\nnodes:\n"
              "  host: {kind: host, interfaces: {npt-hr0: {addresses: [10.251.9.1/24]}},"
              " routes: [%s]}\n"
              "  npt-r: {interfaces: {e0: {addresses: [10.251.9.2/24]}}}\n"
              "links: [{endpoints: [host:npt-hr0, npt-r:e0]}]\n")


@pytest.mark.parametrize("route, message", [
    ("{to: default, via: 10.251.9.2}", "a default route in the root namespace"),
    ("{to: 0.0.0.0/1, via: 10.251.9.2}", "0.0.0.0/1 is not inside any network of lab"),
    ("{to: 10.251.0.0/16, dev: npt-hr0}", "10.251.0.0/16 is not inside any network of lab"),
])
def test_a_root_namespace_route_leads_only_into_the_lab(lab, tmp_path, route, message):
    """The root namespace's routing table is the host's: a host node's route that is wider
    than the lab's networks would carry the host's own traffic into the lab (from `run`,
    and from a replayed log, which passes the same checks). The lab fixture takes down what
    a run that should have been refused built, and compares the host with its snapshot."""
    result = lab(write_topology(tmp_path, HOST_ROUTE % route), name="npt-hr", check=False)
    assert result.rc == 2, result
    assert message in one_line_error(result)


def test_a_root_namespace_route_out_of_the_lab_is_refused_at_load(netplay, tmp_path):
    """Checked at load, not only before a run as root: a dry run, show and the export of a
    log holding such a route refuse it as well."""
    path = write_topology(tmp_path, HOST_ROUTE % "{to: 0.0.0.0/1, via: 10.251.9.2}")
    for argv in (["run", "--dry-run", path], ["show", path]):
        result = netplay(*argv)
        assert result.rc == 2 and result.out == "", result
        assert "0.0.0.0/1 is not inside any network of lab 'npt-hr'" in one_line_error(result)


def test_a_root_namespace_route_into_the_lab_is_built(lab, tmp_path):
    lab(write_topology(tmp_path, HOST_ROUTE % "{to: 10.251.9.0/25, via: 10.251.9.2}"),
        name="npt-hr")
    routes = subprocess.run(["ip", "-j", "route", "show", "10.251.9.0/25"], capture_output=True,
                            text=True, check=True).stdout
    assert json.loads(routes)[0]["gateway"] == "10.251.9.2"


def test_unknown_builtin(netplay, host_unchanged):
    result = netplay("run", "no-such-lab")
    assert result.rc == 2
    assert "unknown built-in topology 'no-such-lab'" in one_line_error(result)


def test_a_namespace_that_is_not_ours_is_refused_and_survives(netplay, tmp_path):
    subprocess.run(["ip", "netns", "add", "npt-foreign"], check=True)
    try:
        topo = "name: npt-clash\nnodes: {npt-foreign: {}, npt-x: {}}\n" \
               "links: [{endpoints: [npt-foreign:e0, npt-x:e0]}]\n"
        result = netplay("run", write_topology(tmp_path, topo))
        assert result.rc == 2
        assert "namespace 'npt-foreign' already exists" in one_line_error(result)
        assert "npt-x" not in os.listdir("/var/run/netns")
    finally:
        subprocess.run(["ip", "netns", "delete", "npt-foreign"], check=True)


def test_a_root_device_that_is_not_ours_is_refused(netplay, tmp_path, host_unchanged):
    topo = "name: npt-dev\nnodes: {npt-y: {}}\nbridges: {eth0: {}}\n" \
           "links: [{endpoints: [npt-y:e0, eth0]}]\n"
    result = netplay("run", write_topology(tmp_path, topo))
    assert result.rc == 2
    assert "a device named 'eth0' already exists in the root namespace" in one_line_error(result)


def test_root_address_overlapping_a_host_route_is_refused(netplay, tmp_path):
    # a dummy device of the test's own gives the host a route to overlap; no traffic
    subprocess.run(["ip", "link", "add", "npt-dummy", "type", "veth", "peer", "name", "npt-dummy1"],
                   check=True)
    try:
        subprocess.run(["ip", "addr", "add", "10.251.77.1/24", "dev", "npt-dummy"], check=True)
        subprocess.run(["ip", "link", "set", "npt-dummy", "up"], check=True)
        topo = """
name: npt-overlap
nodes:
  host: {kind: host, interfaces: {npt-h0: {addresses: [10.251.77.5/24]}}}
  npt-z: {}
links: [{endpoints: [host:npt-h0, npt-z:e0]}]
"""
        result = netplay("run", write_topology(tmp_path, topo))
        assert result.rc == 2
        assert "overlaps the host's network 10.251.77.0/24" in one_line_error(result)
        assert "npt-z" not in os.listdir("/var/run/netns")
    finally:
        subprocess.run(["ip", "link", "delete", "npt-dummy"], check=True)


def test_missing_program_names_its_package(netplay, host_unchanged):
    result = netplay("run", "levels", env={"PATH": "/nonexistent"})
    assert result.rc == 2
    line = one_line_error(result)
    assert "ip, mkdir not found" in line and "apt-get install coreutils iproute2" in line


def test_a_lab_already_up_is_refused(lab, netplay):
    lab("levels")
    again = netplay("run", "levels")
    assert again.rc == 2
    assert "already up" in one_line_error(again)


def test_one_run_per_lab_at_a_time(netplay, state_dir, host_unchanged):
    lock_dir = f"{state_dir}/labs/levels"
    os.makedirs(lock_dir)
    with open(f"{lock_dir}/lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as another netplay process would
        result = netplay("run", "levels")
    assert result.rc == 2
    assert "being changed by another netplay process" in one_line_error(result)


def test_different_labs_run_side_by_side(lab, netplay, state_dir, tmp_path):
    other = write_topology(tmp_path, "name: npt-side\nnodes: {npt-s1: {}, npt-s2: {}}\n"
                                     "links: [{endpoints: [npt-s1:e0, npt-s2:e0]}]\n")
    env = dict(os.environ, NETPLAY_STATE_DIR=state_dir)
    procs = [subprocess.Popen([sys.executable, "-m", "netplay", "run", t], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for t in ("levels", other)]
    outs = [p.communicate(timeout=120) for p in procs]
    try:
        assert [p.returncode for p in procs] == [0, 0], outs
    finally:
        netplay("down", "levels")
        netplay("down", "npt-side")
    assert not {"levela", "npt-s1"} & set(os.listdir("/var/run/netns"))


def test_a_generated_lab_is_named_by_its_spec_too(netplay, host_unchanged):
    assert netplay("run", "linear:2").rc == 0
    down = netplay("down", "linear:2")  # the lab is linear-2
    assert down.rc == 0 and "lab linear-2 is down" in down.out, down


# --- no silent fallback onto the host (issue 13) ----------------------------------------------

NO_DAEMON = {"DOCKER_HOST": "unix:///nonexistent/np13-docker.sock"}  # the real one keeps running

FALLBACK = """
name: np13-fb
nodes:
  np13-c1: {{kind: docker, {extra}}}
  np13-c2: {{kind: docker, image: netplay-busybox}}
links:
  - endpoints: [np13-c1:eth0, np13-c2:eth0]
    subnet: 10.213.0.0/30
"""

CONTAINER_ONLY = [
    ("exec: [[touch, {canary}]]", "node np13-c1 runs commands inside its container (exec); "
     "no Docker daemon answers: start it (sudo scripts/docker-up.sh, or `systemctl start "
     "docker`), or choose --runtime netns to run them in a plain namespace, on this host's "
     "own files"),
    ("cmd: [touch, {canary}]", "node np13-c1 runs a program of its own in its container (cmd)"),
    ("binds: ['/tmp:/np13']", "node np13-c1 mounts host paths into its container (binds)"),
    ("env: {{NP13: x}}", "node np13-c1 sets environment variables in its container (env)"),
    ("dns: [192.0.2.53]", "node np13-c1 gives its container DNS servers (dns)"),
]


@pytest.mark.parametrize("extra,message", CONTAINER_ONLY, ids=[m.split("(")[1][:5].strip(")")
                                                               for _, m in CONTAINER_ONLY])
def test_no_daemon_never_moves_what_a_container_holds_onto_the_host(netplay, tmp_path,
                                                                   host_unchanged, extra,
                                                                   message):
    """With no Docker daemon, a container node holding exec, cmd, binds, env or dns is not
    built as a plain namespace unasked (its exec would run on this host's own files as
    root): one line, exit 2, nothing run. The real daemon keeps running; DOCKER_HOST points
    where none answers."""
    canary = tmp_path / "ran-on-the-host"
    topo = write_topology(tmp_path, FALLBACK.format(extra=extra.format(canary=canary)))
    try:
        for argv in (["run", topo], ["run", "--dry-run", topo]):
            result = netplay(*argv, env=NO_DAEMON)
            assert result.rc == 2, result
            assert message in one_line_error(result)
            assert result.out == ""
    finally:
        netplay("down", "np13-fb", env=NO_DAEMON)  # only if the old fallback built it
    assert not canary.exists()


def test_no_daemon_refuses_home_naming_what_it_would_lose(netplay, host_unchanged):
    try:
        result = netplay("run", "home", env=NO_DAEMON)
        assert result.rc == 2
        assert one_line_error(result).startswith(
            "netplay: error: node verizon gives its container DNS servers (dns); no Docker "
            "daemon answers")
    finally:
        netplay("down", "home", env=NO_DAEMON)  # only if the old fallback built it


def test_no_daemon_moves_plain_container_nodes_onto_namespaces(netplay, tmp_path):
    """Container nodes holding nothing a namespace would lose (an image only) are still
    built as namespaces, with a notice, and reach each other."""
    from conftest import snapshot
    from model_net import ping_soon

    topo = write_topology(tmp_path, FALLBACK.format(extra="image: netplay-busybox"))
    before = snapshot()
    result = netplay("run", topo, env=NO_DAEMON)
    try:
        assert result.rc == 0, result
        assert result.err == ("netplay: no Docker daemon answers; building np13-fb on plain "
                              "network namespaces (--runtime docker refuses this fallback)\n")
        assert snapshot()["containers"] == before["containers"]
        assert {"np13-c1", "np13-c2"} <= set(os.listdir("/var/run/netns"))
        assert ping_soon("np13-c1", "10.213.0.2")
    finally:
        assert netplay("down", "np13-fb", env=NO_DAEMON).rc == 0
    assert snapshot() == before
