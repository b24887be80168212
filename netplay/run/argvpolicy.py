"""The per-step policy of a log's steps: a step (and its undo) must be a command netplay
would run, program by program and argument by argument; see netplay.run.logcheck, which
applies it to every step of an untrusted log before re-planning the log's topology. Pure."""

import ipaddress
import re
from typing import Collection, List, Optional, Sequence, Set, cast

from netplay.core.consts import ETC_NETNS, LAB_LABEL, NETNS_DIR
from netplay.core.errors import InputError
from netplay.core.names import check_ifname, check_name
from netplay.model.validate import check_image
from netplay.plan.steps import Arg, Ref, Step

# Programs netplay runs, and those it runs inside a namespace with `ip netns exec`.
PROGRAMS = ("ip", "brctl", "docker", "sysctl", "iptables", "ip6tables", "tc", "mkdir", "ln", "rm",
            "rmdir", "tee")
IN_NAMESPACE = ("ip", "brctl", "sysctl", "iptables", "ip6tables", "tc")

# Any argument that is not a name checked by position: addresses, prefixes, keywords,
# `netplay:LAB` comments, `net.ipv4.ip_forward=1`, `10ms`, `1%`. No shell metacharacter,
# no space, no quote, no glob, no `$`.
SAFE_ARG = re.compile(r"[A-Za-z0-9_.:/+=@,%-]+\Z")
_OPTION = re.compile(r"--?[A-Za-z0-9][A-Za-z0-9-]*\Z")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SYSCTL_KEY = re.compile(r"net\.[A-Za-z0-9_.-]+\Z")
_PROC_NS = re.compile(r"/proc/[1-9][0-9]*/ns/net\Z")
PID_FORMAT = "{{.State.Pid}}"

IP_OPTIONS = ("-4", "-6")  # and -n NS
IP_OBJECTS = ("netns", "link", "addr", "address", "route", "rule", "neigh")
NETNS_VERBS = ("add", "delete", "del", "attach", "exec")
BRCTL_VERBS = ("addbr", "delbr", "addif", "delif", "stp", "setfd", "setageing",
               "sethello", "setmaxage", "setpathcost", "setportprio", "setbridgeprio")
IFNAME_AFTER = ("dev", "name", "master")  # ip/tc keywords followed by an interface name
TC_FORBIDDEN = ("bpf", "ebpf", "obj", "object-file", "object-pinned", "exec", "-b", "-batch",
                "-force")


class Refused(Exception):
    """One step breaks the policy; the message says how (the caller adds which step)."""


def show(argv: Sequence[Arg]) -> str:
    """A step for a one-line message: shell-like, control characters escaped, shortened."""
    words = []
    for arg in argv:
        if isinstance(arg, Ref):
            words.append(arg.shell())
        elif SAFE_ARG.match(arg):
            words.append(arg)
        else:
            words.append(repr(arg))
    text = " ".join(words)
    return text if len(text) <= 160 else text[:157] + "..."


def check_step(step: Step, captured: Set[str], hosts: Collection[str] = ("local",)) -> None:
    """Raise Refused if step (or its undo) is not a command netplay would run; hosts: the
    names of the log's hosts ("local" alone for a lab on one machine)."""
    if step.host not in hosts:
        raise Refused(f"it runs on host {step.host!r}, which is not one of the log's hosts "
                      f"({', '.join(hosts)})")
    if any(c in step.phase for c in "\n\r\0"):
        raise Refused("its heading spans lines")
    for var in step.refs():
        if var not in captured:
            raise Refused(f"it uses ${var}, which no earlier step captures")
    if step.capture:
        if step.capture in captured:
            raise Refused(f"${step.capture} is captured twice")
        if step.argv[:2] != ["docker", "inspect"]:
            raise Refused("only `docker inspect` may capture a value")
    if step.stdin is not None and (step.argv[:1] != ["tee"] or "\0" in step.stdin):
        raise Refused("only `tee` reads an input, a file's text")
    if not _node_command(step):
        check_argv(step.argv)
    if step.undo is not None:
        try:
            check_argv(step.undo)
        except Refused as why:
            raise Refused(f"its undo `{show(step.undo)}`: {why}") from None


