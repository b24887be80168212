"""Lab operations: up, down, replay, link changes, clean, status, doctor; each one
composes load, plan, run, observe and check."""
