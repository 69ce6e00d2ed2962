"""Discover input files by name, group them into chains and report what years each chain covers.

The catalog works from file names only (plus one ``stat`` per file): it never opens a file, so cataloguing
an archive of 100,000 files takes a second or two. ``check_files`` is the separate, slower step that opens
each selected file's header.

Recognised names (design §2 and ``data/real/``):

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
names with impossible dates, monthly tables) is listed in ``Catalog.unparsed`` with a reason.

Coverage by name is optimistic on purpose, because the catalog does not know a file's calendar: a year
covered through Dec 30 counts as complete and a file ending on day 30 of a month joins one starting on the
1st of the next (both are how 360_day files are named), and one ending Feb 28 joins one starting Mar 1
(noleap). The engine checks the actual days when it reads the files.
"""

from __future__ import annotations

import calendar
import gc
import logging
import os
import re
import struct
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from climnorm.errors import CatalogError

logger = logging.getLogger(__name__)

__all__ = [
    "NAMINGS",
    "Catalog",
    "Chain",
    "ChainKey",
    "FileEntry",
    "FileProblem",
    "build_catalog",
    "check_file",
    "check_files",
    "format_ranges",
    "make_chain",
    "parse_filename",
    "unparsed_reason",
    "year_ranges",
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
# Latest day a month can have in any CF calendar (Feb 30 exists in 360_day), and the day from which a
# month may be over (Feb 28 in noleap, day 30 in 360_day): used to validate and to join date ranges.
_MAX_DAY = (0, 31, 30, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_LENIENT_MONTH_END = (0, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30)
_NOT_DAILY = ("mon", "yr", "fx", "clim", "dec", "sem")


# --------------------------------------------------------------------------------------------------------
# File names
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class ChainKey:
    """Identity of a chain: the files of one model run for one variable, joined in time."""

    model: str
    variant: str
    variable: str
    scenario: str

    def __str__(self) -> str:
        return f"{self.model} {self.variant} {self.variable} {self.scenario}"


@dataclass(frozen=True)
class FileEntry:
    """One input file as its name describes it (what it claims, not what it holds)."""

    path: Path
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
    mtime: float = 0.0
    rcm_version: str | None = None  # CORDEX only: v1, v2 ...

    @property
    def key(self) -> ChainKey:
        """The chain this file belongs to."""
        return ChainKey(self.model, self.variant, self.variable, self.scenario)

    @property
    def years(self) -> range:
        """Calendar years the name touches, first to last inclusive (partial ones included)."""
        return range(self.start[0], self.end[0] + 1)

    @property
    def version_label(self) -> str:
        """The version as written in NEX names (``v1.1``), or ``""`` when the name has none."""
        return "v" + ".".join(map(str, self.version)) if self.version else ""


def _version_rank(version: tuple[int, ...]) -> tuple[int, ...]:
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


def _parse_fast(path: Path, name: str, size: int, mtime: float) -> FileEntry | None:
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


def _parse(path: Path, name: str | None = None, size: int = 0, mtime: float = 0.0) -> FileEntry | str:
    """Parse a file name into a FileEntry, or say why it cannot be (a one-line reason)."""
    name = path.name if name is None else name
    return _parse_fast(path, name, size, mtime) or _parse_any(path, name, size, mtime)


def _parse_any(path: Path, name: str, size: int, mtime: float) -> FileEntry | str:
    """Parse any recognised form, token by token; return the reason when the name is not one."""
    common: dict[str, Any] = {"path": path, "size": size, "mtime": mtime}
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
    common.update(start=start, end=end, version=version)

    if len(head) == 8 and _DOMAIN_RE.fullmatch(head[1]):
        var, domain, driving, exp, ens, rcm, rcm_version, freq = head
        problem = _bad_tokens(
            variable=var, driving_model=driving, experiment=exp, rcm=rcm, rcm_version=rcm_version, frequency=freq
        )
        if problem is None and not _ENSEMBLE_RE.fullmatch(ens):
            problem = f"invalid CORDEX ensemble member '{ens}'"
        problem = problem or _table_problem(freq)
        if problem:
            return f"CORDEX-like name: {problem}"
        return FileEntry(
            naming="cordex",
            variable=var,
            model=f"{driving}_{rcm}",
            scenario=exp,
            variant=ens,
            grid=domain,
            table=freq,
            rcm_version=rcm_version,
            **common,
        )

    if len(head) == 6 and head[1] == "day" and head[2] == "BCSD" and _ENSEMBLE_RE.fullmatch(head[4]):
        var, table, _method, exp, ens, model = head  # NEX-GDDP (CMIP5): tasmax_day_BCSD_rcp85_r1i1p1_inmcm4_2099
        problem = _bad_tokens(variable=var, model=model, experiment=exp)
        if problem:
            return f"NEX-GDDP-like name: {problem}"
        return FileEntry(
            naming="nex" if single_year else "cmip5",
            variable=var,
            model=model,
            scenario=exp,
            variant=ens,
            grid=None,
            table=table,
            **common,
        )

    if len(head) >= 5 and _VARIANT_RE.fullmatch(head[4]):
        var, table, model, exp, variant, *labels = head
        if len(head) == 5 and not _ENSEMBLE_RE.fullmatch(variant):
            return f"no grid label after the CMIP6 variant '{variant}' ({_EXPECTED})"
        problem = _bad_tokens(variable=var, table=table, model=model, experiment=exp)
        problem = problem or next((f"invalid grid label '{g}'" for g in labels if not _NAME_RE.fullmatch(g)), None)
        problem = problem or _table_problem(table)
        if problem:
            return f"CMIP-like name: {problem}"
        naming = "nex" if single_year and labels else ("cmip6" if labels else "cmip5")
        return FileEntry(
            naming=naming,
            variable=var,
            model=model,
            scenario=exp,
            variant=variant,
            grid="_".join(labels) or None,
            table=table,
            **common,
        )

    return f"dates, but not the NEX/CMIP/CORDEX fields before them ({len(head)} found; {_EXPECTED})"


def parse_filename(path: Path | str) -> FileEntry | None:
    """Describe a file from its name alone (size/mtime 0: no file access), or None when the name isn't one
    of the recognised forms (see ``unparsed_reason``)."""
    parsed = _parse(Path(path))
    return parsed if isinstance(parsed, FileEntry) else None


def unparsed_reason(path: Path | str) -> str | None:
    """Why ``parse_filename`` rejects this name (one line), or None when it parses."""
    parsed = _parse(Path(path))
    return None if isinstance(parsed, FileEntry) else parsed


# --------------------------------------------------------------------------------------------------------
# Year ranges
# --------------------------------------------------------------------------------------------------------


def year_ranges(years: Iterable[int]) -> list[tuple[int, int]]:
    """Compress years into sorted inclusive ranges: [1950, 1951, 1952, 1960] -> [(1950, 1952), (1960, 1960)]."""
    ranges: list[tuple[int, int]] = []
    for y in sorted(set(years)):
        if ranges and y == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], y)
        else:
            ranges.append((y, y))
    return ranges


