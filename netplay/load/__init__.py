"""Loading: a topology from YAML, from containerlab files, or from the built-ins.

Reads the user's files (through netplay.core.userfile); builds netplay.model values."""
