"""What the CLI's modules share: exit codes, the console, argument types."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def output_location(value: str) -> Path | str:
    """An output directory on the command line: a local path, or an ``s3://`` prefix (kept as it is)."""
    from climnorm.storage.urls import is_s3_url

    return value if is_s3_url(value) else Path(value)


def local_output_dir(value: str) -> Path:
    """An output directory a command reads on local disk (an ``s3://`` prefix is refused, saying what to do)."""
    from climnorm.storage.urls import is_s3_url

    if is_s3_url(value):
        raise argparse.ArgumentTypeError(
            f"{value}: this command reads a local output directory; copy the outputs here first "
            "(aws s3 sync PREFIX DIR); verify and climnorm.open_normals read a bucket"
        )
    return Path(value)
