"""The command line: argument parsing (app), one module per command (commands/), shell
completion and progress display. `netplay.cli:main` is the console entry point."""

from netplay.cli.app import main

__all__ = ["main"]
