"""What the manifest says of one output: a frozen :class:`OutputRecord`, to and from the manifest's JSON (whose
schema is unchanged: docs/normals.md, "Outputs")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, NamedTuple

ENSEMBLE = "ensemble"
"""The ``model`` of an ensemble output."""

IMPLICIT_PRODUCT = "daily"
"""The product of a record without a ``product`` field (records from before products were daily normals)."""

_INT_KEYS = ("target_year", "window_years")


@dataclass(frozen=True)
class MemberOutput:
    """One member output an ensemble output was computed from, as it was then (its checksum)."""

    member: str
    path: str
    checksum: str

    def to_json(self) -> dict[str, Any]:
        return {"member": self.member, "path": self.path, "checksum": self.checksum}


class RecordState(NamedTuple):
    """What resume compares of a recorded output, without its whole record: its configuration's fingerprint, its
    file's size and data checksum, and its inputs as the manifest's packed ids (a tuple: a plan reads 10^6)."""

    path: str
    fingerprint: str
    size: int | None
    checksum: str | None
    inputs: bytes


class ComposedState(NamedTuple):
    """What resume compares of a recorded output made of outputs (an ensemble's, a change's), without its whole
    record: its configuration's fingerprint, its file's size, and the outputs it was made of as (member, path,
    checksum), in order."""

    fingerprint: str
    size: int | None
    member_outputs: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class OutputRecord:
    """One output: what it is, what it was computed from and (once landed) its size and data checksum.

    ``inputs``: the input files as the catalog listed them (path, size, mtime, an object's etag), what resume
    compares; an ensemble output has none and lists its ``member_outputs`` instead. ``extra``: fields a later
    version of climnorm wrote, kept as they are. ``name``: the data variable of its file where that is not the
    variable (an indicator's id); ``indicator``: the configuration entry an indicator's product was made from.
    """

    path: str
    variable: str
    region: str
    scenario: str
    period: str
    target_year: int
    window_years: int
    model: str
    variant: str
    calendar: str
    leap_day: str
    fingerprint: str = ""
    years: tuple[int, ...] = ()
    missing_years: tuple[int, ...] = ()
    inputs: tuple[Mapping[str, Any], ...] = ()
    product: str = IMPLICIT_PRODUCT
    size: int | None = None
    checksum: str | None = None
    statistics: tuple[str, ...] = ()  # an ensemble output's statistics, in the file's order
    min_members: int | None = None
    members: tuple[str, ...] = ()
    member_outputs: tuple[MemberOutput, ...] = ()
    name: str = ""
    indicator: Mapping[str, Any] | None = None
    window_statistics: tuple[str, ...] = ()  # the file's statistics of the window's years besides the mean
    change: str = ""  # a change file's kind (additive, relative); its member_outputs: the normal and the baseline's
    baseline: tuple[int, ...] = ()  # a change's baseline window: first and last year
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def data_name(self) -> str:
        """The data variable of its file (an ensemble file's statistics are named after it)."""
        return self.name or self.variable

    @property
    def is_ensemble(self) -> bool:
        return self.model == ENSEMBLE

    @property
    def is_change(self) -> bool:
        """A change file (a normal against its baseline's), which readers of normals leave out."""
        return bool(self.change)

    @property
    def member(self) -> str:
        """Whose output it is: "ensemble", or the model and variant ("ACCESS-CM2 r1i1p1f1")."""
        return ENSEMBLE if self.is_ensemble else f"{self.model} {self.variant}".strip()

    def landed(self, size: int, checksum: str) -> OutputRecord:
        """The record of the output once its file is written."""
        return replace(self, size=size, checksum=checksum)

    def value(self, key: str) -> Any:
        """A field by its manifest name (``product`` is always set)."""
        return getattr(self, key) if key in _FIELDS else self.extra.get(key)

    def to_json(self) -> dict[str, Any]:
        """The manifest's JSON object of the record."""
        data: dict[str, Any] = dict(self.extra)
        data.update(
            path=self.path,
            variable=self.variable,
            region=self.region,
            scenario=self.scenario,
            period=self.period,
            target_year=self.target_year,
            window_years=self.window_years,
            years=list(self.years),
            missing_years=list(self.missing_years),
            model=self.model,
            variant=self.variant,
            calendar=self.calendar,
            leap_day=self.leap_day,
            inputs=[dict(i) for i in self.inputs],
            fingerprint=self.fingerprint,
        )
        if self.product != IMPLICIT_PRODUCT:
            data["product"] = self.product
        if self.name:
            data["name"] = self.name
        if self.indicator is not None:
            data["indicator"] = dict(self.indicator)
        if self.window_statistics:
            data["window_statistics"] = list(self.window_statistics)
        if self.size is not None:
            data["size"] = self.size
        if self.checksum is not None:
            data["checksum"] = self.checksum
        if self.is_ensemble:
            data.update(
                statistics=list(self.statistics),
                min_members=self.min_members,
                members=list(self.members),
                member_outputs=[m.to_json() for m in self.member_outputs],
            )
        if self.is_change:
            data.update(
                change=self.change,
                baseline=list(self.baseline),
                member_outputs=[m.to_json() for m in self.member_outputs],
            )
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutputRecord:
        """A record from the manifest's JSON object; KeyError or ValueError when a field it needs is missing or
        malformed."""
        absent = [k for k in _REQUIRED if k not in data]
        if absent:
            raise KeyError(", ".join(absent))
        known = {k: data[k] for k in _FIELDS if k in data and k != "extra"}
        for key in _INT_KEYS:
            known[key] = int(data[key])
        for key in ("years", "missing_years", "baseline"):
            known[key] = tuple(int(y) for y in data.get(key, ()))
        for key in ("statistics", "members", "window_statistics"):
            known[key] = tuple(str(s) for s in data.get(key, ()))
        known["inputs"] = tuple(dict(i) for i in data.get("inputs", ()))
        if known.get("indicator") is not None:
            known["indicator"] = dict(known["indicator"])
        known["member_outputs"] = tuple(
            MemberOutput(str(m["member"]), str(m["path"]), str(m["checksum"])) for m in data.get("member_outputs", ())
        )
        extra = {k: v for k, v in data.items() if k not in _FIELDS}
        return cls(**known, extra=extra)


_FIELDS = frozenset(f.name for f in fields(OutputRecord))
_REQUIRED = tuple(f.name for f in fields(OutputRecord) if f.default is MISSING and f.default_factory is MISSING)


STORE_SUFFIX = ".zarr"
"""The suffix of a chain's store in the ``zarr`` output layout, whose targets are addressed as ``….zarr#2040``."""


def in_store(path: str | os.PathLike[str]) -> bool:
    """Whether an output path addresses a target in a store (``….zarr#2040``, the ``zarr`` layout), not a file."""
    return f"{STORE_SUFFIX}#" in os.fspath(path)


def store_and_year(path: str | os.PathLike[str]) -> tuple[str, int]:
    """A target's store and year, from its path ``….zarr#2040``."""
    store, _, year = os.fspath(path).rpartition("#")
    return store, int(year)


def target_in_store(files_path: str, year: int) -> str:
    """A target's path in the ``zarr`` layout from its chain's path as a file (named without the target year):
    ``…/tas_M_CONUS_ssp245_30yr_monthly_normal.nc`` → ``…/tas_M_CONUS_ssp245_30yr_monthly_normal.zarr#2040``."""
    stem = files_path[: -len(".nc")] if files_path.endswith(".nc") else files_path
    return f"{stem}{STORE_SUFFIX}#{year}"


def output_entry(path: str) -> str:
    """What is there of an output in its folder: its file, or its chain's store (``….zarr#2040``: ``….zarr``)."""
    return store_and_year(path)[0] if in_store(path) else path


def folder_names(folder: str | os.PathLike[str]) -> frozenset[str]:
    """The names in a local folder (none when there is no such folder)."""
    try:
        return frozenset(os.listdir(folder))
    except OSError:
        return frozenset()