def _node_command(step: Step) -> bool:
    """Whether step is a node's own command as the planner writes it, under its heading
    `exec NODE`: `ip netns exec NODE PROGRAM ...` or `nsenter --target $pid_NODE --all
    PROGRAM ...`, any program, one-line string arguments, no undo. Refused if it has that
    heading and shape but breaks the rest; False for any other step (checked by check_argv).
    Any program passes here: check 3 proves the topology asks for it, and it runs only
    with --allow-exec."""
    node = step.phase[len("exec "):] if step.phase.startswith("exec ") else None
    argv = step.argv
    if node is None or len(argv) < 5:
        return False
    if argv[:4] == ["ip", "netns", "exec", node]:
        _name(node, "namespace name")
    elif argv[:2] != ["nsenter", "--target"] or not isinstance(argv[2], Ref) \
            or argv[3] != "--all":
        return False
    words = [arg for arg in argv[4:] if isinstance(arg, str)]
    if len(words) != len(argv) - 4:
        raise Refused("a captured value stands in a node's command")
    if any(c in arg for arg in words for c in "\n\r\0"):
        raise Refused("a node's command has an argument that spans lines")
    if step.undo is not None:
        raise Refused("a node's command has no undo")
    return True


def check_argv(argv: Sequence[Arg], namespace: Optional[str] = None) -> None:
    """Raise Refused unless argv is a command of a program netplay runs, as netplay runs it."""
    program = argv[0]
    if not isinstance(program, str):
        raise Refused("its program is a captured value")
    allowed = IN_NAMESPACE if namespace else PROGRAMS
    if program not in allowed:
        if namespace:
            raise Refused(f"it runs {program!r} inside namespace {namespace}, on this host's "
                          f"files as root; a log may run only {', '.join(allowed)} there, "
                          "or a node's own `exec` commands, under their heading `exec NODE`")
        raise Refused(f"it runs {program!r}, which netplay never runs "
                      f"(it runs only {', '.join(allowed)})")
    for arg in argv:
        if isinstance(arg, str) and any(c in arg for c in "\n\r\0"):
            raise Refused(f"argument {arg!r} spans lines")
    _CHECKS[program](list(argv[1:]))


def _plain(args: Sequence[Arg], refs: bool = False) -> None:
    """Every argument is a Ref (when allowed) or a string of safe characters."""
    for arg in args:
        if isinstance(arg, Ref):
            if not refs:
                raise Refused(f"it uses ${arg.var} where netplay never uses a captured value")
        elif not SAFE_ARG.match(arg):
            raise Refused(f"argument {arg!r} has characters netplay never puts in a command "
                          "(letters, digits and _.:/+=@,%- only)")
        elif arg.startswith("-") and not _OPTION.match(arg):
            raise Refused(f"argument {arg!r} is not an option netplay uses")


def _name(value: Arg, what: str = "name") -> str:
    if isinstance(value, Ref):
        raise Refused(f"a captured value stands where a {what} belongs")
    try:
        if what == "interface name":
            check_ifname(value, "argument")
        else:
            check_name(value, what, "argument")
    except InputError as err:
        raise Refused(str(err)) from None
    return value


def _ifname(value: Arg) -> str:
    return _name(value, "interface name")


def _ns_or_pid(value: Arg) -> None:
    """What follows `netns` in `ip link ... netns X`: a namespace name or a captured PID."""
    if not isinstance(value, Ref):
        _name(value, "namespace name")


def _take(args: List[Arg], after: str) -> Arg:
    if not args:
        raise Refused(f"nothing follows {after!r}")
    return args.pop(0)


def _ip(args: List[Arg]) -> None:
    while args and isinstance(args[0], str) and args[0].startswith("-"):
        opt = args.pop(0)
        if opt == "-n":
            _name(_take(args, "-n"), "namespace name")
        elif opt not in IP_OPTIONS:
            raise Refused(f"ip option {opt!r} is not one netplay uses")
    obj = _take(args, "ip")
    if obj not in IP_OBJECTS:
        raise Refused(f"`ip {obj}` is not a command netplay uses")
    if obj == "netns":
        _ip_netns(args)
        return
    if obj == "link" and args and args[0] in ("add", "set", "delete", "del") and len(args) > 1 \
            and args[1] not in ("dev", "name", "link"):
        _ifname(args[1])
    _keywords(args)
    _plain(args, refs=True)


def _keywords(args: List[Arg]) -> None:
    """Names after `dev`, `name`, `master` and `netns` pass the topology's name checks."""
    for i, arg in enumerate(args):
        if arg in IFNAME_AFTER:
            _ifname(args[i + 1] if i + 1 < len(args) else _take([], arg))
        elif arg == "netns":
            _ns_or_pid(args[i + 1] if i + 1 < len(args) else _take([], arg))


