"""The machine seam: every access netplay makes to a host goes through a Machine.

base.Machine is the interface; local.LocalMachine is this host (plumbum's local machine);
fake.FakeMachine records and replays, for the runner's own tests. Importing this package
imports neither plumbum nor docker: `netplay --help` stays quick.
"""

from netplay.machine.base import (EXIT_NOT_FOUND, Machine, Outcome, Reply, Request, Target,
                                  check_argv)

__all__ = ["EXIT_NOT_FOUND", "Machine", "Outcome", "Reply", "Request", "Target", "check_argv"]
