"""Discover input files by name, group them into chains and report what years each chain covers.

The catalog works from file names only (plus one ``stat`` per file): it never opens a file, so cataloguing
an archive of 100,000 files takes a second or two. ``check_files`` is the separate, slower step that opens
each selected file's header.

Names are parsed by `climnorm.catalog.filenames`. Coverage by name is optimistic on purpose, because the catalog does
not know a file's calendar: a year covered through Dec 30 counts as complete and a file ending on day 30 of a month
joins one starting on the 1st of the next (both are how 360_day files are named), and one ending Feb 28 joins one
starting Mar 1 (noleap). The engine checks the actual days when it reads the files.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import itertools
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from climnorm._ranges import format_range, format_ranges, year_ranges
from climnorm.catalog.filenames import NC_SUFFIXES, ChainKey, Date, FileEntry, parse_entry, version_rank
from climnorm.errors import CatalogError
from climnorm.storage.options import StorageOptions
from climnorm.storage.urls import ObjectPath, is_s3_url

logger = logging.getLogger(__name__)

__all__ = ["Catalog", "Chain", "build_catalog", "make_chain"]

# the day from which a month may be over in some calendar (Feb 28 in noleap, day 30 in 360_day)
_LENIENT_MONTH_END = (0, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30)


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
        return self._by_year.get(year, [])

    @functools.cached_property
    def _by_year(self) -> dict[int, list[FileEntry]]:
        """The files of each year they cover (a plan asks for a chain's years some thirty times over)."""
        years: dict[int, list[FileEntry]] = {}
        for f in self.files:
            for year in range(f.start[0], f.end[0] + 1):
                years.setdefault(year, []).append(f)
        return years

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
            "gaps": [format_range(g) for g in self.gaps],
            "duplicate_years": format_ranges(self.duplicate_years),
            "shadowed": [pair(a, b, ("path", "by")) for a, b in self.shadowed],
            "duplicates": [pair(a, b, ("a", "b")) for a, b in self.duplicates],
        }


def _select_versions(files: list[FileEntry]) -> tuple[list[FileEntry], list[tuple[FileEntry, FileEntry]]]:
    """Drop files whose dates are wholly covered by higher-version files; return (kept, shadowed pairs)."""
    by_rank: dict[tuple[int, ...], list[FileEntry]] = defaultdict(list)
    for f in files:
        by_rank[version_rank(f.version)].append(f)
    if len(by_rank) == 1:
        return files, []
    kept: list[FileEntry] = []
    shadowed: list[tuple[FileEntry, FileEntry]] = []
    if all(f.start[1:] == (1, 1) and f.end[1:] == (12, 31) and f.start[0] == f.end[0] for f in files):
        # One whole year per file (NEX): per year, the highest version wins.
        by_year: dict[int, list[FileEntry]] = defaultdict(list)
        for f in files:
            by_year[f.start[0]].append(f)
        rank_of = {id(f): r for r, level in by_rank.items() for f in level}
        for year_files in by_year.values():
            top = max(rank_of[id(f)] for f in year_files)
            winners = [f for f in year_files if rank_of[id(f)] == top]
            kept.extend(winners)
            shadowed.extend((f, winners[0]) for f in year_files if rank_of[id(f)] != top)
        shadowed.sort(key=lambda p: (p[0].start, str(p[0].path)))
        return kept, shadowed
    higher_by_year: dict[int, list[FileEntry]] = defaultdict(list)
    for rank in sorted(by_rank, reverse=True):
        level_kept = []
        for f in by_rank[rank]:
            rivals = {id(g): g for y in f.years for g in higher_by_year.get(y, ()) if _overlap(f, g)}
            covered = _merge((max(g.start, f.start), min(g.end, f.end)) for g in rivals.values())
            if covered and covered[0][0] <= f.start and covered[0][1] >= f.end:
                winner = max(rivals.values(), key=lambda g: (version_rank(g.version), g.end))
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


