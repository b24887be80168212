"""Leaves: errors, names, host constants, address arithmetic, safe reading of user files.

Imports nothing else of netplay."""
