"""Planning is pure: a topology in, the exact commands out. No root."""

from netplay import builtins
from netplay.plan import plan
from netplay.steps import Ref
from netplay.topology import from_dict, with_runtime


def shell(steps):
    return [s.shell() for s in steps]


def test_levels_plan_is_the_tutorials_commands():
    assert shell(plan(builtins.load("levels"))) == [
        "mkdir -p /var/run/netns",
        "ip netns add levela",
        "ip netns add levelb",
        "ip netns add levelc",
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


def test_plan_is_deterministic():
    topo = builtins.load("home")
    assert [s.to_dict() for s in plan(topo)] == [s.to_dict() for s in plan(topo)]


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
