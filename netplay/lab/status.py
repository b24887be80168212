"""netplay status: the labs on this host, and what one lab's nodes hold right now.

The list of labs comes from the state directory (each lab's log header); a lab's tables
come from `ip -j` in each of its namespaces and, for containers, the Docker SDK.
Read-only; nothing here is logged.
"""

from concurrent.futures import ThreadPoolExecutor

from netplay.check.expect import endpoint_labels
from netplay.check.verify import lab_namespaces
from netplay.core.errors import InputError
from netplay.model.hosts import on_host
from netplay.observe import containers as dockerstate, ip as observe
from netplay.run import log as steplog, state


def load_lab(root, name):
    """(log data, Topology, log path) of a lab this host has a record of."""
    data = state.require_lab(root, name)
    path = state.log_path(root, name)
    return data, state.lab_topology(data, path), path


def require_up(data, name):
    """Refuse a lab whose log says it is down: there is nothing of it on the host."""
    if data.get("status") == "down":
        raise InputError(f"lab {name!r} is down; build it with `netplay run` first")


def runtime_of(topology):
    """docker, netns, mixed or - from a normalized topology's node kinds."""
    nodes = topology.get("nodes", {}) if isinstance(topology, dict) else {}
    kinds = {raw.get("kind") for raw in nodes.values()
             if isinstance(raw, dict) and raw.get("kind") != "host"}
    if not kinds:
        return "-"
    return kinds.pop() if len(kinds) == 1 else "mixed"


def lab_list(root):
    """One dict per lab with a log in the state directory."""
    rows = []
    for name in state.labs(root):
        path = state.log_path(root, name)
        try:
            data = state.read_lab(root, name)
        except InputError as err:
            rows.append({"lab": name, "status": "unreadable", "nodes": None, "runtime": "-",
                         "created": None, "log": str(path), "error": str(err)})
            continue
        topology = steplog.current_topology(data) if isinstance(data.get("topology"), dict) \
            else {}
        rows.append({"lab": name, "status": data.get("status"),
                     "nodes": len(topology.get("nodes", {})),
                     "bridges": len(topology.get("bridges", {})),
                     "links": len(topology.get("links", [])),
                     "runtime": runtime_of(topology), "created": data.get("created"),
                     "generations": len(steplog.generations(data)),
                     "updated": data.get("updated"), "action": data.get("action"),
                     "log": str(path)})
    return rows


def _label(labels, ns, ifname):
    return labels.get((ns, ifname), f"{ifname} in {ns or 'the root namespace'}")


def _iface_row(link, ns, labels, expected):
    row = {"name": link.name, "type": link.kind or "-", "state": link.state,
           "up": link.up, "operstate": link.operstate, "addresses": list(link.addresses),
           "peer": _label(labels, *link.peer) if link.peer else None,
           "bridge": link.master, "in_topology": expected}
    return row


def _missing_row(ifname, expected_up):
    return {"name": ifname, "type": "-", "state": "MISSING", "up": None, "operstate": None,
            "addresses": [], "peer": None, "bridge": None, "in_topology": True,
            "expected": "up" if expected_up else "down"}


def hosts_status(topo, machines, cli=None, data=None):
    """lab_status of a lab on this host ({"local": machine}), or of each host's part of a
    lab on several (hosts at once), every node and bridge then naming its host."""
    if not topo.hosts:
        return lab_status(topo, next(iter(machines.values())), cli, data)
    names = list(topo.hosts)
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        parts = dict(zip(names, pool.map(
            lambda h: lab_status(on_host(topo, h), machines[h], None, data), names)))
    result = parts[names[0]]
    entries = {}
    for host, part in parts.items():
        for entry in part["nodes"]:
            entries[entry["name"]] = dict(entry, host=host)
    result["nodes"] = [entries[n] for n in list(topo.nodes) + list(topo.bridges)
                       if n in entries]
    return result


def lab_status(topo, machine, cli=None, data=None):
    """Every node and bridge of a lab with its interfaces as observed: a dict for JSON."""
    states = observe.host_state(machine, lab_namespaces(topo))
    labels = endpoint_labels(topo)
    containers = None
    if cli is not None and any(n.kind == "docker" for n in topo.nodes.values()):
        containers = {c.name: c.status for c in dockerstate.lab_containers(cli, topo.name)}
    nodes = []
    for node in topo.nodes.values():
        ns = node.namespace
        st = states.get(ns)
        entry = {"name": node.name, "kind": node.kind, "namespace": ns or "(root)",
                 "present": bool(st and st.present), "interfaces": []}
        if node.kind == "docker":
            entry["container"] = (containers or {}).get(node.name, "gone") \
                if containers is not None else "unknown (no Docker daemon)"
        if node.forwarding:
            entry["forwarding"] = True
        if st and st.present:
            # a namespace of the lab: all its devices; the root namespace: the lab's only
            names = list(st.links) if ns else [i for i in node.interfaces]
            for ifname in names:
                link = st.links.get(ifname)
                if link is None:
                    entry["interfaces"].append(_missing_row(ifname, node.interfaces[ifname].up))
                else:
                    entry["interfaces"].append(_iface_row(link, ns, labels,
                                                          ifname in node.interfaces))
            for ifname, iface in node.interfaces.items():
                if ns and ifname not in st.links:
                    entry["interfaces"].append(_missing_row(ifname, iface.up))
        nodes.append(entry)
    for bridge in topo.bridges.values():
        ns = bridge.namespace
        st = states.get(ns)
        entry = {"name": bridge.name, "kind": "bridge", "namespace": ns or "(root)",
                 "present": bool(st and st.present and bridge.name in st.links),
                 "interfaces": []}
        if st and st.present:
            for ifname in [bridge.name, *bridge.interfaces]:
                link = st.links.get(ifname)
                if link is None:
                    entry["interfaces"].append(_missing_row(ifname, bridge.up))
                    continue
                row = _iface_row(link, ns, labels, True)
                if ifname == bridge.name:
                    row["ports"] = sorted(li.name for li in st.links.values()
                                          if li.master == bridge.name)
                entry["interfaces"].append(row)
        nodes.append(entry)
    out = {"lab": topo.name, "nodes": nodes}
    if data is not None:
        out = {"lab": topo.name, "status": data.get("status"), "created": data.get("created"),
               "runtime": runtime_of(topo.to_dict()), "nodes": nodes}
    return out


def node_heading(entry):
    """One line above a node's table: name, kind and what holds it."""
    words = [entry["name"], f"({entry['kind']}"]
    if "host" in entry:
        words[-1] += f", on host {entry['host']}"
    if entry["namespace"] == "(root)":
        words[-1] += ", in the root namespace"
    elif entry["namespace"] != entry["name"]:
        words[-1] += f", in namespace {entry['namespace']}"
    if "container" in entry:
        words[-1] += f", container {entry['container']}"
    if entry.get("forwarding"):
        words[-1] += ", forwarding"
    words[-1] += ")"
    if not entry["present"]:
        words.append("MISSING")
    return " ".join(words)


def table_rows(entry):
    """A node's interfaces as rows for tabulate."""
    rows = []
    for row in entry["interfaces"]:
        peer = row["peer"] or ""
        if row.get("ports") is not None:
            peer = "ports: " + (", ".join(row["ports"]) or "none")
        state_text = row["state"]
        if row["state"] == "MISSING":
            state_text = f"MISSING (expected {row['expected']})"
        rows.append([row["name"], row["type"], state_text, "\n".join(row["addresses"]) or "-",
                     peer or "-", row["bridge"] or "-"])
    return rows
