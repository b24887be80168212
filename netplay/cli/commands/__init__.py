"""One module per CLI command, each with HELP, add_arguments(parser) and main(args).

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
