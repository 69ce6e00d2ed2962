"""Progress events: what workers and the reducer report; counts in the display come only from these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunStarted:
    """The run has planned its work: what it will read and write, per variable."""

    model: str
    variables: tuple[str, ...]
    scenarios: tuple[str, ...]
    regions: tuple[str, ...]
    files_total: dict[str, int]
    normals_total: dict[str, int]
    member_normals: dict[str, int] = field(default_factory=dict)  # member label -> its outputs to write


@dataclass(frozen=True)
class FileRead:
    """A worker has read (and decompressed) one input file."""

    variable: str
    path: str
    bytes_read: int
    seconds: float


@dataclass(frozen=True)
class TaskStarted:
    """A worker began a task (for the display's 'workers busy' and 'now processing')."""

    pid: int  # the worker's process
    variable: str
    what: str  # the file or output it works on


@dataclass(frozen=True)
class TaskFinished:
    """A worker is free again."""

    pid: int


@dataclass(frozen=True)
class _OutputEvent:
    """Something that happened to one output: which one."""

    variable: str
    region: str
    scenario: str
    period: str
    target_year: int


@dataclass(frozen=True)
class NormalWritten(_OutputEvent):
    """An output file has landed (before the manifest records it)."""

    path: str
    seconds: float
    member: str = ""  # the member's label, "ensemble" for an ensemble output


@dataclass(frozen=True)
class NormalKept(_OutputEvent):
    """An output the run counted on writing is up to date after all (an ensemble whose members came out unchanged):
    it is done."""

    path: str
    member: str = ""


@dataclass(frozen=True)
class NormalSkipped(_OutputEvent):
    """An output will not be written, and why."""

    reason: str
    member: str = ""
    product: str = "daily"


@dataclass(frozen=True)
class Failure:
    """Something failed (a file, a year, a write; or the run as a whole, with no variable and no ``what``)."""

    variable: str
    what: str  # the file(s) or output at fault
    message: str


@dataclass(frozen=True)
class RunFinished:
    """The run is over."""

    seconds: float
    exit_code: int


T_Event = (
    RunStarted
    | TaskStarted
    | TaskFinished
    | FileRead
    | NormalWritten
    | NormalKept
    | NormalSkipped
    | Failure
    | RunFinished
)
T_EventSink = Callable[[T_Event], None]
