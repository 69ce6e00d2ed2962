"""File names: which of the recognised archive naming schemes a name follows, and what it claims.

The catalog works from names only, so this is the grammar of every form it reads (docs/real-data.md):

- NEX-GDDP-CMIP6, one file per year: ``{var}_day_{model}_{scenario}_{variant}_{grid}_{YYYY}[_v1.1|_v2.0].nc``
  (naming ``"nex"``); extra label tokens after the grid (bias-adjusted products such as
  ``..._na10kgrid_qm-moving-50bins-detrend_2095.nc``) are kept in ``grid``. The original NEX-GDDP (CMIP5)
  form ``{var}_day_BCSD_{scenario}_{ensemble}_{model}_{YYYY}.nc`` is read too.
- CMIP6: ``{var}_{table}_{model}_{experiment}_{variant}_{grid}_{start}-{end}.nc`` (naming ``"cmip6"``),
  dates as YYYY, YYYYMM, YYYYMMDD (optionally with hhmm[ss]), or a single date. Decadal-prediction variants
  keep their sub-experiment: ``s1961-r6i2p1f1``.
- CMIP5: ``{var}_{table}_{model}_{experiment}_{ensemble}_{start}-{end}.nc``, no grid label (``"cmip5"``).
- CORDEX: ``{var}_{domain}_{driving}_{experiment}_{ensemble}_{rcm}_{rcm_version}_{freq}_{start}-{end}.nc``
  (``"cordex"``); the model is ``{driving}_{rcm}``, the RCM version is kept in ``rcm_version`` (it is not a
  data version).

Anything else ending in ``.nc``/``.nc4`` (CMIP3 dotted names, station files such as ``ahccd_1950-2013.nc``,
names with impossible dates, monthly tables) gets a one-line reason from :func:`unparsed_reason`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from climnorm.storage.urls import ObjectPath

__all__ = [
    "NAMINGS",
    "NC_SUFFIXES",
    "ChainKey",
    "Date",
    "FileEntry",
    "parse_entry",
    "parse_filename",
    "unparsed_reason",
    "version_rank",
]

Date = tuple[int, int, int]
"""(year, month, day) as written in a file name; day may be 30 in February (360_day calendars)."""

NC_SUFFIXES: tuple[str, ...] = (".nc", ".nc4")
NAMINGS: tuple[str, ...] = ("nex", "cmip6", "cmip5", "cordex")

_VERSION_RE = re.compile(r"v(\d+(?:\.\d+)*)")
_DATES_RE = re.compile(r"(\d{4,14})(?:-(\d{4,14}))?")
_VARIABLE_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")  # model, experiment, table, grid tokens: no underscores
_VARIANT_RE = re.compile(r"(?:[A-Za-z][A-Za-z0-9]*-)?r\d+i\d+p\d+(?:f\d+)?")  # s1961-r6i2p1f1, r1i1p1
_ENSEMBLE_RE = re.compile(r"r\d+i\d+p\d+")  # CMIP5 / CORDEX
_DOMAIN_RE = re.compile(r"[A-Z]{3}-\d{2}i?")  # CORDEX domain: NAM-22, EUR-11, EUR-44i
# Latest day a month can have in any CF calendar (Feb 30 exists in 360_day): used to validate dates.
_MAX_DAY = (0, 31, 30, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_NOT_DAILY = ("mon", "yr", "fx", "clim", "dec", "sem")


@dataclass(frozen=True, order=True)
class ChainKey:
    """Identity of a chain: the files of one model run for one variable, joined in time."""

    model: str
    variant: str
    variable: str
    scenario: str

    def __str__(self) -> str:
        return f"{self.model} {self.variant} {self.variable} {self.scenario}"


InputPath = Path | ObjectPath
"""Where an input is: a local file, or an object's s3:// URL."""


