"""`netplay doctor`: is this host ready to build labs, and how to fix what is not.

Each check is one row: what was checked, OK / WARN / FAIL, what was found, and the fix.
FAIL means `netplay run` would refuse or fail on this host (for every lab, or for every lab
that uses what the row names); WARN means something works differently or needs a look.
Read-only: observations only (`ip -j`, `iptables -S`, /proc, the Docker Engine API), all
through the machine checked, no step, no log. The parsers of command output are pure
functions, tested on recorded output. The state directory is the controller's own and is
checked on the controller.
"""

import json
import os
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from netplay.core.consts import NETNS_DIR
from netplay.core.errors import NetplayError
from netplay.lab import clean
from netplay.observe import containers as dockerstate, ip as observe
from netplay.run import state
from netplay.run.state import ENV_STATE_DIR

OK, WARN, FAIL = "OK", "WARN", "FAIL"
IPROUTE_MIN = (4, 14)  # `ip -j` for link and addr (JSON output came with 4.13/4.14)
LEFTOVER_BUDGET = 20  # seconds the search for leftovers may take before doctor moves on
# a clone of the repository has scripts/ beside the package; an installed wheel has not
CLONE_SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def repo_scripts():
    """The repository's scripts/ directory when netplay runs from a clone, else None: the
    fixes name its scripts only where they are."""
    return CLONE_SCRIPTS if (CLONE_SCRIPTS / "docker-up.sh").is_file() else None


@dataclass
class Check:
    check: str
    status: str
    detail: str
    fix: str = ""

    def row(self):
        return asdict(self)


# --- pure parsers and decisions ---------------------------------------------------------------


def iproute_version(text):
    """(major, minor) from `ip -V` ("ip utility, iproute2-6.1.0" or "iproute2-ss190107"),
    or None when it does not say."""
    match = re.search(r"iproute2-(\d+)\.(\d+)", text or "")
    if match:
        return int(match.group(1)), int(match.group(2))
    match = re.search(r"iproute2-ss(\d{2})(\d{2})(\d{2})", text or "")
    if match:  # a snapshot date: 4.14 was released in 2017-11
        year, month = 2000 + int(match.group(1)), int(match.group(2))
        return (4, 14) if (year, month) >= (2017, 11) else (4, 0)
    return None


def forward_policy(iptables_s):
    """The FORWARD chain's policy from `iptables -S FORWARD` output (None if unreadable)."""
    for line in (iptables_s or "").splitlines():
        parts = line.split()
        if parts[:2] == ["-P", "FORWARD"] and len(parts) > 2:
            return parts[2]
    return None


def trap_check(nf_call, policy, nf_call6=None, policy6=None):
    """The Docker firewall trap: bridged frames go through iptables and FORWARD drops them."""
    trapped4 = nf_call == "1" and policy == "DROP"
    trapped6 = nf_call6 == "1" and policy6 == "DROP"
    name = "docker firewall trap"
    if nf_call is None:
        return Check(name, OK, "br_netfilter is not loaded: bridged frames do not pass "
                               "through iptables")
    if not trapped4 and not trapped6:
        return Check(name, OK, f"bridge-nf-call-iptables={nf_call}, FORWARD policy "
                               f"{policy or 'unknown'}: bridged frames are not dropped")
    which = " and ".join(f for f, trapped in (("iptables", trapped4), ("ip6tables", trapped6))
                         if trapped)
    return Check(name, OK, f"bridge-nf-call-{which.replace(' and ', '/')}=1 and FORWARD "
                           f"policy DROP ({which}; Docker sets it): frames crossing a "
                           "root-namespace bridge would be dropped; netplay inserts `iptables "
                           "-I FORWARD -i BR -o BR -m comment --comment netplay:LAB -j ACCEPT` "
                           "and the same ip6tables rule for each such bridge and removes them "
                           "on down, and bridges inside a namespace are not affected",
                 "nothing for netplay's labs; for bridges made by hand: "
                 "iptables -I FORWARD -i BR -o BR -j ACCEPT (and the same with ip6tables)")


