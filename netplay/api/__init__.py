"""The Python API (docs/api.md): `netplay.Lab`, and a pytest plugin (`pytest_plugin`)
with a `netplay_topology` marker and the `netplay_lab` and `netplay_host_unchanged`
fixtures. The top layer below the CLI: it may import every layer but cli/."""