@dataclass(frozen=True)
class FileEntry:
    """One input file as its name describes it (what it claims, not what it holds)."""

    path: InputPath
    naming: str  # one of NAMINGS
    variable: str
    model: str  # CORDEX: f"{driving_model}_{rcm}"
    scenario: str  # experiment id: historical, ssp245, rcp45, dcppA-hindcast ...
    variant: str  # r1i1p1f1, s1961-r6i2p1f1, r1i1p1
    grid: str | None  # gn, gr, na10kgrid_qm-...; the domain (NAM-22) for CORDEX; None for CMIP5
    table: str | None  # day, Eday, 3hr ...; the frequency for CORDEX
    start: Date  # first day the name claims
    end: Date  # last day the name claims, inclusive
    version: tuple[int, ...] = ()  # NEX data version: () none, (1, 1) for _v1.1, (2, 0) for _v2.0
    size: int = 0  # bytes, from stat; 0 when parsed from a name alone
    mtime: float = 0.0  # seconds since the epoch; an object's last-modified time
    rcm_version: str | None = None  # CORDEX only: v1, v2 ...
    etag: str | None = None  # objects only: what the store says changes when the object is rewritten

    @property
    def key(self) -> ChainKey:
        """The chain this file belongs to."""
        return ChainKey(self.model, self.variant, self.variable, self.scenario)

    @property
    def years(self) -> range:
        """Calendar years the name touches, first to last inclusive (partial ones included)."""
        return range(self.start[0], self.end[0] + 1)

    @property
    def record(self) -> dict[str, Any]:
        """How the input is identified in the manifest, for resume: path, size and modification time (and an
        object's ETag), so that a file or object that changed is read again."""
        record: dict[str, Any] = {"path": str(self.path), "size": self.size, "mtime": self.mtime}
        if self.etag is not None:
            record["etag"] = self.etag
        return record

    @property
    def version_label(self) -> str:
        """The version as written in NEX names (``v1.1``), or ``""`` when the name has none."""
        return "v" + ".".join(map(str, self.version)) if self.version else ""


def version_rank(version: tuple[int, ...]) -> tuple[int, ...]:
    """Comparison key of a version: no version < v1.1 < v2.0, and v2 == v2.0."""
    v = list(version)
    while v and v[-1] == 0:
        v.pop()
    return tuple(v)


def _parse_date(token: str, *, is_end: bool) -> Date | None:
    """Parse YYYY[MM[DD[hh[mm[ss]]]]]; an end date stands for the last day of its year/month."""
    n = len(token)
    if n == 4:
        return (int(token), 12, 31) if is_end else (int(token), 1, 1)
    if n not in (6, 8, 10, 12, 14):
        return None
    year = int(token[:4])
    month = int(token[4:6])
    if not 1 <= month <= 12:
        return None
    if n >= 8:
        day = int(token[6:8])
        if not 1 <= day <= _MAX_DAY[month]:
            return None
    else:
        day = calendar.monthrange(year, month)[1] if is_end else 1
    limits = (23, 59, 59)
    for i, limit in zip(range(8, n, 2), limits, strict=False):
        if int(token[i : i + 2]) > limit:
            return None
    return (year, month, day)


def _table_problem(table: str) -> str | None:
    """Why a table/frequency cannot feed a daily normal (monthly, fixed ...), or None when it can."""
    low = table.lower()
    if any(bad in low for bad in _NOT_DAILY):
        return f"table/frequency '{table}' is not daily or sub-daily data"
    if "day" in low or "hr" in low or low == "daily":
        return None
    return f"unknown table/frequency '{table}'"


def _bad_tokens(**tokens: str) -> str | None:
    """Name the first field that is not a valid name token, or None."""
    for label, value in tokens.items():
        pattern = _VARIABLE_RE if label == "variable" else _NAME_RE
        if not pattern.fullmatch(value):
            return f"invalid {label} '{value}'"
    return None


