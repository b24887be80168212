"""Built-in topologies, run by name: YAML files shipped beside this module."""

from importlib import resources

from netplay.errors import InputError
from netplay.topology import from_dict, parse_yaml


def names():
    """Built-in topology names, sorted."""
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir()
                  if p.name.endswith(".yaml"))


def load(name):
    if name not in names():
        raise InputError(f"unknown built-in topology {name!r}; `netplay topologies` lists "
                         f"them ({', '.join(names())}), or give a path to a YAML file")
    text = resources.files(__package__).joinpath(name + ".yaml").read_text(encoding="utf-8")
    return from_dict(parse_yaml(text, name), source=name)


def describe(name):
    return load(name).description
