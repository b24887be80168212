"""Planning is pure: a topology in, the exact commands out. No root."""

from netplay.load import builtins
from netplay.model.runtime import with_runtime
from netplay.model.validate import from_dict
from netplay.plan.build import plan
from netplay.plan.steps import Ref


def shell(steps):
    return [s.shell() for s in steps]


def test_levels_plan_is_the_tutorials_commands():
    assert shell(plan(builtins.load("levels"))) == [
        "mkdir -p /var/run/netns",
        "ip netns add levela",
        "ip netns add levelb",
        "ip netns add levelc",
        # levela and levelb each have two interfaces, so could forward: a new namespace
        # may have inherited the host's ip_forward=1 (issue 13)
        "ip netns exec levela sysctl -w net.ipv4.ip_forward=0",
        "ip netns exec levelb sysctl -w net.ipv4.ip_forward=0",
        # each end is created in its namespace: the tutorial's `ip link set ... netns`
        # folded into the `ip link add`, which the kernel does far faster
        "ip link add veth0a type veth peer name veth1a netns levela",
        "ip link set veth0a alias netplay:levels",  # ownership mark, for `netplay clean`
        "ip link add veth0b netns levela type veth peer name veth1b netns levelb",
        "ip link add veth0c netns levelb type veth peer name veth1c netns levelc",
        "ip -n levela link set lo alias netplay:levels",
        "ip -n levela addr add 172.16.1.0/24 brd + dev veth1a",
        "ip -n levela link set veth1a up",
        "ip -n levelb link set lo alias netplay:levels",
        "ip -n levelb addr add 10.1.1.1/24 brd + dev veth1b",
        "ip -n levelb link set veth1b up",
        "ip -n levelc link set lo alias netplay:levels",
        "ip -n levelc addr add 192.168.1.1/24 brd + dev veth1c",
        "ip -n levelc link set veth1c up",
    ]


def test_everything_created_carries_the_lab_mark():
    steps = plan(with_runtime(builtins.load("home"), "netns"))
    marked = {(s.argv[2] if s.argv[1] == "-n" else None, s.argv[-3]) for s in steps
              if s.argv[-2:] == ["alias", "netplay:home"]}
    assert marked == {("verizon", "lo"), ("router", "lo"), ("laptop", "lo"),
                      (None, "home"), (None, "laptop_eth1"), (None, "router_eth1")}


def test_undo_only_where_the_namespace_does_not_take_it():
    steps = plan(builtins.load("levels"))
    undos = [s.undo for s in steps if s.undo]
    assert undos == [
        ["ip", "netns", "delete", "levela"],
        ["ip", "netns", "delete", "levelb"],
        ["ip", "netns", "delete", "levelc"],
        ["ip", "link", "delete", "veth0a"],  # its end in the root namespace
    ]


def test_home_on_netns_uses_a_root_bridge_with_tutorial_port_names():
    lines = shell(plan(with_runtime(builtins.load("home"), "netns")))
    assert "brctl addbr home" in lines
    assert "ip link add eth1 netns laptop type veth peer name laptop_eth1" in lines
    assert "brctl addif home laptop_eth1" in lines
    assert "ip netns exec router sysctl -w net.ipv4.ip_forward=1" in lines
    assert "ip -n laptop route add default via 10.200.1.1" in lines
    # the bridge comes before its ports, and ports before addresses
    assert lines.index("brctl addbr home") < lines.index("brctl addif home laptop_eth1")


def test_root_bridge_gets_an_owned_firewall_rule_with_its_undo():
    steps = plan(with_runtime(builtins.load("home"), "netns"))
    rule = [s for s in steps if s.argv[0] == "iptables"]
    assert len(rule) == 1
    assert rule[0].argv[:2] == ["iptables", "-I"]
    assert rule[0].undo[:2] == ["iptables", "-D"]
    assert rule[0].argv[2:] == rule[0].undo[2:]
    assert "netplay:home" in rule[0].argv


