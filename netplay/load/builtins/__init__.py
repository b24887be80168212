"""Built-in topologies, run by name: YAML files shipped beside this module, and generators
that take parameters (`linear:5`, `tree:2,3`, `leafspine:2,4,2`; see generators.py)."""

from importlib import resources

from netplay.core.errors import InputError
from netplay.load.builtins import generators
from netplay.load.yamlfile import parse_yaml
from netplay.model.validate import from_dict, gc_paused


def files():
    """Built-in topology files' names, sorted."""
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir()
                  if p.name.endswith(".yaml"))


def names():
    """Every built-in name, sorted; a generator's name alone runs it with its defaults."""
    return sorted(files() + list(generators.GENERATORS))


def load(name):
    base = name.partition(":")[0]
    if base in generators.GENERATORS:
        with gc_paused():  # a generated lab may be tens of thousands of small objects
            return from_dict(generators.generate(name), source=name)
    if name not in files():
        hint = ""
        if ":" in name:
            usages = ", ".join(generators.usage(g) for g in generators.GENERATORS)
            hint = f"; generators are {usages}"
        raise InputError(f"unknown built-in topology {name!r}; `netplay topologies` lists "
                         f"them ({', '.join(names())}), or give a path to a YAML file{hint}")
    text = resources.files(__package__).joinpath(name + ".yaml").read_text(encoding="utf-8")
    return from_dict(parse_yaml(text, name), source=name)


def describe(name):
    if name in generators.GENERATORS:
        return generators.GENERATORS[name][5]
    return load(name).description