def _ip_netns(args: List[Arg]) -> None:
    verb = _take(args, "ip netns")
    if verb not in NETNS_VERBS:
        raise Refused(f"`ip netns {verb}` is not a command netplay uses")
    name = _name(_take(args, f"ip netns {verb}"), "namespace name")
    if verb == "exec":
        if not args:
            raise Refused(f"`ip netns exec {name}` runs nothing")
        check_argv(args, namespace=name)
        return
    _plain(args, refs=True)
    if verb == "attach":
        if len(args) != 1:
            raise Refused("`ip netns attach NAME` takes one process id")
        pid = args[0]
        if not isinstance(pid, Ref) and not re.fullmatch(r"[1-9][0-9]*", pid):
            raise Refused(f"{pid!r} is not a process id")
    elif args:
        raise Refused(f"`ip netns {verb} {name}` takes nothing more")


def _brctl(args: List[Arg]) -> None:
    verb = args[0] if args else _take(args, "brctl")
    if verb not in BRCTL_VERBS:
        raise Refused(f"`brctl {verb}` is not a command netplay uses")
    _ifname(args[1] if len(args) > 1 else _take([], verb))
    if verb in ("addif", "delif"):
        _ifname(args[2] if len(args) > 2 else _take([], verb))
    _plain(args)


def _sysctl(args: List[Arg]) -> None:
    _plain(args)
    settings = [a for a in args if isinstance(a, str) and a not in ("-w", "-q")]  # no Ref: _plain
    if "-w" not in args or not settings:
        raise Refused("netplay runs sysctl only as `sysctl -w net.KEY=VALUE`")
    for setting in settings:
        key, sep, _ = setting.partition("=")
        if not sep or not _SYSCTL_KEY.match(key):
            raise Refused(f"{setting!r} is not a net.* setting; netplay sets no other")


def _iptables(args: List[Arg]) -> None:
    for i, arg in enumerate(args):
        if not isinstance(arg, str):
            continue
        if arg.startswith("--modprobe") or arg == "-M":
            raise Refused(f"iptables option {arg!r} runs a program; netplay never uses it")
        if arg in ("-i", "-o", "--in-interface", "--out-interface"):
            _ifname(args[i + 1] if i + 1 < len(args) else _take([], arg))
    _plain(args)


def _tc(args: List[Arg]) -> None:
    if args[:1] == ["-n"]:
        _name(args[1] if len(args) > 1 else _take([], "-n"), "namespace name")
    for arg in args:
        if arg in TC_FORBIDDEN:
            raise Refused(f"tc argument {arg!r} loads or runs code; netplay never uses it")
    _keywords(args)
    _plain(args)


def _docker(args: List[Arg]) -> None:
    verb = _take(args, "docker")
    if verb == "run":
        _docker_run(args)
    elif verb == "inspect":
        if len(args) != 3 or args[:2] != ["-f", PID_FORMAT]:
            raise Refused(f"netplay runs `docker inspect` only as "
                          f"`docker inspect -f '{PID_FORMAT}' NAME`")
        _name(args[2], "container name")
    elif verb == "exec":
        _docker_exec(args)
    elif verb == "rm":
        if len(args) != 2 or args[0] != "-f":
            raise Refused("netplay runs `docker rm` only as `docker rm -f NAME`")
        _name(args[1], "container name")
    else:
        raise Refused(f"`docker {verb}` is not a command netplay uses")


def _docker_exec(args: List[Arg]) -> None:
    """docker exec NAME ARGV...: a command run inside a container with its own limits (no
    option: no other user, and not --privileged, which hands the command the host's kernel:
    a node's own `exec` commands run so are not replayed from a log)."""
    if len(args) < 2:
        raise Refused("netplay runs `docker exec` only as `docker exec NAME COMMAND...`")
    if args[0] == "--privileged":
        raise Refused("it runs a node's own command with every privilege of this host's "
                      "kernel (docker exec --privileged); a log may not (run its topology file)")
    if isinstance(args[0], str) and args[0].startswith("-"):
        raise Refused(f"docker exec option {args[0]!r} is not one netplay uses")
    _name(args[0], "container name")
    if any(isinstance(a, Ref) for a in args[1:]):
        raise Refused("a captured value stands in the container's command")


