"""Checking: a host against what a topology needs (preflight), and a lab against its
topology (verify: expectations, routing simulation, pings)."""
