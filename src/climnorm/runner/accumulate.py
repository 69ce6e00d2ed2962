"""A chain's running state: each year's files checked against the chain, assembled and added to the window sums,
and each target's normals taken from those sums.

One accumulator per chain (a variable of one model run). Years arrive in increasing order; at
``historical_end`` each future scenario forks the historical sums (:meth:`ChainAccumulator.fork`). Beside the
daily sums it keeps, when the run makes them, the monthly, seasonal and annual sums of the same years
(`climnorm.products.PeriodWindows`), fed by the same assembled fields: no product reads anything twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from climnorm._ranges import format_ranges
from climnorm.calendars import SlotScheme
from climnorm.catalog.filenames import FileEntry
from climnorm.config.model import Config
from climnorm.config.sections import completeness_rule
from climnorm.numerics.days import assemble_year
from climnorm.numerics.period_windows import PERIOD_PRODUCTS, PeriodWindows
from climnorm.numerics.periods import total_units
from climnorm.numerics.smoothing import Smoothing
from climnorm.numerics.sums import Stored, WindowSums
from climnorm.plan.build import OutputPlan
from climnorm.runner.lineage import Lineage, Problem, Verdict
from climnorm.types import FileResult, RegionCut, T_Aggregation, YearPiece
from climnorm.units import convert

DAY_PRODUCTS = ("daily", "daily_smoothed")


@dataclass(frozen=True)
class Skipped:
    """An output that cannot be computed, and why."""

    out: OutputPlan
    reason: str
    fail: bool  # something failed (a file, a year), rather than years merely missing


@dataclass(frozen=True)
class Computed:
    """An output's normal, ready to be written (a smoothed daily normal: the raw one, and how the writer smooths
    it)."""

    out: OutputPlan
    normal: np.ndarray
    grid: RegionCut
    years: tuple[int, ...]
    scheme: SlotScheme
    var_attrs: tuple[tuple[str, str], ...]
    input_years: tuple[int, ...]  # the years whose files made it: the window's, and a carried December's
    aggregation: T_Aggregation = "mean"
    smoothing: Smoothing | None = None


def aggregation(units: str | None) -> tuple[T_Aggregation, float]:
    """How months of daily values combine: water fluxes (kg m-2 s-1, mm day-1) are totalled in mm, the rest
    averaged; returns the aggregation and the scale of a day's value in the total."""
    try:
        return "sum", total_units(units)[0]
    except ValueError:
        return "mean", 1.0


