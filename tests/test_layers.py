"""The layers stay as drawn in docs/architecture.md: every import points down, none reaches
into another module's private names, there is no cycle, and only the command line imports
inside functions.

Read from the source with ast (module-level and function-level imports alike), so a wrong
import fails here naming its file:line, before it tangles the pipeline again.
"""

import ast
import pathlib

import pytest

import netplay

PACKAGE = pathlib.Path(netplay.__file__).parent

# The pipeline, bottom up: a module may import from its own folder and the folders before it.
LAYERS = ["core", "model", "load", "plan", "machine", "run", "observe", "check", "lab",
          "render", "api", "cli"]
# The package's own files: netplay/__init__.py (the version) is a leaf, __main__ the CLI's.
TOP = {"netplay": "core", "netplay.__main__": "cli"}
# Where a function-level import of netplay is allowed: the CLI imports each command's
# modules when it runs, so that `netplay --help` stays fast. (They still point down.)
LAZY_OK = ("cli",)
# The one import outside cli/ that may point up and run inside a function: the package's
# PEP 562 `__getattr__` hands out `netplay.Lab` (the Python API, api/) on first use, so
# that `import netplay` and `netplay --help` do not import every layer; the same import
# under TYPE_CHECKING gives type checkers the name. (module, function, imported module)
# (None: under TYPE_CHECKING at the top level.)
FRONT_DOOR = {("netplay", "__getattr__", "netplay.api.lab"),
              ("netplay", None, "netplay.api.lab")}


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module):
    """The folder (layer) a netplay module belongs to."""
    if module in TOP:
        return TOP[module]
    return module.split(".")[1]


def _resolve(name):
    """The netplay module an import names: `netplay.run.log` for `from netplay.run import
    log`, `netplay.run.log` for `from netplay.run.log import now`."""
    parts = name.split(".")
    while parts:
        candidate = PACKAGE.parent.joinpath(*parts)
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return None


