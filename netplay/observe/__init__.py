"""Observing: facts read from a machine (ip, Docker, the kernel), each a command and a
parser. Nothing here changes a host."""
