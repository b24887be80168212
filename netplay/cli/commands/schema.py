"""netplay schema: the topology file format as a JSON Schema (draft 2020-12), for editors.

The schema is built from the validator's own keys (netplay.model.schema). The same text
ships in the package (netplay/load/topology.schema.json), which the first line of
`netplay show`'s output names for editors that read `# yaml-language-server: $schema=`.
"""

from netplay.core.errors import EXIT_OK

HELP = "print the JSON Schema of topology files (for editors' completion and checks)"
EXAMPLES = [  # the epilog of --help: real command lines
    "netplay schema > topology.schema.json",
]


def add_arguments(parser):
    pass  # nothing to choose: one format, one schema


def main(args):
    from netplay.model.schema import schema_text

    print(schema_text(), end="")
    return EXIT_OK
