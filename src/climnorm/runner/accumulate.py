"""A chain's running state: each year's files checked against the chain, assembled, turned into every product's
per-year values and added to their window sums; each target's normals taken from those sums.

One accumulator per chain (a variable of one model run). Years arrive in increasing order; at ``historical_end``
each future scenario continues a fork of the historical state (:class:`ChainState`). What a product's per-year
values are, and which window sums they feed, is its spec's (`climnorm.products`): the accumulator keeps one
source state and one window per region and name, whatever the products, so no product reads anything twice.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from climnorm._ranges import format_ranges
from climnorm.calendars import SlotScheme
from climnorm.catalog.filenames import FileEntry
from climnorm.config.model import Config
from climnorm.numerics.changes import DETRENDED_STD, WINDOW_YEARS, TrendSums
from climnorm.numerics.days import YearFields, assemble_year
from climnorm.numerics.ensemble import member_statistics
from climnorm.numerics.smoothing import Smoothing
from climnorm.numerics.sums import Stored, WindowSums
from climnorm.plan.changes import baseline_extras
from climnorm.plan.planned import OutputPlan
from climnorm.products import ProductSettings, Source, YearContext, YearSource
from climnorm.runner.lineage import Lineage, Problem, Verdict
from climnorm.types import FileResult, RegionCut, T_Aggregation, YearPiece
from climnorm.units import convert


@dataclass(frozen=True)
class Skipped:
    """An output that cannot be computed, and why: ``reason`` its own, ``why`` the same for every output of the
    cause (what a warning merging them says)."""

    out: OutputPlan
    reason: str
    fail: bool  # something failed (a file, a year), rather than years merely missing
    why: str = ""

    def __post_init__(self) -> None:
        if not self.why:
            object.__setattr__(self, "why", self.reason)


@dataclass(frozen=True)
class Computed:
    """An output's normal, ready to be written (``finish``: what the writer does to it first, in the worker)."""

    out: OutputPlan
    normal: np.ndarray
    grid: RegionCut
    years: tuple[int, ...]
    scheme: SlotScheme
    var_attrs: tuple[tuple[str, str], ...]
    input_years: tuple[int, ...]  # the years whose files made it: the window's, and a carried December's
    aggregation: T_Aggregation = "mean"
    finish: Smoothing | None = None
    extras: tuple[tuple[str, np.ndarray], ...] = ()  # statistics of the window's yearly values besides the mean


@dataclass(frozen=True)
class BaseThresholds:
    """A chain's day-of-year percentile thresholds of base periods (`climnorm.runner.thresholds`): per region, by
    product; and the products that could not have them, with the reason."""

    by_region: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    unavailable: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ChainState:
    """One scenario's state of a chain: per (region, source name) what the source carries from year to year, and
    per (region, window name) the window sums. A future scenario continues a :meth:`fork` of the historical one."""

    sources: dict[tuple[str, str], YearSource] = field(default_factory=dict)
    windows: dict[tuple[str, str], WindowSums] = field(default_factory=dict)
    trends: dict[tuple[str, str], TrendSums] = field(default_factory=dict)  # over the changes' baseline years

    def fork(self) -> ChainState:
        """An independent continuation; this state stays as it is."""
        return ChainState(
            {k: v.fork() for k, v in self.sources.items()},
            {k: v.fork() for k, v in self.windows.items()},
            {k: copy.deepcopy(v) for k, v in self.trends.items()},
        )


