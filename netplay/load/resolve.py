"""A topology from what the user names: a file (netplay's YAML or containerlab's) or a
built-in name. Reads the file through netplay.core.userfile's limits."""

import os

from netplay.core.errors import InputError
from netplay.core.userfile import directory_error
from netplay.load import builtins, clab
from netplay.load.yamlfile import parse_yaml, positioned, read_hosts_file, read_text
from netplay.model.hosts import with_hosts
from netplay.model.prefix import named
from netplay.model.validate import from_dict


def resolve(spec, hosts_file=None, name=None, prefix=False):
    """A topology from a YAML file path or a built-in name, its hosts replaced by those of
    hosts_file when given (`--hosts FILE`). A bare word is a file only if such a file
    exists (so `netplay run home` in / is the built-in, not the directory); a directory or
    special file named as a topology is refused in one line. name and prefix: the lab
    renamed and its names prefixed (`--name`, `--prefix`; netplay.model.prefix.named),
    right after loading; a containerlab file's `prefix:` may ask for the prefix too."""
    topo = _resolve(spec, name, prefix)
    if hosts_file is None:
        return topo
    return on_hosts(topo, read_hosts_file(hosts_file), hosts_file)


def on_hosts(topo, raw, source):
    """topo on the machines of a hosts file's data (`hosts: {NAME: {ssh: ...}}`): a lab
    with hosts has them mapped onto those machines; a lab without is placed onto them
    (`placement: auto`: one host takes it whole), so any topology, a containerlab file
    included, can be built on other machines without editing it."""
    if topo.hosts:
        return with_hosts(topo, raw, source)
    data = topo.to_dict()
    data["hosts"] = raw.get("hosts") if isinstance(raw, dict) else None
    if not data["hosts"] or set(raw) - {"hosts"}:
        raise InputError(f"{source}: a hosts file is `hosts: {{NAME: {{ssh: DESTINATION}}, "
                         "...}`, naming one host or more, and nothing else")
    data["placement"] = "auto"
    return from_dict(data, source)


def _resolve(spec, name=None, prefix=False):
    looks_like_path = os.sep in spec or spec.endswith((".yaml", ".yml"))
    if looks_like_path or os.path.isfile(spec):  # ours, or containerlab's format
        if not os.path.exists(spec):
            raise InputError(f"{spec}: no such topology file")
        text = read_text(spec)  # refuses directories and special files
        data = parse_yaml(text, spec)
        try:
            if clab.is_clab_data(spec, data):
                return clab.load_data(data, spec, name=name, prefix=prefix)
            topo = from_dict(data, source=spec)
        except InputError as err:  # FILE:LINE:COL of the value it names
            raise positioned(err, text, spec) from None
    else:
        try:
            topo = builtins.load(spec)
        except InputError:
            if os.path.isdir(spec):  # `netplay run mylab`, mylab a directory here
                raise directory_error(spec, "topology file", "topo.yaml") from None
            raise
    return named(topo, name, prefix) if name is not None or prefix else topo
