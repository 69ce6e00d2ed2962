"""The dask engine's shared-filesystem check: every worker must see the local inputs and the output directory as
this process does, before any task runs. Inputs on object storage need no shared disk: with only those, the
workers do not write the outputs either (the client lands them), and the check only asks that climnorm runs."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from climnorm import __version__
from climnorm._atomic import TMP_MARK
from climnorm.errors import ClimnormError

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

#: dask's nannies start workers with MALLOCTRIM_THRESHOLD_=65536, which turns off glibc's dynamic mmap
#: threshold: every buffer of a few MB a read allocates per day is then mapped and unmapped again, and a read of
#: a 0.25° file costs about twice the CPU (measured: 2.2-2.6 s instead of 1.1-1.3 s). climnorm's LocalCluster
#: leaves it unset; on other clusters the check below says so (docs/cluster.md shows the setting).
TRIM = "MALLOCTRIM_THRESHOLD_"


@dataclasses.dataclass(frozen=True)
class SharedCheck:
    """What every worker must see as this process does: input directories, some input files with their sizes,
    and the output directory (a marker file with this run's token, and the right to create files there)."""

    input_dirs: tuple[str, ...]
    samples: tuple[tuple[str, int], ...]
    output_dir: str | None  # None: the workers never touch the output directory (outputs land through the client)
    marker: str
    token: str

    def run(self) -> str | None:
        """None when this process sees everything; otherwise the first problem, in one line."""
        for directory in self.input_dirs:
            if not os.path.isdir(directory):
                return f"cannot see input directory {directory} ({_why_missing(directory)})"
        for path, size in self.samples:
            try:
                seen = os.stat(path).st_size
            except OSError as err:
                return f"cannot see input file {path} ({err.strerror or err})"
            if seen != size:
                return f"sees input file {path} with {seen} bytes, not {size}: not the same file"
        if self.output_dir is None:
            return None
        if not os.path.isdir(self.output_dir):
            return f"cannot see output directory {self.output_dir} ({_why_missing(self.output_dir)})"
        try:
            with open(self.marker) as fh:
                token = fh.read().strip()
        except OSError as err:
            return f"cannot see the marker file {self.marker} this run wrote ({err.strerror or err})"
        if token != self.token:
            return f"sees another folder at {self.output_dir} (the marker file there is not this run's)"
        name = f".dask-probe-{self.token}-{socket.gethostname()}-{os.getpid()}{TMP_MARK}"
        probe = os.path.join(self.output_dir, name)
        try:
            with open(probe, "w") as fh:
                fh.write("climnorm\n")
            os.unlink(probe)
        except OSError as err:
            return f"cannot write to output directory {self.output_dir} ({err.strerror or err})"
        return None


def _why_missing(path: str) -> str:
    try:
        os.stat(path)
    except OSError as err:
        return err.strerror or str(err)
    return "not a directory"


def _check_worker(check: SharedCheck) -> tuple[str | None, str, str, str | None]:
    """Run on each worker before the run: (problem or None, climnorm version, host name, MALLOCTRIM_THRESHOLD_)."""
    return check.run(), __version__, socket.gethostname(), os.environ.get(TRIM)


def sample_inputs(input_dirs: list[Path | str], per_dir: int) -> tuple[tuple[str, int], ...]:
    """The first few files (in name order, depth first) under each input directory, with their sizes."""
    found: list[tuple[str, int]] = []
    for root in input_dirs:
        if isinstance(root, str):
            continue  # an s3:// prefix: nothing to share
        taken = 0
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                path = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    found.append((path, os.stat(path).st_size))
                    taken += 1
                if taken >= per_dir:
                    break
            if taken >= per_dir:
                break
    return tuple(found)


def preflight(client: Client, check: SharedCheck) -> None:
    """Every connected worker must see the inputs and the output directory; raise one line if one does not."""
    results = client.run(_check_worker, check, on_error="return")
    problems: list[str] = []
    trimmed = 0
    for address, result in sorted(results.items()):
        if isinstance(result, BaseException):
            problems.append(
                f"dask worker {address} cannot run climnorm's check ({type(result).__name__}: {result}); "
                f"install climnorm {__version__} in the workers' environment"
            )
            continue
        problem, version, host, trim = result
        trimmed += trim is not None
        if problem is not None:
            problems.append(
                f"dask worker {address} (host {host}) {problem}: inputs and outputs must be on a filesystem every "
                "worker shares, at the same paths (see docs/cluster.md)"
            )
        elif version != __version__:
            log.warning("dask worker %s runs climnorm %s, this process %s", address, version, __version__)
    if problems:
        more = f" (and {len(problems) - 1} more worker(s) with problems)" if len(problems) > 1 else ""
        raise ClimnormError(problems[0] + more)
    if trimmed:
        log.warning(
            "%d of %d dask workers run with %s set (dask's default), which about doubles the CPU a read costs; "
            "start them with distributed.nanny.pre-spawn-environ.%s: null in their dask configuration "
            "(docs/cluster.md)",
            trimmed,
            len(results),
            TRIM,
            TRIM,
        )
