"""Built-in topologies, run by name: YAML files shipped beside this module, and generators
that take parameters (`linear:5`, `tree:2,3`, `leafspine:2,4,2`; see generators.py)."""

from netplay.core.errors import InputError
from netplay.load.builtins import generators
from netplay.load.yamlfile import parse_yaml
from netplay.model.validate import from_dict, gc_paused


def _shipped():
    """The folder of the built-in files (importlib.resources imported here, as difflib
    below: 3 ms of every command otherwise)."""
    from importlib import resources

    return resources.files(__package__)


def files():
    """Built-in topology files' names, sorted."""
    return sorted(p.name[:-5] for p in _shipped().iterdir() if p.name.endswith(".yaml"))


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
        raise InputError(f"unknown built-in topology {name!r}; {_did_you_mean(name)}"
                         f"`netplay topologies` lists them ({', '.join(names())}), or give a "
                         f"path to a YAML file{hint}")
    text = _shipped().joinpath(name + ".yaml").read_text(encoding="utf-8")
    return from_dict(parse_yaml(text, name), source=name)


def _did_you_mean(name):
    """'did you mean 'linear:3'? ' for a misspelled built-in (`linaer:3`, `hom`), or ''."""
    import difflib

    base, sep, params = name.partition(":")
    close = difflib.get_close_matches(base, names(), n=1)
    if not close:
        return ""
    # a generator keeps the parameters given; a file built-in takes none
    guess = close[0] + sep + params if close[0] in generators.GENERATORS else close[0]
    return f"did you mean {guess!r}? "


def describe(name):
    if name in generators.GENERATORS:
        return generators.GENERATORS[name][5]
    return load(name).description
