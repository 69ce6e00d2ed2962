"""Every exception climnorm raises on purpose; each message names the thing at fault and, where possible, the fix."""

from __future__ import annotations

from typing import Any


class ClimnormError(Exception):
    """Base class of every error climnorm raises on purpose."""


class ConfigError(ClimnormError):
    """The configuration is invalid; raised before any work starts."""


class CatalogError(ClimnormError):
    """The input archive cannot be catalogued (no directory, no files, ...)."""


class InputFileError(ClimnormError):
    """One input file cannot be used; the run goes on without it."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return (type(self), (self.path, self.problem))


class OutputError(ClimnormError):
    """An output cannot be written or verified."""


class ClusterLost(OutputError):
    """The dask scheduler went away (or cancelled the run's tasks) mid-run.

    Handled as a full disk is: the run stops, the outputs written so far stay recorded in the manifest, the
    summary says why, exit code 1; running again resumes.
    """


class RunLocked(ClimnormError):
    """Another climnorm run holds the output directory."""


class RunInterrupted(ClimnormError):
    """The run was stopped (Ctrl-C); what finished is recorded and the next run resumes from there."""

    def __init__(self, summary: Any) -> None:
        self.summary = summary
        super().__init__(f"interrupted after {summary.written} normals were written; run again to resume")


class WorkerCrashed(ClimnormError):
    """A worker process died each time it ran the same task (killed, or out of memory)."""


class TaskMemoryError(ClimnormError):
    """A task needed more memory than `max_memory_per_worker_gb` allows."""


class PlotError(ClimnormError):
    """A picture cannot be made (no such output, missing matplotlib, bad choice of day or season)."""


class ZonalError(ClimnormError):
    """Polygons, a grid or an output cannot be aggregated to polygons; the message says which and why, in one line."""


class ZonalExtraMissing(ZonalError, ImportError):
    """The zonal extra (shapely, pyogrio, pyproj, scipy, pandas, pyarrow) is not installed; the message says how
    to install it. Also an ImportError, so optional uses (outlines on a map) can skip quietly."""


class DatasetError(ClimnormError):
    """The normals asked of an output directory are not there, or cannot be put together (`outputs.datasets`)."""


class OutputNotFound(ClimnormError):
    """No output of an output directory matches what was asked for; the message names what there is."""