def leftover_check(found, lab_status, root):
    """Objects carrying netplay's marks (clean.find) against the labs logged in root.

    found: objects with .kind .name .lab; lab_status: {lab: status} from the state dir."""
    checks = []
    broken = sorted(lab for lab, status in lab_status.items() if status in ("failed", "running"))
    if broken:
        checks.append(Check("labs partly up", WARN,
                            ", ".join(f"{lab} ({lab_status[lab]})" for lab in broken)
                            + f": their logs in {root} say they did not finish (running: a "
                              "run in progress, or one that was killed)",
                            " ; ".join(f"netplay down {lab}" for lab in broken)))
    alive = {lab for lab, status in lab_status.items() if status in ("up", "running", "failed")}
    orphans = [f for f in found if f.lab not in alive]
    if orphans:
        labs = sorted({f.lab for f in orphans})
        shown = ", ".join(f"{f.kind} {f.name} ({f.lab})" for f in orphans[:6])
        more = f" and {len(orphans) - 6} more" if len(orphans) > 6 else ""
        checks.append(Check("leftover objects", WARN,
                            f"{len(orphans)} objects marked by netplay belong to no lab that "
                            f"is up in {root}: {shown}{more}",
                            "`netplay clean` lists them; `netplay clean --yes` removes them "
                            f"(or `netplay clean LAB --yes` for one of: {', '.join(labs)})"))
    if not checks:
        checks.append(Check("leftover objects", OK,
                            "nothing marked by netplay is left outside the labs that are up"))
    return checks


# --- observations -----------------------------------------------------------------------------


def _run(machine, argv):
    """(rc, stdout, stderr) of argv on machine; rc 127 when the program is missing."""
    try:
        return machine.run(argv)
    except Exception as err:  # a permission error
        return 127, "", str(err)


def _read(machine, path):
    text = machine.read_text(path)
    return None if text is None else text.strip()


def check_root(machine):
    if machine.euid() == 0:
        return Check("root", OK, "running as root")
    return Check("root", FAIL, f"running as uid {machine.euid()}: netplay changes the host's "
                               "network and needs root (--dry-run and show do not)",
                 "run netplay with sudo")


def check_iproute(machine):
    rc, out, err = _run(machine, ["ip", "-V"])
    if rc == 127:
        return Check("iproute2", FAIL, "`ip` not found", "apt-get install iproute2")
    version = iproute_version(out + err)
    rc, out, _ = _run(machine, ["ip", "-j", "link", "show", "lo"])
    try:
        json_ok = rc == 0 and isinstance(json.loads(out), list)
    except ValueError:
        json_ok = False
    shown = ".".join(map(str, version)) if version else (out + err).strip()[:40] or "unknown"
    if not json_ok:
        return Check("iproute2", FAIL, f"iproute2 {shown} prints no JSON for `ip -j`; netplay "
                                       "reads the host with it",
                     f"install iproute2 {'.'.join(map(str, IPROUTE_MIN))} or newer")
    _, out, err = _run(machine, ["ip", "netns", "help"])
    if "attach" not in out + err:
        return Check("iproute2", WARN, f"iproute2 {shown}: `ip -j` works, but `ip netns attach` "
                                       "is missing, which names a container's namespace",
                     "install iproute2 5.x for docker nodes, or use --runtime netns")
    return Check("iproute2", OK, f"iproute2 {shown}: `ip -j` and `ip netns attach` work")


def check_program(machine, program, package, needed_for):
    if machine.which(program):
        return Check(program, OK, f"{program} found")
    return Check(program, FAIL, f"{program} not found; netplay runs it for {needed_for}",
                 f"apt-get install {package}")


def check_netns_dir(machine):
    if machine.list_dir(NETNS_DIR) is not None:
        return Check(NETNS_DIR, OK, "present (named namespaces live here)")
    if machine.exists(NETNS_DIR):
        return Check(NETNS_DIR, FAIL, "exists but is not a directory; `ip netns` cannot use it",
                     f"remove {NETNS_DIR} (after checking what it is)")
    return Check(NETNS_DIR, OK, f"absent; the first step of every run is `mkdir -p {NETNS_DIR}`")


