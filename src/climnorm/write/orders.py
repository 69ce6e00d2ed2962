"""What a write task carries to a worker: the normal's values, its grid, what its file says about itself, and how
it is stored; and the same for an ensemble output, which reads its members' files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from climnorm.numerics.changes import DETRENDED_STD, T_ChangeKind
from climnorm.products import DaySlots, FileProduct
from climnorm.storage.options import StorageOptions
from climnorm.types import Region, RegionCut, T_LeapDay, Target

if TYPE_CHECKING:
    from climnorm.numerics.smoothing import Smoothing

DAILY_FILE = FileProduct("daily", "daily climate normal", DaySlots())
"""The daily normal's file (what a normal of no other product is)."""


@dataclass(frozen=True)
class NormalMeta:
    """What an output file says about itself (and what `climnorm verify` checks)."""

    target: Target
    region: Region
    years: tuple[int, ...]  # the window years the normal was computed from
    source_scenarios: tuple[str, ...]
    calendar: str
    leap_day: T_LeapDay
    var_attrs: tuple[tuple[str, str], ...]
    inputs_digest: str
    product: FileProduct = DAILY_FILE  # what the file says of its product (its layout, title, attributes)

    @property
    def variable(self) -> str:
        """The file's data variable: the chain's variable, or the product's own name (an indicator's id)."""
        return self.product.data_name or self.target.variable

    @property
    def window(self) -> range:
        return range(self.target.window[0], self.target.window[-1] + 1)


@dataclass(frozen=True)
class Encoding:
    """How output variables are stored: zlib (with shuffle) at a level, one day slot per chunk."""

    zlib: bool = True
    complevel: int = 1
    shuffle: bool = True

    def variable(self, shape: tuple[int, ...]) -> dict[str, Any]:
        """``createVariable`` keywords for a variable of ``shape`` (slots first)."""
        if not self.zlib:
            return {"zlib": False}
        return {"zlib": True, "complevel": self.complevel, "shuffle": self.shuffle, "chunksizes": (1, *shape[1:])}


@dataclass(frozen=True)
class WriteTask:
    """One normal to write (``finish``: what the writer does to it first, in the worker: a smoothing)."""

    path: str
    normal: np.ndarray
    grid: RegionCut
    meta: NormalMeta
    encoding: Encoding
    finish: Smoothing | None = None
    extras: tuple[tuple[str, np.ndarray], ...] = ()  # window statistics besides the mean, by statistic name

    @property
    def nbytes(self) -> int:
        return int(self.normal.nbytes) + sum(int(v.nbytes) for _, v in self.extras)


@dataclass(frozen=True)
class EnsembleMember:
    """One member output an ensemble output is computed from."""

    label: str
    path: str  # the member's output file
    calendar: str
    leap_day: T_LeapDay


@dataclass(frozen=True)
class EnsembleTask:
    """One ensemble output to compute from its members' output files and write."""

    path: str
    variable: str
    members: tuple[EnsembleMember, ...]
    statistics: tuple[str, ...]
    min_members: int
    window: tuple[int, int]  # first and last year of the window
    attrs: tuple[tuple[str, Any], ...]  # the file's global attributes besides the common ones
    encoding: Encoding
    product: FileProduct = DAILY_FILE
    window_statistics: tuple[str, ...] = ()  # the members' statistics of their windows' years besides the mean
    storage: StorageOptions | None = None  # how to reach the members' outputs in a bucket


@dataclass(frozen=True)
class Written:
    """What writing one output produced: its file's size, its data checksum, how long it took, and, when a worker
    that shares no disk with the run wrote it, the file's bytes for the run to land."""

    size: int
    checksum: str
    seconds: float
    data: bytes | None = None


@dataclass(frozen=True)
class ZarrTarget:
    """Where one target's output goes in the ``zarr`` layout: its chain's store (an absolute path, or an ``s3://``
    URL reached with ``storage``), its target year, the store's target years (its ``target_year`` dimension), and the
    configured compression."""

    store: str
    year: int
    years: tuple[int, ...]
    encoding: Encoding = Encoding()
    storage: StorageOptions | None = None
    run: str = ""  # the run's token: a process opens a store's metadata once per run (write.zarr_chain)


@dataclass(frozen=True)
class ChangeTask:
    """One change file to write from a member's output file of a target and of the baseline."""

    path: str
    variable: str  # the files' data variable: the chain's variable, or an indicator's id
    target_path: str
    baseline_path: str
    kind: T_ChangeKind
    baseline: tuple[int, int]  # the baseline window's first and last year
    encoding: Encoding
    key: tuple[str, str, str, str, int] = ("", "", "", "", 0)  # the normal's (variable, region, scenario, ...)
    member: str = ""  # the member's label
    storage: StorageOptions | None = None  # how to reach the outputs in a bucket


@dataclass(frozen=True)
class EnsembleChangeTask:
    """One ensemble change file to compute from its members' change files (``ensemble.variable``: their
    ``{name}_change``), with the AR6 robustness when asked (``significant``, ``agreement``: its fractions)."""

    path: str  # where it is written (the ensemble task's path is what it was planned as)
    ensemble: EnsembleTask
    robustness: bool
    significant: float
    agreement: float
    kind: T_ChangeKind = "additive"
    baseline: tuple[int, int] = (0, 0)  # the baseline window's first and last year


def change_variable(name: str) -> str:
    """The variable of a change in its file: ``tas_change``, ``tx_ge_90F_change``."""
    return f"{name}_change"


def baseline_sigma_variable(name: str) -> str:
    """The baseline's detrended interannual standard deviation in a change file."""
    return f"{name}_baseline_{DETRENDED_STD}"


def agree_variable(name: str) -> str:
    """``{name}_change_agree``: the largest of the fractions of members with a positive, negative and no change."""
    return f"{name}_agree"


def significant_variable(name: str) -> str:
    """``{name}_change_significant``: the fraction of members whose change is significant."""
    return f"{name}_significant"


def robustness_variable(name: str) -> str:
    """``{name}_change_robustness``: the IPCC AR6 category (CF flags)."""
    return f"{name}_robustness"
