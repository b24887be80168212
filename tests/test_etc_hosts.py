"""Per-node hosts files (`etc_hosts: true`, `run --etc-hosts`): /etc/netns/NODE/hosts names
every node of the lab, so `ip netns exec h1 ping h2` works by name; `down`, a replayed and
an exported lab remove them; a directory that is not the lab's is refused."""

import copy
import json
import os
import subprocess

import pytest
import yaml

from conftest import write_topology
from netplay.model.validate import from_dict
from netplay.plan.build import hosts_file, plan
from netplay.run import logcheck

LAB = {"name": "npeh", "etc_hosts": True, "nodes": {
    "npeh1": {"interfaces": {"eth0": {"addresses": ["10.71.0.1/24", "fd71::1/64"]}}},
    "npeh2": {"interfaces": {"eth0": {"addresses": ["10.71.0.2/24"]},
                             "eth1": {"addresses": ["10.71.1.2/24"]}}},
    "npeh3": {"interfaces": {"eth1": {"addresses": ["10.71.1.3/24"]}}}},
    "links": [{"endpoints": ["npeh1:eth0", "npeh2:eth0"]},
              {"endpoints": ["npeh2:eth1", "npeh3:eth1"]}]}
FOLDERS = [f"/etc/netns/npeh{i}" for i in (1, 2, 3)]


def test_the_hosts_file_names_each_node_by_its_first_address_of_each_family():
    text = hosts_file(from_dict(copy.deepcopy(LAB), source="t"))
    assert text.splitlines() == [
        "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
        "# lab npeh, written by netplay",
        "10.71.0.1\tnpeh1 npeh1-eth0", "fd71::1\tnpeh1 npeh1-eth0",
        "10.71.0.2\tnpeh2 npeh2-eth0", "10.71.1.2\tnpeh2-eth1",
        "10.71.1.3\tnpeh3 npeh3-eth1"]


def test_without_etc_hosts_the_plan_is_as_before():
    raw = copy.deepcopy(LAB)
    del raw["etc_hosts"]
    assert not any(s.argv[0] in ("tee", "mkdir") and s.undo for s in plan(from_dict(raw, "t")))


def _log(raw):
    topo = from_dict(copy.deepcopy(raw), source="t")
    return {"format": "netplay-log", "version": 1, "lab": topo.name, "status": "up",
            "topology": topo.to_dict(), "steps": [s.to_dict() for s in plan(topo)]}


def test_a_log_may_write_only_the_lab_s_hosts_files_and_only_as_planned():
    logcheck.check(_log(LAB), "log.json")
    for change, words in [
            (lambda s: s["argv"].__setitem__(1, "/etc/shadow"), "tee only as"),
            (lambda s: s.__setitem__("stdin", s["stdin"] + "6.6.6.6 npeh2\n"),
             "is not what netplay plans"),
            (lambda s: s.__setitem__("undo", ["rm", "-f", "/etc/hosts"]),
             "'/etc/hosts' is not a file in /var/run/netns")]:
        data = _log(LAB)
        tee = next(s for s in data["steps"] if s["argv"][0] == "tee")
        change(tee)
        with pytest.raises(Exception, match=words):
            logcheck.check(data, "log.json")


def _exec(ns, *argv):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          timeout=30)


@pytest.mark.root
def test_nodes_reach_each_other_by_name_and_down_removes_the_files(lab, netplay, tmp_path):
    lab(write_topology(tmp_path, yaml.safe_dump(LAB), name="npeh.yaml"))
    assert _exec("npeh1", "ping", "-4", "-c", "1", "-W", "2", "npeh2").returncode == 0
    assert _exec("npeh2", "ping", "-c", "1", "-W", "2", "npeh3-eth1").returncode == 0
    got = _exec("npeh3", "getent", "hosts", "npeh1").stdout.split()
    assert got[:2] == ["fd71::1", "npeh1"], got  # IPv6 first, as the resolver orders it
    assert open("/etc/netns/npeh1/hosts").read() == \
        hosts_file(from_dict(copy.deepcopy(LAB), source="t"))
    assert netplay("down", "npeh").rc == 0
    assert not any(os.path.exists(f) for f in FOLDERS)


@pytest.mark.root
def test_a_folder_that_is_not_the_lab_s_is_refused(netplay, tmp_path, host_unchanged):
    os.makedirs("/etc/netns/npeh2")
    try:
        result = netplay("run", write_topology(tmp_path, yaml.safe_dump(LAB), name="npeh.yaml"))
        assert result.rc == 2 and "/etc/netns/npeh2 already exists" in result.err, result
        assert not os.path.exists("/etc/netns/npeh1")
    finally:
        os.rmdir("/etc/netns/npeh2")


@pytest.mark.root
def test_apply_and_export_keep_the_files_in_step(lab, netplay, tmp_path, state_dir):
    """A node added by apply is named in every file; the exported scripts write and remove
    them as netplay does."""
    lab(write_topology(tmp_path, yaml.safe_dump(LAB), name="npeh.yaml"))
    bigger = copy.deepcopy(LAB)
    bigger["nodes"]["npeh4"] = {"interfaces": {"eth0": {"addresses": ["10.71.1.4/24"]}}}
    bigger["nodes"]["npeh3"]["interfaces"]["eth0"] = {"addresses": ["10.71.2.3/24"]}
    bigger["nodes"]["npeh4"]["interfaces"]["eth0"]["addresses"] = ["10.71.2.4/24"]
    bigger["links"].append({"endpoints": ["npeh3:eth0", "npeh4:eth0"]})
    result = netplay("apply", write_topology(tmp_path, yaml.safe_dump(bigger), "b.yaml"))
    assert result.rc == 0, result
    assert _exec("npeh1", "getent", "hosts", "npeh4").stdout.split()[:2] == \
        ["10.71.2.4", "npeh4"]
    assert _exec("npeh4", "ping", "-c", "1", "-W", "2", "npeh3").returncode == 0
    log = os.path.join(state_dir, "labs", "npeh", "log.json")
    script, teardown = tmp_path / "b.sh", tmp_path / "d.sh"
    assert netplay("export", log, "-o", str(script)).rc == 0
    assert netplay("export", "--teardown", log, "-o", str(teardown)).rc == 0
    assert netplay("down", "npeh").rc == 0
    assert not any(os.path.exists(f) for f in FOLDERS + ["/etc/netns/npeh4"])
    built = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    try:
        assert built.returncode == 0, built.stderr
        assert _exec("npeh4", "ping", "-4", "-c", "1", "-W", "2", "npeh3").returncode == 0
    finally:
        gone = subprocess.run(["bash", str(teardown)], capture_output=True, text=True)
    assert gone.returncode == 0, gone.stderr
    assert not any(os.path.exists(f) for f in FOLDERS + ["/etc/netns/npeh4"])
    data = json.load(open(log))
    assert data["generations"][0]["status"] == "applied"
