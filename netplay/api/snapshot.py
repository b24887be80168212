"""What a lab may leave behind on a host, read through its Machine, and the differences
between two such snapshots: the check that a test left the host as it found it.

A snapshot is plain data (sorted lists and strings), so that two compare with ==:
named namespaces, the root namespace's links, Docker containers (running or not), the
firewall's rules (`iptables -S`, `ip6tables -S`) and IPv4 forwarding.
"""

from typing import Any, Dict, List, Optional

from netplay.core.consts import FIREWALLS
from netplay.lab import clean
from netplay.machine.base import Machine
from netplay.machine.local import LocalMachine
from netplay.observe import ip as observe

Snapshot = Dict[str, Any]
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


def snapshot(machine: Optional[Machine] = None) -> Snapshot:
    """The host's state that a lab changes, on machine (default: this host)."""
    machine = machine or LocalMachine()
    return {"netns": sorted(observe.netns_names(machine)),
            "links": sorted(observe.link_names(machine)),
            "iptables": _firewall(machine),
            "containers": _containers(machine),
            "ip_forward": (machine.read_text(IP_FORWARD) or "").strip()}


def _firewall(machine: Machine) -> str:
    return "".join(machine.run([program, "-S"])[1] for program in FIREWALLS
                   if machine.which(program))


def _containers(machine: Machine) -> List[str]:
    """Every container's name; none when Docker is missing or its daemon is down."""
    if not machine.which("docker"):
        return []
    rc, out, _ = machine.run(["docker", "ps", "-a", "--format", "{{.Names}}"])
    return sorted(out.split()) if rc == 0 else []


def differences(before: Snapshot, after: Snapshot) -> List[str]:
    """One line per change from before to after: what appeared, what went."""
    out = []
    for key in ("netns", "links", "containers"):
        added = sorted(set(after[key]) - set(before[key]))
        gone = sorted(set(before[key]) - set(after[key]))
        out += [f"{key} added: {', '.join(added)}"] if added else []
        out += [f"{key} removed: {', '.join(gone)}"] if gone else []
    old, new = before["iptables"].splitlines(), after["iptables"].splitlines()
    added = [r for r in new if r not in old]
    gone = [r for r in old if r not in new]
    out += [f"firewall rule added: {r}" for r in added]
    out += [f"firewall rule removed: {r}" for r in gone]
    if old != new and not added and not gone:
        out.append("firewall rules reordered")
    if before["ip_forward"] != after["ip_forward"]:
        out.append(f"ip_forward: {before['ip_forward']} -> {after['ip_forward']}")
    return out


def leftovers(lab: str, machine: Optional[Machine] = None) -> List[clean.Leftover]:
    """What carries lab's mark on machine (default: this host): its namespaces, devices,
    containers and firewall rules, found as `netplay clean LAB` finds them."""
    machine = machine or LocalMachine()
    found: List[clean.Leftover] = clean.find(machine, machine.docker(), lab)
    return found