_EXPECTED = (
    "expected {var}_{table}_{model}_{experiment}_{variant}[_{grid}]_{dates}.nc "
    "or {var}_{domain}_{driving}_{experiment}_{ensemble}_{rcm}_{rcm_version}_{freq}_{dates}.nc"
)


_TOKEN = r"[A-Za-z0-9][A-Za-z0-9.+-]*"
_FAST_RE = re.compile(  # the common NEX / CMIP6 forms in one match; the rest: _parse_any
    rf"(?P<var>[A-Za-z][A-Za-z0-9]*)_(?P<table>{_TOKEN})_(?P<model>{_TOKEN})_(?P<exp>{_TOKEN})"
    rf"_(?P<variant>(?:[A-Za-z][A-Za-z0-9]*-)?r\d+i\d+p\d+f\d+)_(?P<grid>{_TOKEN})"
    r"_(?P<d1>\d{4,14})(?:-(?P<d2>\d{4,14}))?(?:_v(?P<ver>\d+(?:\.\d+)*))?\.nc4?"
)
_TABLE_PROBLEMS: dict[str, str | None] = {}


def _parse_fast(path: InputPath, name: str, size: int, mtime: float) -> FileEntry | None:
    """Parse the common NEX/CMIP6 names with one regex (the catalog of a big archive is mostly these)."""
    m = _FAST_RE.fullmatch(name)
    if m is None:
        return None
    table = m["table"]
    if table not in _TABLE_PROBLEMS:
        _TABLE_PROBLEMS[table] = _table_problem(table)
    if _TABLE_PROBLEMS[table] is not None:
        return None
    d1, d2, ver = m["d1"], m["d2"], m["ver"]
    start = _parse_date(d1, is_end=False)
    end = _parse_date(d2 or d1, is_end=True)
    if start is None or end is None or end < start:
        return None
    return FileEntry(
        path=path,
        naming="nex" if d2 is None and len(d1) == 4 else "cmip6",
        variable=m["var"],
        model=m["model"],
        scenario=m["exp"],
        variant=m["variant"],
        grid=m["grid"],
        table=table,
        start=start,
        end=end,
        version=tuple(int(p) for p in ver.split(".")) if ver else (),
        size=size,
        mtime=mtime,
    )


def parse_entry(path: InputPath, name: str | None = None, size: int = 0, mtime: float = 0.0) -> FileEntry | str:
    """Parse a file name into a FileEntry, or say why it cannot be (a one-line reason)."""
    name = path.name if name is None else name
    return _parse_fast(path, name, size, mtime) or _parse_any(path, name, size, mtime)


def _parse_any(path: InputPath, name: str, size: int, mtime: float) -> FileEntry | str:
    """Parse any recognised form, token by token; return the reason when the name is not one."""
    low = name.lower()
    suffix = next((s for s in NC_SUFFIXES if low.endswith(s)), None)
    if suffix is None:
        return "not a .nc/.nc4 file name"
    stem = name[: -len(suffix)]
    tokens = stem.split("_")
    version: tuple[int, ...] = ()
    if len(tokens) > 2 and _DATES_RE.fullmatch(tokens[-2]) and (mv := _VERSION_RE.fullmatch(tokens[-1])):
        version = tuple(int(p) for p in mv.group(1).split("."))
        tokens = tokens[:-1]
    dates = _DATES_RE.fullmatch(tokens[-1])
    if dates is None:
        if stem.count(".") >= 3 and "_" not in stem.split(".")[0]:
            return "CMIP3-style dotted name: no dates in the name"
        return "no date or date range at the end of the name (..._YYYY.nc, ..._YYYYMMDD-YYYYMMDD.nc)"
    start = _parse_date(dates.group(1), is_end=False)
    end = _parse_date(dates.group(2) or dates.group(1), is_end=True)
    if start is None or end is None:
        return f"invalid date in '{tokens[-1]}'"
    if end < start:
        return f"date range '{tokens[-1]}' ends before it starts"
    head = tokens[:-1]
    single_year = dates.group(2) is None and len(dates.group(1)) == 4
    common: dict[str, Any] = dict(path=path, size=size, mtime=mtime, start=start, end=end, version=version)
    if len(head) == 8 and _DOMAIN_RE.fullmatch(head[1]):
        return _parse_cordex(head, common)
    if len(head) == 6 and head[1] == "day" and head[2] == "BCSD" and _ENSEMBLE_RE.fullmatch(head[4]):
        return _parse_nex_cmip5(head, common, single_year)
    if len(head) >= 5 and _VARIANT_RE.fullmatch(head[4]):
        return _parse_cmip(head, common, single_year)
    return f"dates, but not the NEX/CMIP/CORDEX fields before them ({len(head)} found; {_EXPECTED})"


