"""Simulated hosts for the tests of labs across hosts: each is `unshare --net --mount --uts
--pid --fork` running its own sshd, with an eth0 on an underlay bridge that lives in a
network namespace of its own. ssh reaches them through tests/simproxy.py, which connects
from inside the underlay and hands the socket back: nothing is created in the real host's
root namespace, and no named namespace or mount of the real host's is added.

Private to each simulated host (else it leaks, see DESIGN.md): all of /run (tmpfs mounted
with `mount -n`, so that /run/netns, /run/sshd, /run/xtables.lock and libmount's utab are
its own), /sys (remounted for its network namespace), /root (its own authorized_keys, no
dotfiles), /var/log (sshd's wtmp and lastlog), /etc/hosts (its own name); the inherited copies of other namespaces'
mounts (under /run, and any nsfs) are unmounted, so that they do not keep those alive.

Run as `simhost.py init CONF` it is the init (PID 1) of one simulated host.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "198.51.100."  # TEST-NET-2: the underlay (the real host has 192.0.2.0/24)
UNDERLAY = PREFIX + "254"
CONNECT_TIMEOUT = 3
SSHD = "/usr/sbin/sshd"
PR_SET_PDEATHSIG = 1

SSHD_CONFIG = """\
ListenAddress 0.0.0.0
HostKey {host_key}
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile /root/.ssh/authorized_keys
StrictModes yes
MaxSessions 64
MaxStartups 100:30:200
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
PermitUserEnvironment no
LogLevel INFO
"""


def _die_with_parent():
    """In a child before exec: SIGKILL when the test process that started it dies."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def make_keys(where):
    """A client key and a host key for a test session, in directory where."""
    for name in ("id", "host_key"):
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"netplay-sim-{name}",
              "-f", os.path.join(where, name)])
    return where


class Sim:
    """One simulated host."""

    def __init__(self, name, address, proc):
        self.name, self.address, self.proc = name, address, proc
        self.pid = None  # its init (later sshd), PID 1 of its own PID namespace

    def __repr__(self):
        return f"<Sim {self.name} {self.address} pid={self.pid}>"


class Sims:
    """Simulated hosts: indexable and iterable as Sim, with their ssh configuration."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.hosts = []
        self.underlay = None  # the process holding the underlay's network namespace
        self.ssh_config = os.path.join(workdir, "ssh_config")

    def __iter__(self):
        return iter(self.hosts)

    def __getitem__(self, i):
        return self.hosts[i]

    def __len__(self):
        return len(self.hosts)

    @property
    def netns(self):
        return f"/proc/{self.underlay.pid}/ns/net"

    def in_underlay(self, argv, **kwargs):
        return _run(["nsenter", f"--net={self.netns}", "--", *argv], **kwargs)

    def cut(self, i):
        """Sim i's underlay link down: ssh to it fails within ConnectTimeout."""
        self.in_underlay(["ip", "link", "set", f"s{i + 1}", "down"])

    def mend(self, i):
        """Sim i's underlay link up again; neighbour entries that failed meanwhile are
        forgotten (else "No route to host" until the kernel retries)."""
        self.in_underlay(["ip", "link", "set", f"s{i + 1}", "up"])
        self.in_underlay(["ip", "neigh", "flush", "dev", "ul"])
        for sim in self.hosts:
            _run(["nsenter", f"--net=/proc/{sim.pid}/ns/net", "--", "ip", "neigh", "flush",
                  "dev", "eth0"])

    def stop(self):
        """Kill what was started here (by PID), and remove the work directory."""
        # sshd is PID 1 of its PID namespace: when it ends, every process there ends too
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for sim in self.hosts:
                if sim.pid is not None and sim.proc.poll() is None:
                    try:
                        os.kill(sim.pid, sig)
                    except ProcessLookupError:
                        pass
            for sim in self.hosts:
                try:
                    sim.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
        for proc in [s.proc for s in self.hosts] + [self.underlay]:
            if proc is not None and proc.poll() is None:
                proc.kill()  # unshare, and PID 1 there with it (--kill-child)
            if proc is not None:
                proc.wait(timeout=10)
        self.hosts, self.underlay = [], None
        subprocess.run(["rm", "-rf", "--", self.workdir], check=False)


def start(n, keys):
    """n simulated hosts sim1..simN, with the client and host keys in directory keys."""
    sims = Sims(tempfile.mkdtemp(prefix="npsim-"))
    try:
        _start(sims, n, keys)
    except BaseException:
        sims.stop()
        raise
    return sims


