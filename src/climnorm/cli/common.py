"""What the CLI's modules share: exit codes, the console, argument types."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2


def console(stderr: bool = False) -> Console:
    """Rich output for people; without a terminal (CI, pipes) lines are not wrapped and tables get room."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=200)


def workers(value: str) -> int:
    """A number of processes or threads: at least 1."""
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n
