"""The exceptions climnorm raises; each message names the thing at fault and, where possible, the fix."""

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


class RunInterrupted(ClimnormError):
    """The run was stopped (Ctrl-C); what finished is recorded and the next run resumes from there."""

    def __init__(self, summary: Any) -> None:
        self.summary = summary
        super().__init__(f"interrupted after {summary.written} normals were written; run again to resume")
