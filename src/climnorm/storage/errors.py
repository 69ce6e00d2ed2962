"""Errors of the object-storage layer: one `StorageError` for a listing or a bucket, `InputFileError` for one object."""

from __future__ import annotations

from climnorm.errors import ClimnormError, InputFileError

__all__ = ["InputFileError", "StorageError"]


class StorageError(ClimnormError):
    """A prefix or bucket cannot be listed (missing bucket, access denied, server unreachable); names the URL."""

    def __init__(self, url: object, problem: str) -> None:
        self.url = str(url)
        self.problem = problem
        super().__init__(f"{self.url}: {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return (type(self), (self.url, self.problem))
