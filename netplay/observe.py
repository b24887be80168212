"""Observations of the host: a command plus a parser of its structured output.

Nothing here changes the host and nothing here is logged: these are facts (pyinfra's word),
read with `ip -j` and the Docker Engine API, used by preflight checks, verify and status.
"""

import json
import os

from netplay.plan import NETNS_DIR


def ip_json(machine, ns, *args):
    """Parsed `ip -j [-n ns] ARGS`; [] when the namespace or device is not there."""
    argv = ["-j", *(["-n", ns] if ns else []), *args]
    rc, out, _ = machine["ip"][argv].run(retcode=None)
    if rc != 0 or not out.strip():
        return []
    return json.loads(out)


def netns_names():
    """Named namespaces, as `ip netns list` sees them (the files in /var/run/netns)."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def links(machine, ns=None):
    return ip_json(machine, ns, "link", "show")


def link_names(machine, ns=None):
    return {link["ifname"] for link in links(machine, ns)}


def addresses(machine, ns=None):
    return ip_json(machine, ns, "addr", "show")


def routes(machine, ns=None, family="-4"):
    return ip_json(machine, ns, family, "route", "show")
