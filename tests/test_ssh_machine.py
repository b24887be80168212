"""SshMachine against real simulated hosts (tests/simhost.py): commands with stdin, quoting,
files, pings from namespaces there, its ControlMaster, refused and unreachable destinations;
and the simulated hosts themselves: private to each other and to the real host, and gone
without a trace when stopped.
"""

import os
import subprocess
import time

import pytest

from conftest import snapshot
from netplay.core.errors import HostError, InputError
from netplay.machine import ssh as ssh_module
from netplay.machine.base import Reply
from netplay.machine.ssh import SshMachine

pytestmark = pytest.mark.root

AWKWARD = ["a b", "$HOME", "x;y", "'single'", '"double"', "back\\slash", "*", "`id`",
           "$(id)", "", "new\nline", "tab\there", "é ü", "--", "-n", "a'b\"c$d;e|f&g>h"]


@pytest.fixture
def sims(sim_hosts):
    return sim_hosts(2)


@pytest.fixture
def machine(sims, tmp_path):
    control = tmp_path / "ssh"
    control.mkdir(mode=0o700)
    m = SshMachine("one", "sim1", ssh_config=sims.ssh_config, control_dir=str(control))
    yield m
    m.close()


def on(sims, host, *argv):
    """argv run on a simulated host over plain ssh, not SshMachine: its stdout."""
    proc = subprocess.run(["ssh", "-F", sims.ssh_config, "-o", "BatchMode=yes", host, "--",
                           *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (argv, proc.stderr)
    return proc.stdout


def real_netns():
    return sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []


def test_run_with_stdin_reaches_the_program(machine, sims):
    assert machine.run(["ip", "-batch", "-"], stdin="netns add npt-ssh-a\n") == (0, "", "")
    try:
        assert on(sims, "sim1", "ip", "netns", "list").split() == ["npt-ssh-a"]
        assert "npt-ssh-a" not in real_netns()
        assert on(sims, "sim2", "ip", "netns", "list") == ""
    finally:
        assert machine.run(["ip", "-batch", "-"], stdin="netns del npt-ssh-a\n")[0] == 0
    assert on(sims, "sim1", "ip", "netns", "list") == ""


def test_arguments_arrive_byte_for_byte(machine):
    rc, out, err = machine.run(["printf", "%s\\0", *AWKWARD])
    assert (rc, err) == (0, "")
    assert out.split("\0")[:-1] == AWKWARD
    rc, out, _ = machine.run(["cat"], stdin="".join(AWKWARD))
    assert (rc, out) == (0, "".join(AWKWARD))


def test_a_missing_program_is_127_not_an_exception(machine):
    rc, out, err = machine.run(["netplay-no-such-program", "x"])
    assert (rc, out) == (127, "") and "netplay-no-such-program" in err
    assert machine.run(["false"])[0] == 1
    assert not machine.which("netplay-no-such-program") and machine.which("ip")
    with pytest.raises(TypeError):
        machine.run("ip link")  # type: ignore[arg-type]


def test_run_many_runs_commands_in_order_in_one_round_trip_and_stops_at_a_failure(
        machine, sims):
    before = machine.commands
    outcomes = machine.run_many([
        (["ip", "-batch", "-"], "netns add npt-many-a\n"),
        (["printf", "%s\\0", *AWKWARD], None),
        (["netplay-no-such-program"], None),
        (["ip", "netns", "add", "npt-many-b"], None)])
    try:
        assert machine.commands == before + 1  # one ssh command for all four
        assert [rc for rc, _, _ in outcomes] == [0, 0, 127]  # the fourth never ran
        assert outcomes[1][1].split("\0")[:-1] == AWKWARD
        assert "netplay-no-such-program" in outcomes[2][2]
        assert on(sims, "sim1", "ip", "netns", "list").split() == ["npt-many-a"]
    finally:
        machine.run(["ip", "netns", "delete", "npt-many-a"])
    assert on(sims, "sim1", "ip", "netns", "list") == ""


def test_files_and_user(machine):
    assert machine.read_text("/proc/sys/kernel/hostname") == "sim1\n"
    assert machine.read_text("/proc/sys/net/ipv4/ip_forward") == "1\n"
    assert machine.read_text("/netplay/no/such/file") is None
    assert machine.list_dir("/root/.ssh") == ["authorized_keys"]
    assert machine.list_dir("/root/.ssh/") == ["authorized_keys"]
    assert machine.list_dir("/root/.ssh/authorized_keys") is None  # a file
    assert machine.list_dir("/netplay/no/such/dir") is None
    assert machine.list_dir("/run/netns") is None  # the sim's own /run: nothing yet
    assert machine.exists("/root/.ssh/authorized_keys") and machine.exists("/root")
    assert not machine.exists("/netplay/no/such/file")
    assert machine.euid() == 0
    assert machine.docker() is None


@pytest.fixture
def pair(machine):
    """Namespaces npt-a (10.9.0.1) and npt-b (10.9.0.2) on sim1, a veth between them."""
    assert machine.run(["ip", "-batch", "-"], stdin=(
        "netns add npt-a\nnetns add npt-b\n"
        "link add v1 netns npt-a type veth peer name v2 netns npt-b\n"))[0] == 0
    for ns, dev, address in [("npt-a", "v1", "10.9.0.1/24"), ("npt-b", "v2", "10.9.0.2/24")]:
        assert machine.run(["ip", "-n", ns, "addr", "add", address, "dev", dev])[0] == 0
        assert machine.run(["ip", "-n", ns, "link", "set", dev, "up"])[0] == 0
    yield machine
    machine.run(["ip", "-batch", "-"], stdin="netns del npt-a\nnetns del npt-b\n")


TARGETS = [("npt-a", "10.9.0.2"), ("npt-a", "10.9.0.3"), ("npt-missing", "10.9.0.2"),
           ("npt-b", "10.9.0.1")]


def test_ping_from_namespaces_on_the_host(pair):
    start = time.monotonic()
    replies = pair.ping(TARGETS, 1)
    assert time.monotonic() - start < 5
    assert [r.replied for r in replies] == [True, False, False, True]
    assert replies[1].reason.startswith("no reply within 1 s")
    assert "npt-missing" in replies[2].reason
    assert pair.ping([], 1) == []


def test_ping_without_python_on_the_host_runs_ping(pair, monkeypatch):
    monkeypatch.setattr(ssh_module, "probe_script", lambda targets, deadline: "exit(3)\n")
    replies = pair.ping(TARGETS, 1)
    assert [r.replied for r in replies] == [True, False, False, True]
    assert replies[0] == Reply(True, "replied")
    assert "npt-missing" in replies[2].reason


def test_vxlan_between_simulated_hosts(sims, machine, tmp_path):
    control = str(tmp_path / "ssh")
    other = SshMachine("two", "sim2", ssh_config=sims.ssh_config, control_dir=control)
    try:
        for m, mine, theirs, inner in [(machine, sims[0], sims[1], "10.77.0.1/24"),
                                       (other, sims[1], sims[0], "10.77.0.2/24")]:
            assert m.run(["ip", "-batch", "-"], stdin=(
                f"link add npt-vx type vxlan id 42 local {mine.address} remote "
                f"{theirs.address} dstport 4789 dev eth0\n"
                f"addr add {inner} dev npt-vx\nlink set npt-vx up\n")) == (0, "", "")
        assert machine.ping([(None, "10.77.0.2")], 2) == [Reply(True, "replied")]
    finally:
        for m in (machine, other):
            m.run(["ip", "link", "del", "npt-vx"])
        other.close()


def test_stream_and_stop(machine):
    stream = machine.stream(["sh", "-c", "echo ready; exec sleep 30"])
    assert stream.stdout.read(6) == b"ready\n"
    start = time.monotonic()
    stream.stop()
    assert stream.wait() == 130 and time.monotonic() - start < 5
    assert machine.run(["pgrep", "-x", "sleep"])[0] == 1  # stopped there, not just here


def _ssh_processes(path):
    """Processes of this host whose command line names path."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if path.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def _gone(path, timeout=3.0):
    """Wait for every process naming path to end (a master exits just after `-O exit`)."""
    end = time.monotonic() + timeout
    while _ssh_processes(path):
        assert time.monotonic() < end, _ssh_processes(path)
        time.sleep(0.02)


def _logins(log):
    with open(log) as f:
        return f.read().count("Accepted publickey")


def test_one_control_master_per_host_ended_by_close(sims, tmp_path):
    control = tmp_path / "ssh"
    control.mkdir(mode=0o700)
    m = SshMachine("one", "sim1", ssh_config=sims.ssh_config, control_dir=str(control))
    try:
        assert os.path.dirname(m.control_path) == str(control)
        assert os.path.exists(m.control_path) and m.connected()
        check = subprocess.run(["ssh", "-F", sims.ssh_config, "-o",
                                f"ControlPath={m.control_path}", "-O", "check", "sim1"],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        log = os.path.join(sims.workdir, "sim1.log")
        logins = _logins(log)
        for _ in range(5):
            assert m.euid() == 0
        assert _logins(log) == logins  # through the master: no new connection
        assert os.listdir(control) == [os.path.basename(m.control_path)]
    finally:
        m.close()
    assert os.listdir(control) == []
    _gone(str(control))
    with pytest.raises(HostError):
        m.run(["true"])


@pytest.mark.parametrize("destination", ["-oProxyCommand=touch {flag}", "-V", "",
                                         "sim1 -oProxyCommand=touch {flag}"])
def test_a_destination_that_would_be_an_option_is_refused(sims, tmp_path, destination):
    flag = tmp_path / "flag"
    control = tmp_path / "ssh"
    control.mkdir()
    with pytest.raises(InputError):
        SshMachine("bad", destination.format(flag=flag), ssh_config=sims.ssh_config,
                   control_dir=str(control))
    assert not flag.exists() and os.listdir(control) == []


def test_an_unreachable_host_is_a_host_error_quickly(sims, tmp_path):
    control = tmp_path / "ssh"
    control.mkdir(mode=0o700)
    sims.cut(1)
    start = time.monotonic()
    try:
        with pytest.raises(HostError) as err:
            SshMachine("two", "sim2", ssh_config=sims.ssh_config, control_dir=str(control))
    finally:
        sims.mend(1)
    assert time.monotonic() - start < 8  # the configuration's ConnectTimeout is 3 s
    message = str(err.value)
    assert message.startswith("host two:") and "sim2" in message and "\n" not in message
    assert os.listdir(control) == []
    _gone(str(control))
    m = SshMachine("two", "sim2", ssh_config=sims.ssh_config, control_dir=str(control))
    try:
        assert m.euid() == 0
    finally:
        m.close()


def test_sudo_prefixes_sudo_n(sims, tmp_path):
    control = tmp_path / "ssh"
    control.mkdir(mode=0o700)
    m = SshMachine("one", "sim1", ssh_config=sims.ssh_config, control_dir=str(control),
                   sudo=True)
    try:
        assert m.euid() == 0 and m.run(["printf", "%s", "a b"]) == (0, "a b", "")
        assert m.run(["netplay-no-such-program"])[0] == 127
    finally:
        m.close()


def test_simulated_hosts_are_private(sim_hosts):
    assert subprocess.run(["ip", "netns", "add", "npt-real"]).returncode == 0
    try:
        sims = sim_hosts(2)  # started while the real host has a namespace
        for sim in sims:
            assert on(sims, sim.name, "ip", "netns", "list") == ""
            assert "nsfs" not in on(sims, sim.name, "cat", "/proc/self/mountinfo")
            assert on(sims, sim.name, "hostname").strip() == sim.name
            assert on(sims, sim.name, "ls", "-A", "/root") == ".ssh\n"
        on(sims, "sim1", "ip", "netns", "add", "npt-sim")
        on(sims, "sim1", "ip", "link", "add", "npt-br", "type", "bridge")
        assert on(sims, "sim1", "ip", "netns", "list").split() == ["npt-sim"]
        assert on(sims, "sim2", "ip", "netns", "list") == ""
        assert "npt-real" in real_netns() and "npt-sim" not in real_netns()
        assert "npt-br" in on(sims, "sim1", "brctl", "show")
        for sim in ("sim1", "sim2"):
            bridges = [line.split()[0] for line in
                       on(sims, sim, "brctl", "show").splitlines()[1:] if line[:1].strip()]
            assert bridges == (["npt-br"] if sim == "sim1" else []), (sim, bridges)
        real = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
        assert "npt-br" not in real and "eth0@" not in real
    finally:
        subprocess.run(["ip", "netns", "del", "npt-real"])


def test_nothing_is_left_after_the_simulated_hosts(_sim_keys):
    import simhost

    before = snapshot()
    sims = simhost.start(3, _sim_keys)
    try:
        pids = [s.pid for s in sims] + [s.proc.pid for s in sims] + [sims.underlay.pid]
        workdir = sims.workdir
        assert snapshot() == before  # nothing of theirs on the real host while they run
        on(sims, "sim3", "ip", "netns", "add", "npt-left")  # they die with their host
    finally:
        sims.stop()
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), pid
    assert not os.path.exists(workdir)
    assert snapshot() == before
    assert not _ssh_processes(workdir)  # no sshd, no proxy of theirs
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    assert "netplay-sim" not in mounts and "npsim" not in mounts
