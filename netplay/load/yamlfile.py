"""Topology files: YAML read safely (size, depth, duplicate keys refused) into plain data,
and into a Topology; a mistake found in a file named by its line and column
(`FILE:LINE:COL: ...`); the JSON Schema of the format shipped beside this module.

PyYAML is imported on first use (about 13 ms): a JSON topology, which programs write for
big labs, is read by the C JSON decoder and never needs it (`netplay apply` of a 1000-node
lab), unless a mistake in it is to be positioned."""

import functools
import json
import re
from pathlib import Path

from netplay.core.errors import InputError
from netplay.core.userfile import (MAX_DEPTH, MAX_VALUES, TOPOLOGY_LIMIT, check_depth, read_bytes,
                                   too_big, too_deep)


@functools.lru_cache(maxsize=None)
def _strict_loader():
    """The loader class, made once, on the first YAML read (it subclasses PyYAML's)."""
    import yaml

    class _StrictLoader(yaml.SafeLoader):
        """safe_load that refuses duplicate keys instead of keeping the last one silently, and
        nesting deeper than userfile.MAX_DEPTH before composing it (PyYAML composes a node's
        children recursively: a file of 100000 `[` would exhaust Python's stack), and more
        than MAX_VALUES values (a dense 16 MiB file would take minutes and gigabytes)."""

        _depth = 0
        _values = 0
        source = "topology"  # the file's name, which each error starts with

        def at(self, mark):
            """FILE:LINE:COL of a position in the file (counted from 1, as editors do)."""
            return at(self.source, mark)

        def compose_node(self, parent, index):
            # a node below MAX_DEPTH + 1 collections is refused before it is composed;
            # check_depth refuses the rest (an empty collection that deep, aliases)
            if self._depth > MAX_DEPTH:
                raise too_deep(self.at(self.peek_event().start_mark))
            self._values += 1
            if self._values > MAX_VALUES:  # pure-Python YAML costs about 700 bytes a value
                raise InputError(f"{self.at(self.peek_event().start_mark)}: more than "
                                 f"{MAX_VALUES} values (netplay's largest generated topology "
                                 "has 400000); is this the right file?")
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                where = self.at(key_node.start_mark)
                if isinstance(key, (dict, list)):  # `{{}}: x`: YAML allows it, a name cannot be
                    raise InputError(f"{where}: a key must be a name, not a "
                                     f"{'mapping' if isinstance(key, dict) else 'list'}")
                if key in seen:
                    raise InputError(f"{where}: duplicate key {key!r}; each name may appear once")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return _StrictLoader


def at(source, mark):
    return f"{source}:{mark.line + 1}:{mark.column + 1}"


def _loader(text, source):
    loader = _strict_loader()(text)  # a SafeLoader: no object construction
    loader.source = source
    return loader


def _json_pairs(pairs):
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a duplicate key")  # the YAML path below names it and its line
    return out


