"""Topology files: YAML read safely (size, depth, duplicate keys refused) into plain data,
and into a Topology."""

import yaml

from netplay.core.errors import InputError
from netplay.core.userfile import (MAX_DEPTH, MAX_VALUES, TOPOLOGY_LIMIT, check_depth, read_bytes,
                                   too_big, too_deep)


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses duplicate keys instead of keeping the last one silently, and
    nesting deeper than userfile.MAX_DEPTH before composing it (PyYAML composes a node's
    children recursively: a file of 100000 `[` would exhaust Python's stack), and more
    than MAX_VALUES values (a dense 16 MiB file would take minutes and gigabytes)."""

    _depth = 0
    _values = 0

    def compose_node(self, parent, index):
        # a node below MAX_DEPTH + 1 collections is refused before it is composed;
        # check_depth refuses the rest (an empty collection that deep, aliases)
        if self._depth > MAX_DEPTH:
            raise too_deep(f"line {self.peek_event().start_mark.line + 1}")
        self._values += 1
        if self._values > MAX_VALUES:  # pure-Python YAML costs about 700 bytes a value
            raise InputError(f"line {self.peek_event().start_mark.line + 1}: more than "
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
            line = key_node.start_mark.line + 1
            if isinstance(key, (dict, list)):  # `{{}}: x`: YAML allows it, a name cannot be
                raise InputError(f"line {line}: a key must be a name, not a "
                                 f"{'mapping' if isinstance(key, dict) else 'list'}")
            if key in seen:
                raise InputError(f"line {line}: duplicate key {key!r}; each name may appear once")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text, source):
    """YAML text to plain data, with the line of any syntax error in the message; data
    nested deeper than userfile.MAX_DEPTH (directly or through aliases) is refused."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no object construction
    except InputError as err:
        raise InputError(f"{source}: {err}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise InputError(f"{source}: malformed YAML at {where}: {err.problem}") from None
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

