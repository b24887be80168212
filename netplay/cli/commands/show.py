"""netplay show TOPOLOGY: the fully expanded topology, in netplay's own YAML.

Whatever `run` would build (a built-in, a generated topology, a YAML file, an imported
containerlab file) is printed as netplay's normalized topology: every default filled in,
every bridge port named. The output loads back unchanged, so it can be saved and edited.
"""

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = "print a topology fully expanded, in netplay's own YAML (to copy and edit)"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay show home > home.yaml',
    'netplay show --json linear:3',
]


def add_arguments(parser):
    parser.add_argument("topology", help="a built-in name (see `netplay topologies`) or a file "
                                         "(netplay's or containerlab's format)")
    parser.add_argument("--runtime", choices=["netns", "docker"],
                        help="show container nodes as namespaces or as containers")
    common.add_name_options(parser)
    parser.add_argument("--image",
                        help="the default image for docker nodes, as `run --image`")
    parser.add_argument("--json", action="store_true", help="print JSON instead of YAML")


def _scalar(value):
    return value is None or isinstance(value, (str, int, float, bool))


def render_yaml(data, header=""):
    """YAML that reads well: short mappings and lists of plain values on one line."""
    import yaml

    # libyaml's emitter writes the same text as the pure-Python one, several times faster
    # (leafspine:64,255,1: about 9 s of the whole `show` with the pure-Python emitter)
    class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
        pass

    def mapping(dumper, value):
        flat = all(_scalar(v) or (isinstance(v, list) and all(_scalar(x) for x in v))
                   for v in value.values())
        return dumper.represent_mapping("tag:yaml.org,2002:map", value,
                                        flow_style=flat and len(str(value)) <= 72)

    def sequence(dumper, value):
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value,
                                         flow_style=all(_scalar(x) for x in value))

    Dumper.add_representer(dict, mapping)
    Dumper.add_representer(list, sequence)
    body = yaml.dump(data, Dumper=Dumper, sort_keys=False, width=100, allow_unicode=False)
    return header + body


def main(args):
    topo = common.resolve_named(args)  # --name, --prefix: right after loading
    if args.runtime or args.image:
        from netplay.model.runtime import with_runtime

        topo = with_runtime(topo, args.runtime, args.image)
    topo = common.on_hosts(args, topo)  # placed on --hosts' machines, to pin or edit
    data = topo.to_dict()
    if args.json:
        common.print_json(data)
        return EXIT_OK
    from netplay.load.yamlfile import schema_uri

    spec = args.topology.replace("\n", " ")
    # first, as editors with yaml-language-server look for it: completion and checks
    header = (f"# yaml-language-server: $schema={schema_uri()}\n"
              f"# {topo.name}: expanded by `netplay show {spec}`.\n"
              "# Save it as a .yaml file, edit it, and build it with `netplay run FILE`.\n")
    print(render_yaml(data, header), end="")
    return EXIT_OK