def _start(sims, n, keys):
    work = sims.workdir
    with open(os.path.join(keys, "id.pub")) as f:
        pubkey = f.read()
    with open(os.path.join(keys, "host_key.pub")) as f:
        hostkey = " ".join(f.read().split()[:2])
    with open(os.path.join(work, "sshd_config"), "w") as f:
        f.write(SSHD_CONFIG.format(host_key=os.path.join(keys, "host_key")))
    sims.underlay = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"],
                                     preexec_fn=_die_with_parent)
    for i in range(n):
        name, address = f"sim{i + 1}", f"{PREFIX}{i + 1}"
        conf = json.dumps({"name": name, "address": address, "pubkey": pubkey,
                           "sshd_config": os.path.join(work, "sshd_config"),
                           "log": os.path.join(work, f"{name}.log"),
                           "hosts": os.path.join(work, f"{name}.hosts")})
        proc = subprocess.Popen(
            ["unshare", "--net", "--mount", "--uts", "--pid", "--fork", "--kill-child",
             "--mount-proc", "--", sys.executable, "-I", os.path.abspath(__file__), "init",
             conf], stdin=subprocess.PIPE, preexec_fn=_die_with_parent)
        sims.hosts.append(Sim(name, address, proc))
    own = os.readlink("/proc/self/ns/net")
    _wait(lambda: _netns(sims.underlay.pid) not in (None, own), "the underlay")
    for sim in sims.hosts:
        _wait(lambda: _child(sim.proc.pid) is not None, sim.name)
        sim.pid = _child(sim.proc.pid)
        _wait(lambda: _netns(sim.pid) not in (None, own), sim.name)
    batch = ["link set lo up", "link add ul type bridge", f"addr add {UNDERLAY}/24 dev ul",
             "link set ul up"]
    for i, sim in enumerate(sims.hosts):
        batch += [f"link add s{i + 1} type veth peer name eth0 netns {sim.pid}",
                  f"link set s{i + 1} master ul", f"link set s{i + 1} up"]
    sims.in_underlay(["ip", "-batch", "-"], input="\n".join(batch) + "\n")
    for sim in sims.hosts:
        sim.proc.stdin.write(b"go\n")
        sim.proc.stdin.close()
    for sim in sims.hosts:
        _wait(lambda: _listening(sim), f"{sim.name}'s sshd", proc=sim.proc)
    _write_ssh_config(sims, keys, hostkey)


def _write_ssh_config(sims, keys, hostkey):
    with open(os.path.join(sims.workdir, "known_hosts"), "w") as f:
        for sim in sims:
            f.write(f"{sim.name},{sim.address} {hostkey}\n")
    lines = []
    for sim in sims:
        lines += [f"Host {sim.name}", f"    HostName {sim.address}", ""]
    proxy = [sys.executable, "-I", os.path.join(HERE, "simproxy.py"), sims.netns, "%h", "%p",
             str(CONNECT_TIMEOUT)]
    lines += [f"Host {' '.join(s.name for s in sims)} {' '.join(s.address for s in sims)}",
              "    User root",
              f"    IdentityFile {os.path.join(keys, 'id')}",
              "    IdentitiesOnly yes",
              f"    UserKnownHostsFile {os.path.join(sims.workdir, 'known_hosts')}",
              "    GlobalKnownHostsFile /dev/null",
              "    StrictHostKeyChecking yes",
              f"    ProxyCommand {' '.join(proxy)}",
              "    ProxyUseFdpass yes",
              f"    ConnectTimeout {CONNECT_TIMEOUT}",
              "    LogLevel ERROR", ""]
    with open(sims.ssh_config, "w") as f:
        f.write("\n".join(lines))


def _wait(ready, what, timeout=10.0, proc=None):
    end = time.monotonic() + timeout
    while not ready():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: exited with {proc.returncode}")
        if time.monotonic() > end:
            raise RuntimeError(f"{what}: not ready within {timeout:g} s")
        time.sleep(0.005)


def _netns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def _child(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            found = f.read().split()
    except OSError:
        return None
    return int(found[0]) if found else None


def _listening(sim):
    """Whether the sim's sshd listens on port 22 (in the sim's network namespace)."""
    try:
        with open(f"/proc/{sim.pid}/net/tcp") as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except OSError:
        return False
    return any(r[1].endswith(":0016") and r[3] == "0A" for r in rows)


# --- inside a simulated host ------------------------------------------------------------


def _mount(*argv):
    _run(["mount", "-n", *argv])


def _unmount_inherited():
    """Unmount the copies of the real host's mounts under /run (and any namespace handle
    anywhere) that this mount namespace inherited, deepest first."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            fstype = fields[fields.index("-") + 1]
            if point == "/run" or point.startswith(("/run/", "/var/run/")) or fstype == "nsfs":
                found.append(point)
    for point in sorted(set(found), key=len, reverse=True):
        subprocess.run(["umount", "-n", "-l", point], check=False, capture_output=True)


def init(conf):
    """PID 1 of a simulated host: private mounts, then (once the parent has given it
    eth0) its address, then sshd."""
    socket.sethostname(conf["name"])
    _unmount_inherited()
    _mount("-t", "tmpfs", "-o", "mode=0755", "netplay-sim", "/run")
    os.mkdir("/run/sshd", 0o755)
    _mount("-t", "sysfs", "sysfs", "/sys")
    _mount("-t", "tmpfs", "-o", "mode=0700", "netplay-sim", "/root")
    os.mkdir("/root/.ssh", 0o700)
    with open("/root/.ssh/authorized_keys", "w") as f:
        f.write(conf["pubkey"])
    _mount("-t", "tmpfs", "-o", "mode=0755", "netplay-sim", "/var/log")
    with open("/etc/hosts") as f:  # its own name resolves there (sudo asks)
        hosts = f"127.0.1.1\t{conf['name']}\n{f.read()}"
    with open(conf["hosts"], "w") as f:
        f.write(hosts)
    _mount("--bind", conf["hosts"], "/etc/hosts")
    if sys.stdin.readline().strip() != "go":
        sys.exit(1)
    _run(["ip", "-batch", "-"], input=f"link set lo up\naddr add {conf['address']}/24 "
         f"dev eth0\nlink set eth0 up\n")
    for key in ("ipv4/ip_forward", "ipv6/conf/all/forwarding"):
        with open(f"/proc/sys/net/{key}", "w") as f:
            f.write("1\n")
    null = os.open("/dev/null", os.O_RDWR)
    log = os.open(conf["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.execv(SSHD, [SSHD, "-D", "-f", conf["sshd_config"], "-E", conf["log"]])


if __name__ == "__main__" and sys.argv[1:2] == ["init"]:
    init(json.loads(sys.argv[2]))
