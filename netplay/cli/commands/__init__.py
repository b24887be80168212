"""One module per CLI command, each with HELP, add_arguments(parser) and main(args).
EXAMPLES (1-3 real command lines) ends its --help; completion, the man page and the
NETPLAY_* defaults of its options come from the parser with nothing more to add.

Modules are imported only when their command runs (cli.py reads HELP without importing
anything heavy), so `netplay --help` stays fast. Add a command by adding its module name.
"""

COMMANDS = ["run", "down", "topologies"]
COMMANDS += ["replay", "export"]  # issue 4: replaying and exporting step logs
COMMANDS += ["verify", "status", "exec", "graph", "capture"]  # issue 5: observing labs
COMMANDS += ["clean"]  # issue 8: leftovers found by ownership marks
COMMANDS += ["show", "doctor", "completion"]  # issue 9: expanded topologies, host checks, shell completion
COMMANDS += ["link"]  # issue 6: link impairments changed at run time
COMMANDS += ["ping"]  # issue 18: ping one node from another by name
COMMANDS += ["shell", "perf"]  # issue 18: a shell in a node, iperf3 throughput between nodes
COMMANDS += ["schema"]  # issue 18: the topology format as a JSON Schema, for editors
COMMANDS += ["apply", "diff"]  # issue 16: change a running lab in place
