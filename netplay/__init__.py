"""netplay: virtual networks on Linux as recorded shell commands."""

__version__ = "0.1.0"