@dataclass
class ChainAccumulator:
    """Window sums per region of one chain, fed year by year, forked into each future scenario."""

    variable: str
    config: Config
    park: Callable[[np.ndarray], Stored] | None = None
    pool: Executor | None = None  # reducer threads for the window sums' blocks
    lineage: Lineage = field(init=False)
    historical: dict[str, WindowSums] = field(default_factory=dict)
    historical_periods: dict[str, PeriodWindows] = field(default_factory=dict)
    failed_years: set[int] = field(default_factory=set)  # years lost because a file of them failed
    _verdicts: dict[str, Verdict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lineage = Lineage(self.variable, self.config.leap_day, self.config.mask_impossible)
        self.sums = self.historical
        self.periods = self.historical_periods
        self.daily = any(p in DAY_PRODUCTS for p in self.config.products)
        self.by_period = any(p in PERIOD_PRODUCTS for p in self.config.products)

    def fork(self) -> None:
        """Continue the historical sums in a future scenario (the historical ones stay as they are)."""
        self.sums = {k: v.fork() for k, v in self.historical.items()}
        self.periods = {k: v.fork() for k, v in self.historical_periods.items()}

    def add_year(
        self, scenario: str, year: int, results: Sequence[tuple[FileEntry, FileResult | None]], *, carry: bool = False
    ) -> list[Problem]:
        """Assemble one year from its files and add it to every region's window (all regions or none); a
        ``carry`` year, before every window, only leaves its December for the next year's DJF."""
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
                _converted(p, v.conversion) for _, r, v in usable if (p := r.pieces.get((year, region))) is not None
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
        if fields and all(_all_nan(v, year_fields.ranges.get(r)) for r, v in fields.items()):
            message = f"year {year} has no valid value in any region; counted as a year without data"
            problems.append(Problem("problem", names, message))
        first = year - self.config.window_years + 1
        for region, values in fields.items():
            if self.by_period:
                periods = self._periods(region, scheme)
                periods.drop_before(first)
                periods.carry(year, values) if carry else periods.add_year(year, values)
            if self.daily and not carry:
                window = self.sums.get(region)
                if window is None:
                    window = self.sums[region] = WindowSums(values.shape, self.park, self.pool)
                # enough years for a normal of this window: its mean is coming, take it in the same pass
                coming = sum(y >= first for y in window.years) + 1 >= self.config.min_years_for_normal
                window.add(year, values, drop_before=first, ranges=year_fields.ranges.get(region), quotient=coming)
        return problems

    def _periods(self, region: str, scheme: SlotScheme) -> PeriodWindows:
        """The region's monthly, seasonal and annual sums (made when its first year arrives)."""
        periods = self.periods.get(region)
        if periods is None:
            kind, scale = aggregation(self.lineage.units)
            rule = completeness_rule(self.config.monthly_completeness)
            periods = self.periods[region] = PeriodWindows(scheme, kind, scale, rule, self.park)
        return periods

    def _verdict(self, path: str, result: FileResult, problems: list[Problem]) -> Verdict:
        """Whether a file is usable; decided once per file (a multi-year file serves several years)."""
        verdict = self._verdicts.get(path)
        if verdict is None:
            verdict = self._verdicts[path] = self.lineage.check(path, result)
            problems.extend(verdict.problems)
        return verdict

    def normals(self, outputs: Sequence[OutputPlan]) -> Iterator[Computed | Skipped]:
        """Each output's normal from the current window sums, or why it cannot be computed."""
        made: dict[tuple[str, str], np.ndarray] = {}  # (region, daily or a period product): computed once
        for out in outputs:
            grid = self.lineage.grids.get(out.region.key)
            if grid is None:
                if self.lineage.scheme is not None:
                    yield Skipped(out, f"region {out.region.key} has no grid cells in the input files", True)
                else:
                    yield Skipped(out, "no input year of its window could be read", True)
                continue
            used = self._window_years(out)
            if len(used) < self.config.min_years_for_normal:
                yield self._too_few(out, used)
                continue
            yield self._computed(out, grid, used, made)

    def _window_years(self, out: OutputPlan) -> tuple[int, ...]:
        """The years in the output's window now (older ones dropped from its sums)."""
        first = out.target.year - self.config.window_years + 1
        sums = self.periods.get(out.region.key) if out.product in PERIOD_PRODUCTS else self.sums.get(out.region.key)
        if sums is None:
            return ()
        sums.drop_before(first)
        return tuple(sums.years)

    def _too_few(self, out: OutputPlan, used: tuple[int, ...]) -> Skipped:
        target, minimum = out.target, self.config.min_years_for_normal
        first = target.year - self.config.window_years + 1
        missing = [y for y in target.window if y not in used]
        reason = (
            f"only {len(used)} readable years in window {first}-{target.year} (minimum {minimum}); "
            f"missing {format_ranges(missing)}"
        )
        return Skipped(out, reason, bool(self.failed_years & set(missing)))  # lost to a failed file?

    def _computed(
        self, out: OutputPlan, grid: RegionCut, used: tuple[int, ...], made: dict[tuple[str, str], np.ndarray]
    ) -> Computed:
        """One output's normal: the daily mean (shared with its smoothed twin), or a period product's."""
        scheme, config, region = self.lineage.scheme, self.config, out.region.key
        assert scheme is not None
        attrs = tuple(sorted(self.lineage.attrs.items()))
        if out.product in DAY_PRODUCTS:
            if (region, "daily") not in made:
                first = out.target.year - config.window_years + 1
                thresholds = scheme.thresholds(range(first, out.target.year + 1), config.min_years_for_normal)
                made[(region, "daily")] = self.sums[region].mean(thresholds)
            smoothing = config.smoothing.rule() if out.product == "daily_smoothed" else None
            return Computed(out, made[(region, "daily")], grid, used, scheme, attrs, used, smoothing=smoothing)
        periods = self.periods[region]
        if (region, out.product) not in made:
            made.update({(region, k): v for k, v in periods.normals(config.min_years_for_normal).items()})
        before = used[0] - 1 if out.product == "seasonal" and used[0] in periods.with_december else None
        inputs = used if before is None or before in used else (before, *used)
        return Computed(out, made[(region, out.product)], grid, used, scheme, attrs, inputs, periods.kind)


def _converted(piece: YearPiece, conversion: tuple[float, float]) -> YearPiece:
    """A piece in the chain's units (its block ranges kept only if its values are unchanged)."""
    values = convert(piece.values, *conversion)
    return piece if values is piece.values else YearPiece(values, piece.steps)


def _all_nan(values: np.ndarray, ranges: np.ndarray | None) -> bool:
    """Whether no value is valid: from the blocks' ranges when the worker took them (every smallest value NaN),
    else looked at in full only when the first value is missing."""
    if ranges is not None:
        return bool(np.isnan(ranges[:, 0]).all())
    return values.size == 0 or (bool(np.isnan(values.flat[0])) and bool(np.isnan(np.fmax.reduce(values, axis=None))))