def _as_json(text, source):
    """JSON text (a YAML file written by a program, often thousands of nodes) read by the
    C JSON decoder, many times faster than PyYAML's composer; None when the text is not
    plain JSON (or has a duplicate key), for the YAML path to read or refuse."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text, object_pairs_hook=_json_pairs)
    except (ValueError, RecursionError):
        return None
    check_depth(data, source, shared=False)
    return data


def parse_yaml(text, source):
    """YAML text to plain data, with the line and column of any syntax error in the
    message; data nested deeper than userfile.MAX_DEPTH (directly or through aliases) is
    refused."""
    data = _as_json(text, source)
    if data is not None:
        return data
    import yaml

    try:
        loader = _loader(text, source)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = at(source, mark) if mark else source
        raise InputError(f"{where}: malformed YAML: {err.problem}") from None
    except yaml.YAMLError as err:
        raise InputError(f"{source}: malformed YAML: {err}") from None
    except ValueError:  # an integer of more than 4300 digits (int()'s limit)
        raise InputError(f"{source}: a number in the file is too long to read (over 4300 "
                         "digits); no value of a topology needs more than a few") from None
    except RecursionError:  # not expected past the depth check: still one line
        raise too_deep(source) from None
    except MemoryError:
        raise too_big(source) from None
    check_depth(data, source)
    return data


def read_text(path, what="topology file", example="topo.yaml"):
    """A topology file's (or another YAML file's: `what`) text, or one line saying why it
    cannot be read (not a regular file, larger than userfile.TOPOLOGY_LIMIT, not UTF-8)."""
    data = read_bytes(path, what, TOPOLOGY_LIMIT, example=example)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: the {what} is not UTF-8 text") from None


def read_hosts_file(path):
    """The data of a hosts file (`--hosts FILE`), read as safely as a topology file."""
    return parse_yaml(read_text(path, "hosts file", "hosts.yaml"), path)


SCHEMA_FILE = Path(__file__).with_name("topology.schema.json")  # package data


def schema_uri():
    """The file:// URL of the topology format's JSON Schema installed with netplay (the
    text `netplay schema` prints), for `# yaml-language-server: $schema=URL` lines."""
    return SCHEMA_FILE.resolve().as_uri()


# --- where in a file a mistake is ----------------------------------------------------------

_INDEX = re.compile(r"\[([0-9]{1,9})\]")
_UNKNOWN_KEY = re.compile(r"unknown key ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def positioned(err, text, source):
    """err, a mistake the validator found in the file source (text), with the line and
    column of the value it names: `FILE: nodes.a.mtu: ...` becomes `FILE:7:12: nodes.a.mtu:
    ...`; an unknown key is pointed at itself, an item of a list at itself when the message
    starts with it. err as it is when its message names no place in the file (a value
    given through an alias is found at its anchor)."""
    message = str(err)
    if not message.startswith(f"{source}: "):
        return err
    rest = message[len(source) + 2:]
    path, sep, detail = rest.partition(": ")
    if not sep or " " in path:
        return err
    import yaml

    try:  # nodes with their marks; libyaml's composer is safe on text parse_yaml has read
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", _strict_loader()))
    except (yaml.YAMLError, InputError, RecursionError, MemoryError, ValueError):
        return err
    key, node, found, left = _walk(root, path)
    if not found:
        return err
    unknown = _UNKNOWN_KEY.match(detail)
    if unknown and not left and isinstance(node, yaml.MappingNode):
        key = next((k for k, _ in node.value if isinstance(k, yaml.ScalarNode)
                    and repr(k.value) == unknown[1]), None) or key
        node = None
    elif not left and isinstance(node, yaml.SequenceNode):
        node = next((i for i in node.value if isinstance(i, yaml.ScalarNode) and i.value
                     and detail.startswith((f"{i.value} ", f"{i.value!r} "))), node)
    mark = _mark(key, node)
    return InputError(f"{at(source, mark)}: {rest}") if mark else err


def _mark(key, node):
    """Where to point: at the value, unless it is empty (`mtu:` alone), then at its key."""
    import yaml

    if node is not None and not (isinstance(node, yaml.ScalarNode) and node.value == ""
                                 and key is not None):
        return node.start_mark
    return key.start_mark if key is not None else None


def _walk(node, path):
    """(key node, value node, how many steps were found, the rest of the path) along a
    validator's path such as `nodes.a.interfaces.eth0.addresses` or `links[2].endpoints`.
    Names may hold dots (eth0.100), so each step takes the longest key of the mapping that
    the path starts with."""
    import yaml

    key, found = None, 0
    while path and node is not None:
        if isinstance(node, yaml.SequenceNode):
            index = _INDEX.match(path)
            if not index or int(index[1]) >= len(node.value):
                break
            key, node, path = None, node.value[int(index[1])], path[index.end():]
        elif isinstance(node, yaml.MappingNode):
            step = max(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)
                        and _starts(path, k.value)), key=lambda kv: len(kv[0].value),
                       default=None)
            if step is None:
                break
            key, node, path = step[0], step[1], path[len(step[0].value):]
        else:
            break
        found += 1
        path = path[1:] if path.startswith(".") else path
    return key, node, found, path


def _starts(path, key):
    return path == key or path.startswith((key + ".", key + "["))
