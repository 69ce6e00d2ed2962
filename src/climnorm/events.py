"""Progress events: what workers and the reducer report; counts in the display come only from these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RunStarted:
    model: str
    variables: tuple[str, ...]
    scenarios: tuple[str, ...]
    regions: tuple[str, ...]
    files_total: dict[str, int]
    normals_total: dict[str, int]


@dataclass(frozen=True)
class FileRead:
    variable: str
    path: str
    bytes_read: int
    seconds: float


@dataclass(frozen=True)
class TaskStarted:
    """A worker began a task (for the display's 'workers busy' and 'now processing')."""

    pid: int
    variable: str
    what: str


@dataclass(frozen=True)
class TaskFinished:
    pid: int


@dataclass(frozen=True)
class NormalWritten:
    variable: str
    region: str
    scenario: str
    period: str
    target_year: int
    path: str
    seconds: float


@dataclass(frozen=True)
class NormalSkipped:
    variable: str
    region: str
    scenario: str
    period: str
    target_year: int
    reason: str


@dataclass(frozen=True)
class Failure:
    variable: str
    what: str
    message: str


@dataclass(frozen=True)
class RunFinished:
    seconds: float
    exit_code: int


T_Event = RunStarted | TaskStarted | TaskFinished | FileRead | NormalWritten | NormalSkipped | Failure | RunFinished
T_EventSink = Callable[[T_Event], None]


def ignore(_event: T_Event) -> None:
    """The sink used when nobody listens."""
