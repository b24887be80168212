"""Labs side by side (`run --name NAME --prefix`): netplay.model.prefix, pure, no root.

A prefixed lab's namespaces, containers and root-namespace devices carry its name, so no
host-visible name repeats one of the unprefixed lab or of another prefixed copy; a lab
without --prefix is planned byte for byte as before."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from netplay.core.errors import InputError
from netplay.load import builtins
from netplay.load.resolve import resolve
from netplay.model.prefix import named, node_name, short_name
from netplay.model.validate import from_dict
from netplay.plan.build import plan
from netplay.run import logcheck

REPO = Path(__file__).resolve().parent.parent
BUILTINS = ["levels", "home", "playground", "linear:3", "tree:2,2", "leafspine:2,2,2"]


def visible(topo):
    """The host-visible names topo's plan makes: {namespaces, containers, root devices}."""
    ns, containers, devices = set(), set(), set()
    for step in plan(topo):
        argv = [str(a) for a in step.argv]
        if argv[:3] in (["ip", "netns", "add"], ["ip", "netns", "attach"]):
            ns.add(argv[3])
        elif argv[:2] == ["docker", "run"]:
            containers.update(a.split("=", 1)[1] for a in argv if a.startswith("--name="))
        elif argv[:2] == ["brctl", "addbr"]:
            devices.add(argv[2])
        elif argv[:3] == ["ip", "link", "add"]:
            if argv[4:5] != ["netns"]:
                devices.add(argv[3])
            if "peer" in argv:
                at = argv.index("peer") + 2
                if argv[at + 1:at + 2] != ["netns"]:
                    devices.add(argv[at])
        elif argv[:3] == ["ip", "link", "set"] and "alias" in argv:
            devices.add(argv[3])
    return {"namespaces": ns, "containers": containers, "devices": devices}


def _log(topo):  # as tests/test_hosts_model.py makes one
    return {"format": "netplay-log", "version": 1, "lab": topo.name,
            "topology": topo.to_dict(), "steps": [s.to_dict() for s in plan(topo)]}


@pytest.mark.parametrize("spec", BUILTINS)
def test_a_prefixed_builtin_validates_plans_and_shares_no_host_name(spec):
    base = builtins.load(spec)
    one, two = named(base, "np-sbs1", prefix=True), named(base, "np-sbs2", prefix=True)
    seen = [visible(t) for t in (base, one, two)]
    for kind in ("namespaces", "containers", "devices"):
        assert not seen[0][kind] & seen[1][kind], kind
        assert not seen[1][kind] & seen[2][kind], kind
        assert len(seen[1][kind]) == len(seen[0][kind]), kind
    assert all(n.startswith("np-sbs1-") for n in one.nodes)
    assert all(len(d) <= 15 for s in seen for d in s["devices"])
    assert one.name == one.prefix == "np-sbs1" and base.prefix == ""
    logcheck.check(_log(one), "log.json")  # the log's topology re-plans to its steps


@pytest.mark.parametrize("spec", BUILTINS)
def test_prefix_survives_the_normalized_form(spec):
    topo = named(builtins.load(spec), "lab1", prefix=True)
    data = topo.to_dict()
    assert data["prefix"] == "lab1" and list(data)[:2] == ["name", "prefix"]
    again = from_dict(data)
    assert again.prefix == "lab1" and again.to_dict() == data
    assert "prefix" not in builtins.load(spec).to_dict()


def test_every_reference_follows_the_names():
    topo = named(builtins.load("playground"), "pg2", prefix=True)
    data = topo.to_dict()
    for link in data["links"]:
        for end in link["endpoints"]:
            owner = end.partition(":")[0]
            assert owner in data["nodes"] or owner in data["bridges"], end
    linear = named(builtins.load("linear:3"), "l3", prefix=True)
    assert {b.namespace for b in linear.bridges.values()} == {"l3-switches"}
    assert [i for b in linear.bridges.values() for i in b.interfaces][:1] == ["s1-eth1"]
    levels = named(builtins.load("levels"), "lv", prefix=True)
    assert list(levels.nodes["lv-host"].interfaces) == ["lv-veth0a"]  # the root's
    assert list(levels.nodes["lv-levela"].interfaces) == ["veth1a", "veth0b"]  # its own


