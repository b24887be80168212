"""A change of a lab said as Terraform says a plan: one line per object, `+` added, `-`
removed, `~` changed in place, `-/+` made again. Pure.

The objects are the topology's own (nodes, bridges, links, the lab's settings); which
ones are made again comes from the step diff (netplay.plan.diff), which knows what a
change can do in place.
"""

from typing import Any, Dict, List, Set, Tuple

from netplay.plan.objects import CTR, DEV, NS, Obj

Change = Tuple[str, str]  # (sign, what): ("~", "node r1: interfaces, routes")


def _links(topology: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {" -- ".join(link["endpoints"]): link for link in topology.get("links") or []}


def _changed_keys(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def changes(old: Dict[str, Any], new: Dict[str, Any], remade: Set[Obj]) -> List[Change]:
    """What changes from topology old to topology new (both as to_dict gives them),
    with remade: the objects the step diff deletes and makes again."""
    out: List[Change] = []
    remade_names = {o.name for o in remade if o.kind in (NS, CTR) or
                    (o.kind == DEV and o.ns is None)}
    for kind, key in (("node", "nodes"), ("bridge", "bridges"), ("link", None)):
        before = _links(old) if key is None else old.get(key) or {}
        after = _links(new) if key is None else new.get(key) or {}
        for name in after:
            if name not in before:
                out.append(("+", f"{kind} {name}"))
            elif before[name] != after[name]:
                keys = ", ".join(_changed_keys(before[name], after[name]))
                sign = "-/+" if kind != "link" and name in remade_names else "~"
                out.append((sign, f"{kind} {name}: {keys}"))
            elif kind != "link" and name in remade_names:
                out.append(("-/+", f"{kind} {name}: made again with what it holds"))
        out += [("-", f"{kind} {name}") for name in before if name not in after]
    skip = {"nodes", "bridges", "links"}
    lab = [k for k in _changed_keys(old, new) if k not in skip]
    if lab:
        out.append(("~", f"lab {new.get('name')}: {', '.join(lab)}"))
    return out


def lines(found: List[Change]) -> List[str]:
    """The change as printed, with a count line as Terraform ends its plan."""
    if not found:
        return ["No changes: the lab is what the topology says."]
    counts = {sign: sum(1 for s, _ in found if s == sign) for sign in ("+", "~", "-/+", "-")}
    tail = (f"Plan: {counts['+']} to add, {counts['~']} to change, {counts['-/+']} to make "
            f"again, {counts['-']} to remove.")
    return [f"{sign:>3} {what}" for sign, what in found] + [tail]