def _docker_run(args: List[Arg]) -> None:
    """docker run --net=none --name=N --hostname=N --label netplay.lab=LAB [--dns=ADDR]...
    [-e KEY=VALUE]... -d IMAGE [CMD...]: options as netplay writes them, nothing else."""
    seen = set()
    while args and isinstance(args[0], str) and args[0].startswith("-"):
        opt = cast(str, args.pop(0))  # a string, as the loop's condition says
        key, sep, value = opt.partition("=")
        if opt == "--net=none" or opt == "-d":
            seen.add(opt)
        elif key in ("--name", "--hostname") and sep:
            _name(value, "container name")
        elif key == "--dns" and sep:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise Refused(f"{opt!r}: {value!r} is not an IP address") from None
        elif opt == "--label":
            label = _take(args, opt)
            lkey, lsep, lab = label.partition("=") if isinstance(label, str) else ("", "", "")
            if lkey != LAB_LABEL or not lsep:
                raise Refused(f"label {label!r} is not netplay's {LAB_LABEL}=LAB")
            _name(lab, "lab name")
        elif opt in ("-v", "--volume", "--mount") or key in ("--volume", "--mount"):
            raise Refused(f"docker run option {opt!r} mounts a path of the recording host; a "
                          "log may not (run the topology file for a lab with binds)")
        elif opt == "-e":
            env = _take(args, opt)
            ekey, esep, _ = env.partition("=") if isinstance(env, str) else ("", "", "")
            if not esep or not _ENV_KEY.match(ekey):
                raise Refused(f"-e {env!r} is not KEY=VALUE")
        else:
            raise Refused(f"docker run option {opt!r} is not one netplay uses")
    if "--net=none" not in seen:
        raise Refused("netplay runs containers only with --net=none")
    image = _take(args, "docker run")
    if isinstance(image, Ref):
        raise Refused("a captured value stands where the image belongs")
    try:
        check_image(image, "image")
    except InputError as err:
        raise Refused(str(err)) from None
    if any(isinstance(a, Ref) for a in args):
        raise Refused("a captured value stands in the container's command")


def _mkdir(args: List[Arg]) -> None:
    if args != ["-p", NETNS_DIR] and (args[:1] != ["-p"] or len(args) != 2
                                     or not _etc_dir(args[1])):
        raise Refused(f"netplay runs mkdir only as `mkdir -p {NETNS_DIR}` or "
                      f"`mkdir -p {ETC_NETNS}/NODE`")


def _etc_dir(path: Arg) -> bool:
    """path is a node's directory of files for `ip netns exec`: /etc/netns/NAME."""
    prefix = ETC_NETNS + "/"
    if not isinstance(path, str) or not path.startswith(prefix):
        return False
    _name(path[len(prefix):], "namespace name")
    return True


def _hosts_file(path: Arg) -> bool:
    return isinstance(path, str) and path.endswith("/hosts") and _etc_dir(path[:-6])


def _tee(args: List[Arg]) -> None:
    if len(args) != 1 or not _hosts_file(args[0]):
        raise Refused(f"netplay runs tee only as `tee {ETC_NETNS}/NODE/hosts`")


def _rmdir(args: List[Arg]) -> None:
    if len(args) != 1 or not _etc_dir(args[0]):
        raise Refused(f"netplay runs rmdir only as `rmdir {ETC_NETNS}/NODE`")


def _netns_file(path: Arg) -> None:
    """A name in the netns directory: /var/run/netns/NAME."""
    prefix = NETNS_DIR + "/"
    if not isinstance(path, str) or not path.startswith(prefix):
        raise Refused(f"{path!r} is not a file in {NETNS_DIR}")
    _name(path[len(prefix):], "namespace name")


def _ln(args: List[Arg]) -> None:
    if len(args) != 3 or args[0] not in ("-s", "-sf", "-sfT") \
            or not isinstance(args[1], str) or not _PROC_NS.match(args[1]):
        raise Refused(f"netplay runs ln only as `ln -s /proc/PID/ns/net {NETNS_DIR}/NAME`")
    _netns_file(args[2])


def _rm(args: List[Arg]) -> None:
    if args[:1] == ["-f"]:
        args = args[1:]
    if len(args) != 1:
        raise Refused(f"netplay runs rm only as `rm -f {NETNS_DIR}/NAME`")
    if not _hosts_file(args[0]):
        _netns_file(args[0])


_CHECKS = {"ip": _ip, "brctl": _brctl, "docker": _docker, "sysctl": _sysctl,
           "iptables": _iptables, "ip6tables": _iptables, "tc": _tc, "mkdir": _mkdir,
           "ln": _ln, "rm": _rm, "rmdir": _rmdir, "tee": _tee}