def check_dummy(machine):
    """Dummy interfaces (containerlab's `type: dummy` links) need the kernel's dummy driver."""
    if machine.list_dir("/sys/module/dummy") is not None:
        return Check("dummy interfaces", OK, "the kernel's dummy driver is loaded")
    release = _read(machine, "/proc/sys/kernel/osrelease") or "?"  # what `uname -r` says
    if "/dummy.ko" in (machine.read_text(f"/lib/modules/{release}/modules.dep") or ""):
        return Check("dummy interfaces", OK, "the dummy driver is available as a module")
    return Check("dummy interfaces", WARN, f"kernel {release} has no dummy driver: labs with "
                                           "dummy interfaces (kind: dummy, containerlab's "
                                           "type: dummy links) fail with 'Unknown device type'",
                 "use a kernel with CONFIG_DUMMY (modprobe dummy), or leave dummy interfaces out")


def docker_client(machine):
    return machine.docker(timeout=5)


def start_docker_fix(scripts):
    """How to start a daemon: the clone's script, else the system's own ways."""
    if scripts is not None:
        return f"start it: sudo {scripts}/docker-up.sh or `systemctl start docker`"
    return ("start it: `sudo systemctl start docker` (without systemd: `sudo dockerd &`); "
            "if dockerd is missing: `sudo apt-get install docker.io`")


def check_docker(machine, cli, scripts=None):
    """The daemon (reachable? version?) and the docker CLI netplay's steps run; scripts:
    the repository's scripts/ directory, if any (repo_scripts)."""
    out = []
    if cli is None:
        out.append(Check("docker daemon", WARN, "no Docker daemon answers: docker nodes "
                                                "without exec, cmd, binds, env or dns are "
                                                "built as plain namespaces, others refused "
                                                "(--runtime netns builds them anyway)",
                         start_docker_fix(scripts)))
    else:
        try:
            info = cli.version()
            out.append(Check("docker daemon", OK, f"Docker {info.get('Version', '?')} "
                                                  f"(API {info.get('ApiVersion', '?')}) answers"))
        except Exception as err:  # the daemon went away between ping and version
            out.append(Check("docker daemon", WARN, f"the daemon answered, then failed: {err}",
                             "check `docker version`"))
    if cli is not None and not machine.which("docker"):
        out.append(Check("docker CLI", FAIL, "the daemon answers but the `docker` command is "
                                             "not installed; netplay's steps run it",
                         "apt-get install docker.io (or docker-ce-cli)"))
    return out


def check_images(cli, default_image, scripts=None):
    if cli is None:
        return Check("images", WARN, "no daemon, so no images to list",
                     "start the Docker daemon, then run `netplay doctor` again")
    try:
        tags = sorted(t for image in cli.images.list() for t in image.tags)
    except Exception as err:
        return Check("images", WARN, f"cannot list images: {err}", "check `docker images`")
    shown = ", ".join(tags[:8]) + (f" and {len(tags) - 8} more" if len(tags) > 8 else "")
    if dockerstate.image_present(cli, default_image):
        return Check("images", OK, f"default image {default_image} is here; local: {shown}")
    return Check("images", WARN, f"the default image {default_image} is not here (docker nodes "
                                 "without an image of their own need it; no registry may be "
                                 f"reachable); local: {shown or 'none'}",
                 image_fix(default_image, scripts))


def image_fix(default_image, scripts):
    """How to get an image: the clone's script builds one offline, else pull or name one."""
    if scripts is not None:
        return (f"build one: sudo {scripts}/build-image.sh, then `--image netplay-busybox` "
                "(or export NETPLAY_IMAGE=netplay-busybox)")
    return (f"`sudo docker pull {default_image}` where a registry is reachable, or build "
            "any image and name it with --image NAME (or export NETPLAY_IMAGE=NAME)")