@dataclass
class ChainAccumulator:
    """The state of one chain, fed year by year: the historical run's, and the current scenario's."""

    variable: str
    config: Config
    park: Callable[[np.ndarray], Stored] | None = None
    pool: Executor | None = None  # reducer threads for the window sums' blocks
    thresholds: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)  # region -> product -> base's
    unavailable: Mapping[str, str] = field(default_factory=dict)  # products whose base thresholds failed, and why
    lineage: Lineage = field(init=False)
    historical: ChainState = field(default_factory=ChainState)
    state: ChainState = field(init=False)
    failed_years: set[int] = field(default_factory=set)  # years lost because a file of them failed
    _verdicts: dict[str, Verdict] = field(default_factory=dict)
    _settings: ProductSettings = field(init=False)
    _sources: dict[str, Source] = field(init=False)  # the run's sources of per-year values, each once
    _windows: frozenset[str] = field(init=False)  # the windows the run's products read
    _baseline: tuple[int, int] | None = field(init=False)  # the changes' baseline window, whose trend sums are kept

    def __post_init__(self) -> None:
        self.lineage = Lineage(self.variable, self.config.leap_day, self.config.mask_impossible)
        self.state = self.historical
        specs = [s for s in self.config.product_specs() if s.applies_to(self.variable)]
        self._settings = self.config.product_settings()
        self._sources = {s.source.name: s.source for s in specs}
        self._windows = frozenset(s.window for s in specs)
        changes = self.config.changes
        self._baseline = None if changes is None else changes.window(self.config.window_years)

    def fork(self) -> None:
        """Continue the historical state in a future scenario (the historical one stays as it is)."""
        self.state = self.historical.fork()

    def add_year(
        self, scenario: str, year: int, results: Sequence[tuple[FileEntry, FileResult | None]], *, carry: bool = False
    ) -> list[Problem]:
        """Assemble one year from its files and add it to every region's windows (all regions or none); a
        ``carry`` year, before every window, only leaves what the next year needs (DJF's December)."""
        problems: list[Problem] = []
        year_fields = self.year_fields(scenario, year, results, problems)
        if year_fields is None:
            return problems
        scheme = self.lineage.scheme
        assert scheme is not None
        fields = year_fields.fields
        if carry:
            for region, values in fields.items():
                for source in self._sources.values():
                    self._source(region, source, scheme).carry(year, values)
            return problems
        made = self._source_values(year, fields, scheme)
        for region, values in fields.items():
            self._add(region, year, values, year_fields.ranges.get(region), made[region])
        return problems

    def _source_values(
        self, year: int, fields: Mapping[str, np.ndarray], scheme: SlotScheme
    ) -> dict[str, dict[str, np.ndarray]]:
        """Every region's per-year values of every source, by window name: each (region, source) is independent,
        so the reducer threads make them side by side (numpy lets go of the GIL in its loops)."""
        states = [(r, self._source(r, s, scheme)) for r in fields for s in self._sources.values()]
        if self.pool is None or len(states) < 2:
            made = [state.add(year, fields[r]) for r, state in states]
        else:
            made = list(self.pool.map(lambda rs: rs[1].add(year, fields[rs[0]]), states))
        out: dict[str, dict[str, np.ndarray]] = {r: {} for r in fields}
        for (region, _), arrays in zip(states, made, strict=True):
            out[region].update(arrays)
        return out

    def year_fields(
        self, scenario: str, year: int, results: Sequence[tuple[FileEntry, FileResult | None]], problems: list[Problem]
    ) -> YearFields | None:
        """One year's day-slot field per region, assembled from its files in the chain's units; None (and why,
        in ``problems``) when a file failed or the year is incomplete or refused."""
        usable = self._usable(results, problems)
        if len(usable) != len(results) or not usable:
            if results:
                problems.append(
                    Problem("notice", f"{self.variable} {scenario}", f"year {year} not used (a file of it failed)")
                )
                self.failed_years.add(year)
            return None
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
            problems.append(Problem("failure", names, f"year {year}: the same days appear in several files; refused"))
            return None
        if year_fields.missing_days:
            message = f"year {year} incomplete ({year_fields.missing_days} day(s) missing); not used"
            problems.append(Problem("problem", names, message))
            return None
        fields = year_fields.fields
        if fields and all(_all_nan(v, year_fields.ranges.get(r)) for r, v in fields.items()):
            message = f"year {year} has no valid value in any region; counted as a year without data"
            problems.append(Problem("problem", names, message))
        return year_fields

    def _usable(
        self, results: Sequence[tuple[FileEntry, FileResult | None]], problems: list[Problem]
    ) -> list[tuple[FileEntry, FileResult, Verdict]]:
        """The year's files that read and agree with the chain."""
        usable = []
        for entry, result in results:
            if result is None:
                continue
            verdict = self._verdict(str(entry.path), result, problems)
            if verdict.usable:
                usable.append((entry, result, verdict))
        return usable

    def _add(
        self, region: str, year: int, values: np.ndarray, ranges: np.ndarray | None, made: Mapping[str, np.ndarray]
    ) -> None:
        """Add a region's year, the sources' values ``made`` of it, to their windows (dropping the years that left
        them)."""
        first = year - self.config.window_years + 1
        for name, array in made.items():
            if name not in self._windows:
                continue
            window = self.state.windows.get((region, name))
            if window is None:
                window = self.state.windows[(region, name)] = WindowSums(array.shape, self.park, self.pool)
            # enough years for a normal of this window: its mean is coming, take it in the same pass
            coming = sum(y >= first for y in window.years) + 1 >= self.config.min_years_for_normal
            known = ranges if array is values else None  # the worker's block ranges are of the raw field
            window.add(year, array, drop_before=first, ranges=known, quotient=coming)
            if self._baseline is not None and self._baseline[0] <= year <= self._baseline[1]:
                trend = self.state.trends.get((region, name))
                if trend is None:
                    trend = self.state.trends[(region, name)] = TrendSums(array.shape, self._baseline[0])
                trend.add(year, array)

    def _source(self, region: str, source: Source, scheme: SlotScheme) -> YearSource:
        """The region's state of a source (made when its first year arrives)."""
        state = self.state.sources.get((region, source.name))
        if state is None:
            thresholds = self.thresholds.get(region, {})
            context = YearContext(scheme, self.lineage.units, self._settings, self.variable, thresholds)
            state = self.state.sources[(region, source.name)] = source.make(context)
        return state

    def _verdict(self, path: str, result: FileResult, problems: list[Problem]) -> Verdict:
        """Whether a file is usable; decided once per file (a multi-year file serves several years)."""
        verdict = self._verdicts.get(path)
        if verdict is None:
            verdict = self._verdicts[path] = self.lineage.check(path, result)
            problems.extend(verdict.problems)
        return verdict

    def normals(self, outputs: Sequence[OutputPlan]) -> Iterator[Computed | Skipped]:
        """Each output's normal from the current window sums, or why it cannot be computed."""
        made: dict[tuple[str, str], np.ndarray] = {}  # (region, window): each window's mean computed once
        for out in outputs:
            if out.product in self.unavailable:
                yield Skipped(out, self.unavailable[out.product], True)
                continue
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
        window = self.state.windows.get((out.region.key, out.spec.window))
        if window is None:
            return ()
        window.drop_before(first)
        return tuple(window.years)

    def _too_few(self, out: OutputPlan, used: tuple[int, ...]) -> Skipped:
        target, minimum = out.target, self.config.min_years_for_normal
        first = target.year - self.config.window_years + 1
        missing = [y for y in target.window if y not in used]
        reason = (
            f"only {len(used)} readable years in window {first}-{target.year} (minimum {minimum}); "
            f"missing {format_ranges(missing)}"
        )
        why = f"too few readable years in the window (minimum {minimum} of {self.config.window_years})"
        return Skipped(out, reason, bool(self.failed_years & set(missing)), why)  # lost to a failed file?

    def _computed(
        self, out: OutputPlan, grid: RegionCut, used: tuple[int, ...], made: dict[tuple[str, str], np.ndarray]
    ) -> Computed:
        """One output's normal: its window's mean (shared by the products that read the same window)."""
        scheme, config, spec, region = self.lineage.scheme, self.config, out.spec, out.region.key
        assert scheme is not None
        key = (region, spec.window)
        if key not in made:
            window = self.state.windows[key]
            span = range(out.target.year - config.window_years + 1, out.target.year + 1)
            made[key] = window.mean(spec.layout.thresholds(scheme, span, config.min_years_for_normal, window.shape[0]))
        inputs = used
        if spec.uses_previous_year:
            inputs = (*self.state.sources[(region, spec.source.name)].previous_years(used), *used)
        attrs = tuple(sorted(self.lineage.attrs.items()))
        kind, _ = spec.source.aggregation(self.lineage.units)
        finish = spec.finish(self._settings)
        extras = self._window_statistics(out, key)
        return Computed(out, made[key], grid, used, scheme, attrs, inputs, kind, finish, extras)

    def _window_statistics(self, out: OutputPlan, key: tuple[str, str]) -> tuple[tuple[str, np.ndarray], ...]:
        """The product's statistics of the window's yearly values besides their mean (sample std, percentiles),
        where at least ``min_years_for_normal`` years are valid."""
        names = out.spec.window_extras(self._settings)
        extras: tuple[tuple[str, np.ndarray], ...] = ()
        if names:
            stack = self.state.windows[key].stack()
            values, _ = member_statistics(stack, names, self.config.min_years_for_normal, ddof=1)
            extras = tuple((name, values[name].astype(np.float32)) for name in names)
        trend = self.state.trends.get(key)
        if self._baseline is not None and out.target.year == self._baseline[1] and trend is not None:
            sigma = trend.detrended_std()  # the baseline's interannual variability, for the changes' significance
            sigma[trend.count < self.config.min_years_for_normal] = np.nan
            extras += ((DETRENDED_STD, sigma.astype(np.float32)),)
            if WINDOW_YEARS in baseline_extras(out.spec):  # a county's own variability needs the years themselves
                extras += ((WINDOW_YEARS, self.state.windows[key].stack().astype(np.float32)),)
        return extras


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