def test_docker_nodes_capture_the_pid_and_refer_to_it():
    steps = plan(with_runtime(builtins.load("home"), None, "netplay-busybox"))
    laptop = [s for s in steps if s.phase == "node laptop"]
    run, inspect, attach = laptop
    assert steps.index(run) < steps.index(next(s for s in steps if s.capture)), \
        "all containers start before any is inspected"
    assert run.argv[:3] == ["docker", "run", "--net=none"]
    assert "--label" in run.argv and "netplay.lab=home" in run.argv
    assert "--dns=8.8.8.8" in run.argv and "netplay-busybox" in run.argv
    assert run.undo == ["docker", "rm", "-f", "laptop"]
    assert inspect.argv == ["docker", "inspect", "-f", "{{.State.Pid}}", "laptop"]
    assert inspect.capture == "pid_laptop"
    assert attach.argv == ["ip", "netns", "attach", "laptop", Ref("pid_laptop")]
    assert attach.shell() == 'ip netns attach laptop "$pid_laptop"'
    assert inspect.shell() == "pid_laptop=$(docker inspect -f '{{.State.Pid}}' laptop)"
    assert attach.undo == ["ip", "netns", "delete", "laptop"]


def test_resolve_substitutes_captured_values_only():
    steps = plan(with_runtime(builtins.load("home"), "docker"))
    attach = next(s for s in steps if s.refs())
    assert attach.resolve({"pid_verizon": "4242"}) == ["ip", "netns", "attach", "verizon", "4242"]


def test_every_argument_is_quoted_in_shell_lines():
    steps = plan(with_runtime(builtins.load("home"), "docker"))
    inspect = next(s for s in steps if s.capture)
    assert "'{{.State.Pid}}'" in inspect.shell()


# Plans every built-in (on both runtimes) and prints topology and plan as JSON, key order
# kept: anything that followed a set's or a hash's order would differ between processes.
PLAN_EVERYTHING = """
import json, sys
from netplay.load import builtins
from netplay.plan.build import plan
from netplay.model.runtime import with_runtime
out = []
for name in sys.argv[1:]:
    topo = builtins.load(name)
    for t in (topo, with_runtime(topo, "netns"), with_runtime(topo, "docker", "np-img")):
        out.append([t.to_dict(), [s.to_dict() for s in plan(t)]])
print(json.dumps(out))
"""


def test_plan_is_the_same_in_processes_with_different_hash_seeds():
    """A plan made in one process equals one made in another: the log's plan is compared
    with a fresh one by replay and export, in other processes, whose string hashes (and so
    the order of any set of names) differ with PYTHONHASHSEED."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = str(Path(__file__).resolve().parent.parent)
    names = [*builtins.files(), "linear:4", "tree:2,3", "leafspine:3,4,2"]
    outputs = {}
    for seed in ("0", "1", "2718281828"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=repo)
        result = subprocess.run([sys.executable, "-c", PLAN_EVERYTHING, *names], cwd=repo,
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs[seed] = result.stdout
    assert len(set(outputs.values())) == 1, "plans differ between hash seeds"
    assert len(outputs["0"]) > 10000  # it did plan something


def _link_local_off(name):
    data = builtins.load(name).to_dict()
    data["ipv6_link_local"] = False
    return from_dict(data)


def test_without_link_local_every_device_gets_addrgenmode_none_right_before_up():
    steps = plan(_link_local_off("home"))
    lines = [s.argv for s in steps]
    ups = [argv for argv in lines if argv[-1] == "up" and argv[-4:-2] == ["link", "set"]
           and argv[-2] != "lo"]  # lo never gets a link-local address
    assert ups, "home brings devices up"
    for argv in ups:
        before = lines[lines.index(argv) - 1]
        assert before == argv[:-1] + ["addrgenmode", "none"], argv
    # a device left down gets it too, so bringing it up later makes no link-local address
    topo = _link_local_off("home")
    iface = next(iter(topo.nodes["laptop"].interfaces.values()))
    iface.up = False
    argvs = [s.argv for s in plan(topo)]
    assert ["ip", "-n", "laptop", "link", "set", iface.name, "addrgenmode", "none"] in argvs
    assert ["ip", "-n", "laptop", "link", "set", iface.name, "up"] not in argvs


def test_link_local_is_kept_by_default_and_off_in_the_generated_bridge_labs():
    for name in ("levels", "home", "leafspine:2,2,1"):
        assert not any("addrgenmode" in s.argv for s in plan(builtins.load(name))), name
    for name in ("linear:3", "tree:2,2"):
        topo = builtins.load(name)
        assert topo.ipv6_link_local is False
        devices = {(s.argv[2] if s.argv[1] == "-n" else None, s.argv[-2])
                   for s in plan(topo) if s.argv[-1] == "up"}
        nogen = {(s.argv[2] if s.argv[1] == "-n" else None, s.argv[-3])
                 for s in plan(topo) if s.argv[-2:] == ["addrgenmode", "none"]}
        assert devices and devices - {(ns, "lo") for ns, _ in devices} <= nogen, name