def _format_range(r: tuple[int, int]) -> str:
    """(1950, 1979) -> "1950-1979"; (1980, 1980) -> "1980"."""
    return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"


def format_ranges(items: Iterable[int] | Iterable[tuple[int, int]]) -> str:
    """Years or (first, last) ranges as text: "1950-1979, 1981, 1983-2014"; "" when there are none."""
    seq = list(items)
    ranges = seq if seq and isinstance(seq[0], tuple) else year_ranges(seq)  # type: ignore[arg-type]
    return ", ".join(_format_range(r) for r in ranges)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------
# Chains
# --------------------------------------------------------------------------------------------------------


def _day_after(d: Date) -> Date:
    """The latest date that still counts as 'the next day' after d, whatever the calendar."""
    y, m, day = d
    if day >= _LENIENT_MONTH_END[m]:
        return (y + 1, 1, 1) if m == 12 else (y, m + 1, 1)
    return (y, m, day + 1)


def _merge(intervals: Iterable[tuple[Date, Date]]) -> list[tuple[Date, Date]]:
    """Union of inclusive date intervals, joining ones that touch in any calendar."""
    merged: list[tuple[Date, Date]] = []
    for s, e in sorted(intervals):
        if merged and s <= _day_after(merged[-1][1]):
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _overlap(a: FileEntry, b: FileEntry) -> bool:
    """Whether two files' date ranges share a day."""
    return a.start <= b.end and b.start <= a.end


