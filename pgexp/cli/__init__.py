"""The ``pgexp`` command line."""

from pgexp.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
