"""Running: steps executed on a machine in batches, recorded in a step log; labs' state
directory; checks of an untrusted log."""