def _md(d: Date) -> str:
    """Month-day of a date, as in "11-01"."""
    return f"{d[1]:02d}-{d[2]:02d}"


def _describe_piece(year: int, s: Date, e: Date) -> str:
    """Describe the covered piece [s, e] of ``year``: "from 11-01", "to 11-30", "03-01 to 06-30" ..."""
    from_start, to_end = s <= (year, 1, 1), e >= (year, 12, 30)
    if s == e:
        return f"{_md(s)} only"
    if from_start and to_end:
        return "whole year"
    if from_start:
        return f"to {_md(e)}"
    if to_end:
        return f"from {_md(s)}"
    return f"{_md(s)} to {_md(e)}"


@dataclass(frozen=True)
class Chain:
    """The files of one (model, variant, variable, scenario) and the years they cover by name.

    ``files`` are the selected files (highest version wins), sorted by start. A year is complete when the
    union of their date ranges covers Jan 1 to Dec 30/31 and no two of them overlap in it.
    """

    key: ChainKey
    files: list[FileEntry]
    complete_years: list[int]
    partial_years: dict[int, str]  # year -> what is covered, e.g. "from 11-01"
    gaps: list[tuple[int, int]]  # inclusive year ranges with no file, between the first and last covered year
    shadowed: list[tuple[FileEntry, FileEntry]]  # (shadowed file, winning higher-version file)
    duplicates: list[tuple[FileEntry, FileEntry]]  # selected files whose dates overlap: refused, not averaged
    duplicate_years: list[int] = field(default_factory=list)  # years touched by a duplicate overlap

    def files_for_year(self, year: int) -> list[FileEntry]:
        """Selected files whose names cover part of ``year``, in time order."""
        return [f for f in self.files if f.start[0] <= year <= f.end[0]]

    @property
    def first_year(self) -> int | None:
        """First year any selected file touches."""
        return self.files[0].start[0] if self.files else None

    @property
    def last_year(self) -> int | None:
        """Last year any selected file touches."""
        return max(f.end[0] for f in self.files) if self.files else None

    def to_json(self) -> dict[str, Any]:
        """Summary of the chain for reports: counts, compact year ranges, problems."""

        def pair(a: FileEntry, b: FileEntry, names: tuple[str, str]) -> dict[str, str]:
            return {names[0]: str(a.path), names[1]: str(b.path)}

        return {
            "model": self.key.model,
            "variant": self.key.variant,
            "variable": self.key.variable,
            "scenario": self.key.scenario,
            "files": len(self.files),
            "first_year": self.first_year,
            "last_year": self.last_year,
            "complete_years": format_ranges(self.complete_years),
            "n_complete_years": len(self.complete_years),
            "partial_years": {str(y): d for y, d in sorted(self.partial_years.items())},
            "gaps": [_format_range(g) for g in self.gaps],
            "duplicate_years": format_ranges(self.duplicate_years),
            "shadowed": [pair(a, b, ("path", "by")) for a, b in self.shadowed],
            "duplicates": [pair(a, b, ("a", "b")) for a, b in self.duplicates],
        }