@dataclass(frozen=True)
class Catalog:
    """Everything found under the input directories: chains, names that don't parse, what was left out."""

    roots: list[Path | str]  # local directories and s3:// prefixes
    chains: dict[ChainKey, Chain]  # sorted by key
    unparsed: list[Path | ObjectPath]  # every .nc/.nc4 file whose name is not recognised, sorted
    unparsed_reasons: dict[Path | ObjectPath, str] = field(default_factory=dict)  # path -> why
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

    def summary_line(self) -> str:
        """One line for logs and tables: files, chains, roots, what was not used."""
        return (
            f"catalogued {self.n_files} files in {len(self.chains)} chains under {', '.join(map(str, self.roots))} "
            f"({len(self.unparsed)} unparsed, {sum(self.filtered_out.values())} filtered out)"
        )

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
    dirs: Sequence[Path | str] | Path | str,
    *,
    model: str | None = None,
    variables: str | Iterable[str] | None = None,
    scenarios: str | Iterable[str] | None = None,
    storage: StorageOptions | None = None,
) -> Catalog:
    """Find every NetCDF file under ``dirs`` (recursively, by name) and group the selected ones into chains.

    ``dirs`` are local directories or ``s3://bucket/prefix`` URLs (listed with ``storage``, by default the
    ``AWS_*`` environment; see `climnorm.catalog.remote`). ``model``/``variables``/``scenarios`` keep only
    matching files (None keeps all; exact names; a CORDEX model is ``{driving}_{rcm}``). Raises CatalogError
    when an input directory is missing or a prefix cannot be listed.
    """
    if isinstance(dirs, str | Path):
        dirs = [dirs]
    if not dirs:
        raise CatalogError("no input directories given")
    roots: list[Path | str] = []
    for d in dirs:
        root: Path | str
        if is_s3_url(d):
            root = str(d).rstrip("/")
        else:
            root = Path(d).expanduser()
            if not root.exists():
                raise CatalogError(f"input directory {root} does not exist")
            if not root.is_dir():
                raise CatalogError(f"input directory {root} is not a directory")
        if root not in roots:
            roots.append(root)

    wanted_vars = _as_set(variables)
    with gc_paused():
        found, skipped = _scan([r for r in roots if isinstance(r, Path)])
        listed: list[tuple[ObjectPath, int, float, str | None]] = []
        urls = [r for r in roots if isinstance(r, str)]
        if urls:
            from climnorm.catalog.remote import list_inputs

            listed = list_inputs(urls, storage or StorageOptions.from_config(), model, wanted_vars)
        return _build(roots, found, listed, skipped, model, wanted_vars, _as_set(scenarios))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while ~10^5-10^6 small acyclic objects are built (a catalog's entries,
    a plan's outputs): full collections over everything built so far would cost more than the building. They then
    join the oldest generation unwalked (a freeze and thaw), not the youngest (its next collection: 0.8 s a plan)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _build(
    roots: list[Path | str],
    found: list[tuple[str, int, float]],
    listed: list[tuple[ObjectPath, int, float, str | None]],
    skipped: dict[Path, str],
    model: str | None,
    wanted_vars: frozenset[str] | None,
    wanted_scenarios: frozenset[str] | None,
) -> Catalog:
    """Parse, filter and chain what the scan and the listings found (build_catalog without the argument checks)."""
    groups: dict[ChainKey, list[FileEntry]] = defaultdict(list)
    reasons: dict[Path | ObjectPath, str] = {}
    filtered = {"model": 0, "variable": 0, "scenario": 0}
    files: Iterator[tuple[Path | ObjectPath, str, int, float, str | None]] = itertools.chain(
        ((Path(p), os.path.basename(p), size, mtime, None) for p, size, mtime in found),
        ((url, url.name, size, mtime, etag) for url, size, mtime, etag in listed),
    )
    for path, name, size, mtime, etag in files:
        parsed = parse_entry(path, name, size, mtime)
        if not isinstance(parsed, str) and etag is not None:
            parsed = dataclasses.replace(parsed, etag=etag)
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
        unparsed=sorted(reasons, key=str),
        unparsed_reasons={p: reasons[p] for p in sorted(reasons, key=str)},
        filtered_out={k: v for k, v in filtered.items() if v},
        skipped=skipped,
    )
    for chain in chains.values():
        for a, b in chain.duplicates:
            logger.debug("%s: %s and %s overlap", chain.key, a.path, b.path)
        for old, new in chain.shadowed:
            logger.debug("%s: %s shadowed by %s", chain.key, old.path.name, new.path.name)
    for path, reason in catalog.unparsed_reasons.items():
        logger.debug("%s: name not recognised: %s", path, reason)
    logger.debug("%s", catalog.summary_line())
    return catalog