def test_a_long_root_name_is_shortened_deterministically_and_never_twice():
    topo = named(builtins.load("home"), "lab1", prefix=True)
    bridge = topo.bridges["lab1-home"]  # 9 characters: fits as it is
    ports = list(bridge.interfaces)
    assert ports == [short_name("lab1", "laptop_eth1"), short_name("lab1", "router_eth1")]
    assert all(len(p) == 15 and p.startswith("lab") for p in ports)
    assert ports[0].endswith("-laptop") and ports[0] != ports[1]
    hashed = short_name("lab1", "x")
    assert short_name("lab1", "x", 1) != hashed and len(short_name("a" * 32, "b" * 15)) <= 15


def test_a_shortened_name_taken_in_the_lab_hashes_again():
    from netplay.model.prefix import device_names

    first = short_name("longlab", "abcdefghijkl")
    got = device_names("longlab", ["abcdefghijkl"], {first})
    assert got == {"abcdefghijkl": short_name("longlab", "abcdefghijkl", 1)}


def test_shortened_names_are_the_same_in_every_process():
    code = ("from netplay.load import builtins; from netplay.model.prefix import named; "
            "t = named(builtins.load('playground'), 'a-long-lab-name', prefix=True); "
            "print(sorted(t.bridges), sorted(i for b in t.bridges.values() "
            "for i in b.interfaces))")
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, cwd=REPO, env=dict(os.environ, PYTHONHASHSEED=seed)
                           ).stdout for seed in ("1", "2")]
    assert outs[0] == outs[1] and "a-l" in outs[0]


def test_node_name_maps_short_names_of_a_prefixed_lab():
    base = builtins.load("linear:3")
    topo = named(base, "lab1", prefix=True)
    assert node_name(topo, "h1") == "lab1-h1"
    assert node_name(topo, "lab1-h1") == "lab1-h1"
    assert node_name(topo, "switches") == "lab1-switches"
    assert node_name(topo, "10.0.0.3") == "10.0.0.3"  # an address passes through
    assert node_name(base, "h1") == "h1"
    assert node_name(named(base, "other"), "h1") == "h1"  # renamed only: no prefix


def test_named_renames_checks_the_name_and_prefixes_once():
    base = builtins.load("linear:3")
    renamed = named(base, "mylab")
    assert renamed.name == "mylab" and list(renamed.nodes) == list(base.nodes)
    topo = named(base, "lab1", prefix=True)
    assert named(topo, prefix=True).to_dict() == topo.to_dict()  # the same prefix: as it is
    with pytest.raises(InputError, match="prefixed with 'lab1' already"):
        named(topo, "lab2", prefix=True)
    for bad in ("bad name", "x" * 33, "../x", ""):
        with pytest.raises(InputError, match="--name"):
            named(base, bad)


def test_a_prefix_record_must_match_the_node_names():
    data = builtins.load("linear:2").to_dict()
    data["prefix"] = "p"
    with pytest.raises(InputError, match=r"nodes\.switches: `prefix: p` says every node is named"):
        from_dict(data)


def netplay(*args, cwd=REPO, env=None):
    return subprocess.run([sys.executable, "-m", "netplay", *args], capture_output=True,
                          text=True, cwd=cwd, env=env or dict(os.environ))