def _select_versions(
    files: list[FileEntry],
) -> tuple[list[FileEntry], list[tuple[FileEntry, FileEntry]]]:
    """Drop files whose dates are wholly covered by higher-version files; return (kept, shadowed pairs)."""
    by_rank: dict[tuple[int, ...], list[FileEntry]] = defaultdict(list)
    for f in files:
        by_rank[_version_rank(f.version)].append(f)
    if len(by_rank) == 1:
        return files, []
    kept: list[FileEntry] = []
    shadowed: list[tuple[FileEntry, FileEntry]] = []
    if all(f.start[1:] == (1, 1) and f.end[1:] == (12, 31) and f.start[0] == f.end[0] for f in files):
        # One whole year per file (NEX): per year, the highest version wins.
        by_year: dict[int, list[FileEntry]] = defaultdict(list)
        for f in files:
            by_year[f.start[0]].append(f)
        rank = {id(f): r for r, level in by_rank.items() for f in level}
        for year_files in by_year.values():
            top = max(rank[id(f)] for f in year_files)
            winners = [f for f in year_files if rank[id(f)] == top]
            kept.extend(winners)
            shadowed.extend((f, winners[0]) for f in year_files if rank[id(f)] != top)
        shadowed.sort(key=lambda p: (p[0].start, str(p[0].path)))
        return kept, shadowed
    higher_by_year: dict[int, list[FileEntry]] = defaultdict(list)
    for rank in sorted(by_rank, reverse=True):
        level_kept = []
        for f in by_rank[rank]:
            rivals = {id(g): g for y in f.years for g in higher_by_year.get(y, ()) if _overlap(f, g)}
            covered = _merge((max(g.start, f.start), min(g.end, f.end)) for g in rivals.values())
            if covered and covered[0][0] <= f.start and covered[0][1] >= f.end:
                winner = max(rivals.values(), key=lambda g: (_version_rank(g.version), g.end))
                shadowed.append((f, winner))
            else:
                level_kept.append(f)
        for f in level_kept:
            for y in f.years:
                higher_by_year[y].append(f)
        kept.extend(level_kept)
    shadowed.sort(key=lambda p: (p[0].start, str(p[0].path)))
    return kept, shadowed


def _find_duplicates(files: list[FileEntry]) -> list[tuple[FileEntry, FileEntry]]:
    """Pairs of files (sorted by start) whose date ranges overlap."""
    pairs: list[tuple[FileEntry, FileEntry]] = []
    active: list[FileEntry] = []
    for f in files:
        active = [a for a in active if a.end >= f.start]
        pairs.extend((a, f) for a in active)
        active.append(f)
    return pairs


def make_chain(key: ChainKey, files: Iterable[FileEntry]) -> Chain:
    """Select the winning version of each file, find overlaps and work out the years covered."""
    ordered = sorted(files, key=lambda f: (f.start, f.end, str(f.path)))
    selected, shadowed = _select_versions(ordered)
    selected.sort(key=lambda f: (f.start, f.end, str(f.path)))
    duplicates = _find_duplicates(selected)
    dup_years: set[int] = set()
    for a, b in duplicates:
        dup_years.update(range(max(a.start, b.start)[0], min(a.end, b.end)[0] + 1))

    complete: list[int] = []
    partial: dict[int, list[str]] = defaultdict(list)
    for s, e in _merge((f.start, f.end) for f in selected):
        for year in range(s[0], e[0] + 1):
            piece_s, piece_e = max(s, (year, 1, 1)), min(e, (year, 12, 31))
            if piece_s == (year, 1, 1) and piece_e >= (year, 12, 30):
                complete.append(year)
            else:
                partial[year].append(_describe_piece(year, piece_s, piece_e))
    complete_years = sorted(y for y in complete if y not in dup_years)
    covered = set(complete) | set(partial)
    gaps = year_ranges(set(range(min(covered), max(covered) + 1)) - covered) if covered else []
    return Chain(
        key=key,
        files=selected,
        complete_years=complete_years,
        partial_years={y: ", ".join(partial[y]) for y in sorted(partial)},
        gaps=gaps,
        shadowed=shadowed,
        duplicates=duplicates,
        duplicate_years=sorted(dup_years),
    )