def check_trap(machine):
    nf = _read(machine, "/proc/sys/net/bridge/bridge-nf-call-iptables")
    nf6 = _read(machine, "/proc/sys/net/bridge/bridge-nf-call-ip6tables")
    policy = policy6 = None
    rc, out, _ = _run(machine, ["iptables", "-S", "FORWARD"])
    if rc == 0:
        policy = forward_policy(out)
    rc6, out6, _ = _run(machine, ["ip6tables", "-S", "FORWARD"])
    if rc6 == 0:
        policy6 = forward_policy(out6)
    if nf == "1" and policy is None:
        return Check("docker firewall trap", WARN, "br_netfilter is on but the FORWARD policy "
                                                   "cannot be read (not root?)",
                     "run `sudo netplay doctor`")
    return trap_check(nf, policy, nf6, policy6)


def check_state_dir(root):
    path = str(root)
    probe = path
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if os.path.exists(path) and not os.path.isdir(path):
        return Check("state directory", FAIL, f"{path} is not a directory",
                     f"choose another with --state-dir or ${ENV_STATE_DIR}")
    if not os.access(probe, os.W_OK | os.X_OK):
        return Check("state directory", FAIL, f"{path}: cannot write {probe}; lab logs live "
                                              "there", "run as root, or --state-dir DIR")
    when = "present" if probe == path else "created on the first run"
    return Check("state directory", OK, f"{path} ({when})")


def check_leftovers(machine, cli, root):
    result = {}

    def scan():  # one `ip -n NS` per namespace: slow on a host with thousands of them
        try:
            result["found"] = clean.find(machine, cli)
        except Exception as err:  # an observation failed: report it, do not stop the doctor
            result["error"] = err

    worker = threading.Thread(target=scan, daemon=True)
    worker.start()
    worker.join(LEFTOVER_BUDGET)
    if worker.is_alive():
        return [Check("leftover objects", WARN,
                      f"the search did not finish within {LEFTOVER_BUDGET} s "
                      f"({len(observe.netns_names(machine))} namespaces to look into)",
                      "`netplay clean` lists them, taking the time it needs")]
    if "error" in result:
        return [Check("leftover objects", WARN, f"cannot look for leftovers: {result['error']}",
                      "run `netplay clean` to see the error")]
    found = result["found"]
    status = {}
    for lab in state.labs(root) if os.access(str(root), os.R_OK | os.X_OK) else []:
        try:
            data = state.read_lab(root, lab)
        except NetplayError:
            status[lab] = "unreadable"
            continue
        status[lab] = data.get("status", "?") if data else "?"
    return leftover_check(found, status, root)


def run_checks(machine, root, default_image):
    """Every check, in the order a person would fix them."""
    checks = [check_root(machine), check_iproute(machine),
              check_program(machine, "brctl", "bridge-utils", "bridges (brctl addbr)"),
              check_program(machine, "iptables", "iptables",
                            "the FORWARD rule of each root-namespace bridge"),
              check_netns_dir(machine), check_state_dir(root), check_dummy(machine)]
    cli = docker_client(machine)
    scripts = repo_scripts()
    checks += check_docker(machine, cli, scripts)
    checks.append(check_images(cli, default_image, scripts))
    checks.append(check_trap(machine))
    if machine.euid() == 0:
        checks += check_leftovers(machine, cli, root)
    else:
        checks.append(Check("leftover objects", WARN, "not looked for: reading namespaces, "
                                                      "firewall rules and lab logs needs root",
                            "run `sudo netplay doctor`"))
    return checks


def blocking(checks):
    return [c for c in checks if c.status == FAIL]


def render(checks):
    """The table: CHECK STATUS DETAIL FIX, wrapped to fit a terminal."""
    from tabulate import tabulate

    rows = [[c.check, c.status, c.detail, c.fix] for c in checks]
    return tabulate(rows, headers=["CHECK", "STATUS", "DETAIL", "FIX"],
                    maxcolwidths=[None, None, 60, 40])
