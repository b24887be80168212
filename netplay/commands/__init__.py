"""One module per CLI command, each with HELP, add_arguments(parser) and main(args).

Modules are imported only when their command runs (cli.py reads HELP without importing
anything heavy), so `netplay --help` stays fast. Add a command by adding its module name.
"""

COMMANDS = ["run", "down", "topologies"]