# --------------------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    """Everything found under the input directories: chains, names that don't parse, what was left out."""

    roots: list[Path]
    chains: dict[ChainKey, Chain]  # sorted by key
    unparsed: list[Path]  # every .nc/.nc4 file whose name is not recognised, sorted
    unparsed_reasons: dict[Path, str] = field(default_factory=dict)  # path -> why
    filtered_out: dict[str, int] = field(default_factory=dict)  # "model"/"variable"/"scenario" -> files
    skipped: dict[Path, str] = field(default_factory=dict)  # broken links, unreadable directories

    def entries(self) -> Iterator[FileEntry]:
        """Every selected file of every chain."""
        for chain in self.chains.values():
            yield from chain.files

    @property
    def n_files(self) -> int:
        """Number of selected files over all chains."""
        return sum(len(c.files) for c in self.chains.values())

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable summary: chains with counts and compact year ranges, problems, unparsed."""
        return {
            "roots": [str(r) for r in self.roots],
            "n_chains": len(self.chains),
            "n_files": self.n_files,
            "n_shadowed": sum(len(c.shadowed) for c in self.chains.values()),
            "n_duplicates": sum(len(c.duplicates) for c in self.chains.values()),
            "chains": [chain.to_json() for chain in self.chains.values()],
            "unparsed": [{"path": str(p), "reason": self.unparsed_reasons.get(p, "")} for p in self.unparsed],
            "filtered_out": dict(self.filtered_out),
            "skipped": [{"path": str(p), "reason": r} for p, r in sorted(self.skipped.items())],
        }


def _scan(roots: Sequence[Path]) -> tuple[list[tuple[str, int, float]], dict[Path, str]]:
    """Walk the roots for *.nc/*.nc4 files: (path, size, mtime) each, plus skipped paths with reasons.

    Symlinks are followed; a directory or file reached twice (symlinks, nested roots, hard links) is
    visited once. Hidden directories (.snapshot, .git ...) are not entered.
    """
    found: list[tuple[str, int, float]] = []
    skipped: dict[Path, str] = {}
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    stack = [str(r) for r in reversed(roots)]
    while stack:
        directory = stack.pop()
        try:
            st = os.stat(directory)
            if (st.st_dev, st.st_ino) in seen_dirs:
                logger.debug("%s: directory already visited (symlink loop or nested root)", directory)
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            skipped[Path(directory)] = f"cannot list directory: {err.strerror or err}"
            logger.warning("%s: cannot list directory: %s", directory, err.strerror or err)
            continue
        subdirs: list[str] = []
        for entry in entries:
            try:
                if entry.is_dir():
                    if not entry.name.startswith("."):
                        subdirs.append(entry.path)
                    continue
                if not entry.name.lower().endswith(NC_SUFFIXES):
                    continue
                if not entry.is_file():
                    reason = "broken symbolic link" if entry.is_symlink() else "not a regular file"
                    skipped[Path(entry.path)] = reason
                    logger.warning("%s: %s, skipped", entry.path, reason)
                    continue
                fst = entry.stat()
            except OSError as err:
                skipped[Path(entry.path)] = f"cannot stat: {err.strerror or err}"
                logger.warning("%s: cannot stat: %s", entry.path, err.strerror or err)
                continue
            ident = (fst.st_dev, fst.st_ino)
            if ident in seen_files:
                logger.debug("%s: same file already found under another path", entry.path)
                continue
            seen_files.add(ident)
            found.append((entry.path, fst.st_size, fst.st_mtime))
        stack.extend(reversed(subdirs))
    return found, skipped


def _as_set(values: str | Iterable[str] | None) -> frozenset[str] | None:
    """A filter as a set (a lone string is one name, not its characters); None means no filter."""
    if values is None:
        return None
    return frozenset([values]) if isinstance(values, str) else frozenset(values)


def build_catalog(
    dirs: Sequence[Path | str],
    *,
    model: str | None = None,
    variables: str | Iterable[str] | None = None,
    scenarios: str | Iterable[str] | None = None,
) -> Catalog:
    """Find every NetCDF file under ``dirs`` (recursively, by name) and group the selected ones into chains.

    ``model``/``variables``/``scenarios`` keep only matching files (None keeps all; exact names; a CORDEX
    model is ``{driving}_{rcm}``). Raises CatalogError when an input directory is missing.
    """
    if isinstance(dirs, str | Path):
        dirs = [dirs]
    if not dirs:
        raise CatalogError("no input directories given")
    roots: list[Path] = []
    for d in dirs:
        root = Path(d).expanduser()
        if not root.exists():
            raise CatalogError(f"input directory {root} does not exist")
        if not root.is_dir():
            raise CatalogError(f"input directory {root} is not a directory")
        if root not in roots:
            roots.append(root)

    with _gc_paused():
        return _build(roots, model, _as_set(variables), _as_set(scenarios))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building 100,000 small acyclic objects otherwise triggers full
    collections over and over, which costs more than the parsing itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(
    roots: list[Path], model: str | None, wanted_vars: frozenset[str] | None, wanted_scenarios: frozenset[str] | None
) -> Catalog:
    """Scan, parse, filter and chain (build_catalog without the argument checks)."""
    found, skipped = _scan(roots)
    groups: dict[ChainKey, list[FileEntry]] = defaultdict(list)
    reasons: dict[Path, str] = {}
    filtered = {"model": 0, "variable": 0, "scenario": 0}
    for path_str, size, mtime in found:
        path = Path(path_str)
        parsed = _parse(path, os.path.basename(path_str), size, mtime)
        if isinstance(parsed, str):
            reasons[path] = parsed
            continue
        if model is not None and parsed.model != model:
            filtered["model"] += 1
        elif wanted_vars is not None and parsed.variable not in wanted_vars:
            filtered["variable"] += 1
        elif wanted_scenarios is not None and parsed.scenario not in wanted_scenarios:
            filtered["scenario"] += 1
        else:
            groups[parsed.key].append(parsed)

    chains = {key: make_chain(key, groups[key]) for key in sorted(groups)}
    catalog = Catalog(
        roots=roots,
        chains=chains,
        unparsed=sorted(reasons),
        unparsed_reasons={p: reasons[p] for p in sorted(reasons)},
        filtered_out={k: v for k, v in filtered.items() if v},
        skipped=skipped,
    )
    for chain in chains.values():
        for a, b in chain.duplicates:
            logger.warning(
                "%s: %s and %s overlap; years %s refused",
                chain.key,
                a.path,
                b.path,
                format_ranges(range(max(a.start, b.start)[0], min(a.end, b.end)[0] + 1)),
            )
        for old, new in chain.shadowed:
            logger.info("%s: %s shadowed by %s", chain.key, old.path.name, new.path.name)
    for path, reason in catalog.unparsed_reasons.items():
        logger.info("%s: name not recognised: %s", path, reason)
    logger.info(
        "catalogued %d files in %d chains under %s (%d unparsed, %d filtered out)",
        catalog.n_files,
        len(chains),
        ", ".join(map(str, roots)),
        len(reasons),
        sum(filtered.values()),
    )
    return catalog


# --------------------------------------------------------------------------------------------------------
# Checking file headers
# --------------------------------------------------------------------------------------------------------

_NETCDF_LOCK = threading.Lock()  # the netCDF-C / HDF5 libraries are not thread-safe: one open at a time
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_HDF5_SIGNATURE_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)
_NC_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}
_CLASSIC_HEADER_READ = 1 << 16


@dataclass(frozen=True)
class FileProblem:
    """A file that cannot be used, with a one-line description of why."""

    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class _ShortHeader(Exception):
    """The classic header runs past the bytes read so far."""


class _ClassicHeader:
    """Just enough of a CDF-1/2/5 header reader to know how long the file must be (truncation check)."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 4
        self.version = buf[3]
        self.count_fmt = ">Q" if self.version == 5 else ">I"

    def _take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise _ShortHeader
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return int(value)

    def count(self) -> int:
        return self._take(self.count_fmt)

    def skip(self, n: int) -> None:
        self.pos += (n + 3) // 4 * 4
        if self.pos > len(self.buf):
            raise _ShortHeader

    def attributes(self) -> None:
        self._take(">I")  # NC_ATTRIBUTE or ABSENT
        for _ in range(self.count()):
            self.skip(self.count())  # name
            nc_type = self._take(">I")
            self.skip(self.count() * _NC_TYPE_SIZES.get(nc_type, 1))

    def data_end(self) -> int:
        """Smallest file size that holds every variable's data."""
        numrecs = self.count()
        self._take(">I")  # NC_DIMENSION or ABSENT
        dims = []
        for _ in range(self.count()):
            self.skip(self.count())
            dims.append(self.count())
        self.attributes()
        self._take(">I")  # NC_VARIABLE or ABSENT
        variables: list[tuple[bool, int, int]] = []  # (is_record, bytes per record or in all, begin)
        for _ in range(self.count()):
            self.skip(self.count())
            dimids = [self.count() for _ in range(self.count())]
            self.attributes()
            nc_type = self._take(">I")
            self.count()  # vsize (wrong above 4 GiB in CDF-1/2: recomputed below)
            begin = self._take(">I" if self.version == 1 else ">Q")
            is_record = bool(dimids) and dims[dimids[0]] == 0
            n = _NC_TYPE_SIZES.get(nc_type, 1)
            for d in dimids[1:] if is_record else dimids:
                n *= dims[d]
            variables.append((is_record, n, begin))
        records = [v for v in variables if v[0]]
        recsize = records[0][1] if len(records) == 1 else sum((n + 3) // 4 * 4 for _, n, _ in records)
        end = 0
        for is_record, n, begin in variables:
            if not is_record:
                end = max(end, begin + n)
            elif 0 < numrecs < 0xFFFFFFFF:  # 0xFFFFFFFF: streaming, record count unknown
                end = max(end, begin + (numrecs - 1) * recsize + n)
        return end


def classic_problem(path: Path, size: int) -> str | None:
    """For a classic NetCDF file: 'truncated' when it is shorter than its header says, else None."""
    want = _CLASSIC_HEADER_READ
    while True:
        with open(path, "rb") as fh:
            buf = fh.read(want)
        try:
            needed = _ClassicHeader(buf).data_end()
        except _ShortHeader:
            if len(buf) < want:
                return f"truncated NetCDF classic header ({size} bytes)"
            want *= 4
            continue
        except (KeyError, IndexError, struct.error):
            return "corrupt NetCDF classic header"
        if size < needed:
            return f"truncated: {size} bytes, the header needs {needed}"
        return None


def _one_line(text: str) -> str:
    """Collapse a (library) message onto one line."""
    return " ".join(str(text).split())


def check_file(entry: FileEntry) -> FileProblem | None:
    """Open one file's header and return what's wrong with it (unreadable, truncated, variable missing)."""
    path = entry.path
    try:
        size = os.stat(path).st_size
        if size == 0:
            return FileProblem(path, "zero-byte file")
        with open(path, "rb") as fh:
            head = fh.read(max(_HDF5_SIGNATURE_OFFSETS) + len(_HDF5_SIGNATURE))
    except FileNotFoundError:
        return FileProblem(path, "file not found")
    except OSError as err:
        return FileProblem(path, f"cannot read: {_one_line(err.strerror or str(err))}")
    if head[:3] == b"CDF" and len(head) >= 4 and head[3] in (1, 2, 5):
        problem = classic_problem(path, size)
        if problem:
            return FileProblem(path, problem)
    elif not any(head[o : o + 8] == _HDF5_SIGNATURE for o in _HDF5_SIGNATURE_OFFSETS):
        return FileProblem(path, f"not a NetCDF/HDF5 file (starts with {head[:16]!r})")

    import netCDF4  # imported here: cataloguing never needs it

    try:
        with _NETCDF_LOCK, netCDF4.Dataset(path, "r") as ds:
            names = list(ds.variables)
    except Exception as err:  # netCDF4 raises OSError, RuntimeError, ... with the library's message
        message = re.sub(r":\s*'[^']*'\s*$", "", _one_line(str(err)))  # drop the repeated file name
        return FileProblem(path, f"cannot open with netCDF4: {message}")
    if entry.variable not in names:
        return FileProblem(
            path, f"variable '{entry.variable}' not found; variables present: {', '.join(names) or 'none'}"
        )
    return None


def check_files(catalog: Catalog, workers: int = 1) -> list[FileProblem]:
    """Check every selected file of the catalog (see ``check_file``); problems sorted by path.

    With ``workers > 1`` a thread pool overlaps the file-system work (stat, reading headers); the
    netCDF4 opens themselves are serialised because the C libraries are not thread-safe.
    """
    entries = list(catalog.entries())
    if workers > 1 and len(entries) > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="climnorm-check") as pool:
            results = list(pool.map(check_file, entries))
    else:
        results = [check_file(e) for e in entries]
    problems = sorted((p for p in results if p is not None), key=lambda p: str(p.path))
    for p in problems:
        logger.warning("%s", p)
    logger.info("checked %d files: %d with problems", len(entries), len(problems))
    return problems
