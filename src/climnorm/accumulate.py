"""A chain's running state: each year's files checked against the chain, assembled and added to the window sums,
and each target's normals taken from those sums.

One accumulator per chain (a variable of one model run). Years arrive in increasing order; at
``historical_end`` each future scenario forks the historical sums (:meth:`ChainAccumulator.fork`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from climnorm._ranges import format_ranges
from climnorm.calendars import SlotScheme
from climnorm.config import Config
from climnorm.filenames import FileEntry
from climnorm.lineage import Lineage, Problem, Verdict
from climnorm.plan import OutputPlan
from climnorm.reduce import WindowSums, assemble_year
from climnorm.types import FileResult, RegionCut, YearPiece
from climnorm.units import convert


@dataclass(frozen=True)
class Skipped:
    """An output that cannot be computed, and why."""

    out: OutputPlan
    reason: str
    fail: bool  # something failed (a file, a year), rather than years merely missing


@dataclass(frozen=True)
class Computed:
    """An output's normal, ready to be written."""

    out: OutputPlan
    normal: np.ndarray
    grid: RegionCut
    years: tuple[int, ...]
    scheme: SlotScheme
    var_attrs: tuple[tuple[str, str], ...]


@dataclass
class ChainAccumulator:
    """Window sums per region of one chain, fed year by year, forked into each future scenario."""

    variable: str
    config: Config
    park: Callable[[np.ndarray], ArrayLike] | None = None
    lineage: Lineage = field(init=False)
    historical: dict[str, WindowSums] = field(default_factory=dict)
    failed_years: set[int] = field(default_factory=set)  # years lost because a file of them failed
    _verdicts: dict[str, Verdict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lineage = Lineage(self.variable, self.config.leap_day, self.config.mask_impossible)
        self.sums = self.historical

    def fork(self) -> None:
        """Continue the historical sums in a future scenario (the historical ones stay as they are)."""
        self.sums = {k: v.fork() for k, v in self.historical.items()}

    def add_year(
        self, scenario: str, year: int, results: Sequence[tuple[FileEntry, FileResult | None]]
    ) -> list[Problem]:
        """Assemble one year from its files and add it to every region's window (all regions or none)."""
        problems: list[Problem] = []
        usable: list[tuple[FileEntry, FileResult, Verdict]] = []
        for entry, result in results:
            if result is None:
                continue
            verdict = self._verdict(str(entry.path), result, problems)
            if verdict.usable:
                usable.append((entry, result, verdict))
        if len(usable) != len(results) or not usable:
            if results:
                problems.append(
                    Problem("notice", f"{self.variable} {scenario}", f"year {year} not used (a file of it failed)")
                )
                self.failed_years.add(year)
            return problems
        scheme = self.lineage.scheme
        assert scheme is not None
        names = ", ".join(str(e.path) for e, _, _ in usable)
        pieces: dict[str, list[YearPiece]] = {}
        for region in self.lineage.grids:
            pieces[region] = [
                YearPiece(convert(p.values, *v.conversion), p.steps)
                for _, r, v in usable
                if (p := r.pieces.get((year, region))) is not None
            ]
        year_fields = assemble_year(pieces, scheme.year_slots(year))
        if year_fields.overlap:
            return [
                *problems,
                Problem("failure", names, f"year {year}: the same days appear in several files; refused"),
            ]
        if year_fields.missing_days:
            message = f"year {year} incomplete ({year_fields.missing_days} day(s) missing); not used"
            return [*problems, Problem("problem", names, message)]
        fields = year_fields.fields
        if fields and all(np.isnan(v).all() for v in fields.values()):
            message = f"year {year} has no valid value in any region; counted as a year without data"
            problems.append(Problem("problem", names, message))
        for region, values in fields.items():
            window = self.sums.get(region)
            if window is None:
                window = self.sums[region] = WindowSums(values.shape, self.park)
            window.drop_before(year - self.config.window_years + 1)
            window.add(year, values)
        return problems

    def _verdict(self, path: str, result: FileResult, problems: list[Problem]) -> Verdict:
        """Whether a file is usable; decided once per file (a multi-year file serves several years)."""
        verdict = self._verdicts.get(path)
        if verdict is None:
            verdict = self._verdicts[path] = self.lineage.check(path, result)
            problems.extend(verdict.problems)
        return verdict

    def normals(self, outputs: Sequence[OutputPlan]) -> Iterator[Computed | Skipped]:
        """Each output's normal from the current window sums, or why it cannot be computed."""
        config = self.config
        for out in outputs:
            target = out.target
            grid = self.lineage.grids.get(out.region.key)
            if grid is None:
                if self.lineage.scheme is not None:
                    yield Skipped(out, f"region {out.region.key} has no grid cells in the input files", True)
                else:
                    yield Skipped(out, "no input year of its window could be read", True)
                continue
            window = self.sums.get(out.region.key)
            first = target.year - config.window_years + 1
            if window is not None:
                window.drop_before(first)
            used = tuple(window.years) if window is not None else ()
            if len(used) < config.min_years_for_normal:
                missing = [y for y in target.window if y not in used]
                reason = (
                    f"only {len(used)} readable years in window {first}-{target.year} (minimum "
                    f"{config.min_years_for_normal}); missing {format_ranges(missing)}"
                )
                yield Skipped(out, reason, bool(self.failed_years & set(missing)))  # lost to a failed file?
                continue
            scheme = self.lineage.scheme
            assert window is not None and scheme is not None
            thresholds = scheme.thresholds(range(first, target.year + 1), config.min_years_for_normal)
            attrs = tuple(sorted(self.lineage.attrs.items()))
            yield Computed(out, window.mean(thresholds), grid, used, scheme, attrs)
