"""The ``climnorm`` command: each subcommand one call into the Python API (`climnorm.cli.main`)."""

from __future__ import annotations

from climnorm.cli.main import build_parser, entry_point, main

__all__ = ["build_parser", "entry_point", "main"]