def test_dry_run_shows_the_prefixed_and_shortened_names():
    result = netplay("run", "--dry-run", "home", "--runtime", "docker", "--name", "lab1",
                     "--prefix")
    assert result.returncode == 0, result.stderr
    assert "docker run --net=none --name=lab1-laptop" in result.stdout
    assert "brctl addbr lab1-home" in result.stdout
    assert f"brctl addif lab1-home {short_name('lab1', 'laptop_eth1')}" in result.stdout
    assert "iptables -I FORWARD -i lab1-home -o lab1-home -m comment --comment netplay:lab1" \
        in result.stdout
    shown = netplay("show", "linear:2", "--name", "lab1", "--prefix")
    assert "prefix: lab1" in shown.stdout and "lab1-h1:" in shown.stdout


@pytest.mark.parametrize("args, message", [
    (["--name", "bad name"], "--name: lab name 'bad name' may use only"),
    (["--name", "x" * 33], "the limit is 32"),
    (["--name", "../up"], "may use only"),
    (["--name", "a" * 32, "--prefix"], None),  # fits: 32 + 1 + 8 characters
])
def test_a_bad_name_is_one_line_and_exit_2(args, message):
    result = netplay("run", "--dry-run", "linear:3", *args)
    if message is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


def _clab(tmp_path, prefix_line):
    path = tmp_path / "np9.clab.yml"
    path.write_text(f"name: np9-px\n{prefix_line}\ntopology:\n  nodes:\n"
                    "    na: {kind: linux, image: alpine}\n    nb: {kind: linux, image: alpine}\n"
                    "    br: {kind: bridge}\n"
                    "  links:\n    - endpoints: [na:eth1, nb:eth1]\n"
                    "    - endpoints: [na:eth2, br:na-eth2]\n")
    return str(path)


@pytest.mark.parametrize("line, prefixed, warned", [
    ("", False, False), ('prefix: ""', False, False), ("prefix: clab", True, True),
    ("prefix: __lab-name", True, False),
])
def test_containerlab_prefix_key(tmp_path, capsys, line, prefixed, warned):
    topo = resolve(_clab(tmp_path, line))
    assert (list(topo.nodes) == ["np9-px-na", "np9-px-nb"]) is prefixed
    assert topo.prefix == ("np9-px" if prefixed else "")
    err = capsys.readouterr().err
    assert ("not clab-LAB-NODE" in err) is warned and err.count("\n") == int(warned)


def test_containerlab_prefix_takes_the_name_given(tmp_path):
    topo = resolve(_clab(tmp_path, "prefix: __lab-name"), name="np9-two")
    assert list(topo.nodes) == ["np9-two-na", "np9-two-nb"] and topo.prefix == "np9-two"
    assert list(topo.bridges) == ["np9-two-br"]
    with pytest.raises(InputError, match="prefix: expected a string"):
        resolve(_clab(tmp_path, "prefix: [x]"))


@pytest.fixture(scope="module")
def head_tree():
    """This repository's HEAD checked out beside it (git worktree), removed afterwards."""
    where = tempfile.mkdtemp(prefix="np-prefix-head-")
    tree = os.path.join(where, "tree")
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", tree, "HEAD"],
                   check=True, capture_output=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", tree],
                       capture_output=True)
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], capture_output=True)
        shutil.rmtree(where, ignore_errors=True)


@pytest.mark.parametrize("spec", BUILTINS)
def test_a_lab_without_prefix_is_what_it_was(head_tree, spec):
    runtime = ["--runtime", "docker"] if spec == "home" else []  # no daemon needed
    for command in (["run", "--dry-run", spec, *runtime], ["show", spec]):
        now = netplay(*command)
        before = netplay(*command, cwd=head_tree, env=dict(os.environ, PYTHONPATH=head_tree))
        assert now.returncode == before.returncode == 0, now.stderr + before.stderr
        if command[0] == "show":  # issue 18: show's first line names the schema, for editors
            assert now.stdout.startswith("# yaml-language-server: $schema=file:///")
            # the URL of each tree's own copy (or none, before issue 18)
            now.stdout, before.stdout = (re.sub(r"\A# yaml-language-server: .*\n", "", out)
                                         for out in (now.stdout, before.stdout))
        assert now.stdout == before.stdout
