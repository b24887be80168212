"""netplay: virtual networks on Linux as recorded shell commands.

`from netplay import Lab` is the Python API (netplay/api/lab.py, docs/api.md). Lab is
imported on first use (PEP 562's module __getattr__), so that `import netplay` and
`netplay --help` stay as cheap as the version and the error classes.
"""

from typing import TYPE_CHECKING, Any, List

from netplay.core.errors import NetplayError, StepFailed, UsageError

if TYPE_CHECKING:  # for type checkers only: at run time __getattr__ imports it
    from netplay.api.lab import Lab

__version__ = "0.1.0"
__all__ = ["Lab", "NetplayError", "StepFailed", "UsageError", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Lab":
        from netplay.api.lab import Lab  # the one lazy import outside cli/ (test_layers)

        return Lab
    raise AttributeError(f"module 'netplay' has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | {"Lab"})
