"""The CLI's --json output: `json.dump(data, indent=2)` byte for byte, by a faster writer
(netplay.cli.commands.common.indented_json). Pure."""

import json

from hypothesis import given, settings, strategies as st

from netplay.cli.commands.common import indented_json

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
DATA = st.recursive(SCALARS, lambda inner: st.lists(inner) | st.tuples(inner, inner)
                    | st.dictionaries(st.text(), inner), max_leaves=40)


@settings(max_examples=500, deadline=None)
@given(DATA)
def test_the_json_written_is_what_the_standard_library_writes(data):
    assert indented_json(data) == json.dumps(data, indent=2)


def test_keys_that_are_not_text_are_written_as_the_standard_library_writes_them():
    data = {"checks": [{1: True, None: 2.5, 3.0: "x"}]}
    assert indented_json(data) == json.dumps(data, indent=2)