def _parse_cordex(head: list[str], common: dict[str, Any]) -> FileEntry | str:
    var, domain, driving, exp, ens, rcm, rcm_version, freq = head
    problem = _bad_tokens(
        variable=var, driving_model=driving, experiment=exp, rcm=rcm, rcm_version=rcm_version, frequency=freq
    )
    if problem is None and not _ENSEMBLE_RE.fullmatch(ens):
        problem = f"invalid CORDEX ensemble member '{ens}'"
    problem = problem or _table_problem(freq)
    if problem:
        return f"CORDEX-like name: {problem}"
    return _entry("cordex", var, f"{driving}_{rcm}", exp, ens, domain, freq, common, rcm_version)


def _parse_nex_cmip5(head: list[str], common: dict[str, Any], single_year: bool) -> FileEntry | str:
    var, table, _method, exp, ens, model = head  # NEX-GDDP (CMIP5): tasmax_day_BCSD_rcp85_r1i1p1_inmcm4_2099
    problem = _bad_tokens(variable=var, model=model, experiment=exp)
    if problem:
        return f"NEX-GDDP-like name: {problem}"
    return _entry("nex" if single_year else "cmip5", var, model, exp, ens, None, table, common)


def _parse_cmip(head: list[str], common: dict[str, Any], single_year: bool) -> FileEntry | str:
    var, table, model, exp, variant, *labels = head
    if len(head) == 5 and not _ENSEMBLE_RE.fullmatch(variant):
        return f"no grid label after the CMIP6 variant '{variant}' ({_EXPECTED})"
    problem = _bad_tokens(variable=var, table=table, model=model, experiment=exp)
    problem = problem or next((f"invalid grid label '{g}'" for g in labels if not _NAME_RE.fullmatch(g)), None)
    problem = problem or _table_problem(table)
    if problem:
        return f"CMIP-like name: {problem}"
    naming = "nex" if single_year and labels else ("cmip6" if labels else "cmip5")
    return _entry(naming, var, model, exp, variant, "_".join(labels) or None, table, common)


def _entry(
    naming: str,
    variable: str,
    model: str,
    scenario: str,
    variant: str,
    grid: str | None,
    table: str | None,
    common: dict[str, Any],
    rcm_version: str | None = None,
) -> FileEntry:
    return FileEntry(
        naming=naming,
        variable=variable,
        model=model,
        scenario=scenario,
        variant=variant,
        grid=grid,
        table=table,
        rcm_version=rcm_version,
        **common,
    )


def parse_filename(path: Path | str) -> FileEntry | None:
    """Describe a file from its name alone (size/mtime 0: no file access), or None when the name isn't one
    of the recognised forms (see ``unparsed_reason``)."""
    parsed = parse_entry(Path(path))
    return parsed if isinstance(parsed, FileEntry) else None


def unparsed_reason(path: Path | str) -> str | None:
    """Why ``parse_filename`` rejects this name (one line), or None when it parses."""
    parsed = parse_entry(Path(path))
    return None if isinstance(parsed, FileEntry) else parsed