class Imports(ast.NodeVisitor):
    """Every netplay import of one module: (line, imported module, names, in a function),
    the local names bound to netplay modules, and the modules imported only for type
    annotations (under `if TYPE_CHECKING:`, never run)."""

    def __init__(self, module):
        self.module, self.depth, self.typing_only = module, 0, False
        self.found, self.aliases, self.annotations_only = [], {}, set()
        self.functions = []  # the enclosing functions' names, outermost first
        self.front_door = []  # FRONT_DOOR imports: allowed, and never run at import time

    def visit_If(self, node):
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
                (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            self.typing_only = True
            for child in node.body:
                self.visit(child)
            self.typing_only = False
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def _add(self, line, target, names):
        function = self.functions[0] if self.functions else None
        if (self.module, function, target) in FRONT_DOOR and (function or self.typing_only):
            self.front_door.append((line, target))
            return
        self.found.append((line, target, names, self.depth > 0))
        if self.typing_only and target:
            self.annotations_only.add(target)

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name == "netplay" or alias.name.startswith("netplay."):
                self._add(node.lineno, _resolve(alias.name), [])

    def visit_ImportFrom(self, node):
        if node.level:
            self._add(node.lineno, None, ["relative import"])
            return
        if not node.module or not (node.module == "netplay"
                                   or node.module.startswith("netplay.")):
            return
        for alias in node.names:
            sub = _resolve(f"{node.module}.{alias.name}")
            if sub == f"{node.module}.{alias.name}":  # a module: from netplay.run import log
                self._add(node.lineno, sub, [])
                self.aliases[alias.asname or alias.name] = sub
            else:  # a name: from netplay.run.log import now
                self._add(node.lineno, _resolve(node.module), [alias.name])


def problems(module, source, where):
    """file:line: what is wrong, for each import of one module that breaks the layering."""
    tree = ast.parse(source)
    imports = Imports(module)
    imports.visit(tree)
    out, mine = [], layer(module)
    for line, target, names, lazy in imports.found:
        if target is None:
            out.append(f"{where}:{line}: use an absolute import (netplay.FOLDER.MODULE)")
            continue
        theirs = layer(target)
        if LAYERS.index(theirs) > LAYERS.index(mine):
            out.append(f"{where}:{line}: {mine}/ imports {target} from {theirs}/, a layer "
                       f"above it; move the code down or the caller up")
        for name in names:
            if name.startswith("_") and not name.startswith("__") and target != module:
                out.append(f"{where}:{line}: imports the private {target}.{name}; make it "
                           "public or keep it where it is used")
        if lazy and mine not in LAZY_OK:
            out.append(f"{where}:{line}: imports {target} inside a function; import it at "
                       "the top of the module (only cli/ imports lazily)")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in imports.aliases and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            out.append(f"{where}:{node.lineno}: uses the private "
                       f"{imports.aliases[node.value.id]}.{node.attr}; make it public")
    # what runs when the module is imported: annotation-only imports make no cycle
    runs = {t for _, t, _, _ in imports.found if t and t != module}
    return out, runs - imports.annotations_only


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield module_name(path), path.read_text(encoding="utf-8"), \
            f"netplay/{path.relative_to(PACKAGE).as_posix()}"


def cycles(graph):
    """Each import cycle of graph {module: {modules it imports}}, as a list of modules."""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def _parents(module):
    """A package's __init__ runs before any of its modules: importing netplay.run.log
    imports netplay.run; that edge is the import system's, not a choice."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_every_module_is_in_a_layer():
    for module, _, where in _modules():
        assert layer(module) in LAYERS, f"{where}: not in a layer folder {LAYERS}"


def test_imports_point_down_and_not_into_private_names():
    found = []
    for module, source, where in _modules():
        found += problems(module, source, where)[0]
    assert not found, "imports that break the layering:\n  " + "\n  ".join(found)


def test_no_import_cycles():
    graph = {}
    for module, source, _ in _modules():
        graph[module] = problems(module, source, "")[1] - _parents(module)
    assert not cycles(graph), f"import cycles: {cycles(graph)}"


@pytest.mark.parametrize("module, source, expected", [
    ("netplay.model.topology", "from netplay.run.runner import Runner\n",
     "netplay/x.py:1: model/ imports netplay.run.runner from run/, a layer above it"),
    ("netplay.check.verify", "from netplay.plan import build\nbuild._forwarding(n)\n",
     "netplay/x.py:2: uses the private netplay.plan.build._forwarding"),
    ("netplay.check.verify", "from netplay.plan.build import _forwarding\n",
     "netplay/x.py:1: imports the private netplay.plan.build._forwarding"),
    ("netplay.lab.status", "def f():\n    from netplay.check import verify\n",
     "netplay/x.py:2: imports netplay.check.verify inside a function"),
    ("netplay.run.runner", "from . import log\n", "netplay/x.py:1: use an absolute import"),
])
def test_the_check_sees_each_kind_of_wrong_import(module, source, expected):
    found, _ = problems(module, source, "netplay/x.py")
    assert any(f.startswith(expected) for f in found), found


def test_the_check_allows_what_the_layering_allows():
    ok = ("from netplay.core.errors import InputError\nfrom netplay.model import topology\n"
          "from netplay.plan.steps import Step\n")
    assert problems("netplay.run.runner", ok, "x")[0] == []
    lazy = "def main(args):\n    from netplay.lab import lifecycle\n"
    assert problems("netplay.cli.commands.run", lazy, "x")[0] == []


def test_imports_for_annotations_only_are_layered_but_make_no_cycle():
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
              "    from netplay.model.topology import Topology\n")
    found, runs = problems("netplay.model.impairment", source, "x")
    assert found == [] and runs == set()
    up = source.replace("netplay.model.topology import Topology", "netplay.run.log import StepLog")
    assert problems("netplay.model.impairment", up, "x")[0]


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_front_door_is_the_only_upward_import_of_the_package():
    lazy = "def __getattr__(name):\n    from netplay.api.lab import Lab\n"
    typing = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
              "    from netplay.api.lab import Lab\n")
    assert problems("netplay", lazy, "x") == ([], set())
    assert problems("netplay", typing, "x") == ([], set())
    eager = "from netplay.api.lab import Lab\n"
    assert problems("netplay", eager, "x")[0]  # at import time: core/ importing api/
    assert problems("netplay", lazy.replace("__getattr__", "helper"), "x")[0]
    assert problems("netplay.lab.status", lazy, "x")[0]
    assert problems("netplay", lazy.replace("api.lab", "cli.app"), "x")[0]


def test_importing_netplay_does_not_import_the_api_until_lab_is_used():
    import subprocess
    import sys

    code = ("import sys, netplay\n"
            "before = [m for m in sys.modules if m.startswith('netplay.') and "
            "m != 'netplay.core' and m != 'netplay.core.errors']\n"
            "lab = netplay.Lab\n"
            "print(before, lab.__module__, 'Lab' in dir(netplay))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["[]", "netplay.api.lab", "True"]
