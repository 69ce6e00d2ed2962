"""What a product is: one declaration (:class:`ProductSpec`) of what an output of a chain and target holds, how its
per-year values are made from a year's day-slot field, how a window reduces them, how its file is laid out and
what shapes it for resume. The planner, the reducer, the writers, the ensemble step and `verify` look a product
up by name; none of them compares product names (docs/architecture.md, "A new product").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from climnorm.calendars import SlotScheme
from climnorm.numerics.ensemble import noleap_slots
from climnorm.numerics.periods import Completeness
from climnorm.numerics.smoothing import Smoothing
from climnorm.types import T_Aggregation


@dataclass(frozen=True)
class DaySlots:
    """One step per day slot of the chain's calendar and leap-day policy; an ensemble aligns its members on the
    365-day noleap (month, day) axis."""

    labels: tuple[str, ...] = ("dayofyear", "month", "day")
    alignment: str = (
        "members on a 365-day noleap (month, day) axis: 366-slot members without 29 February (day 366 under the "
        "dayofyear policy), 360_day members' slot floor(s * 360 / 365) for noleap slot s (0-based)"
    )

    def steps(self, scheme: SlotScheme) -> int:
        return scheme.nslots

    def thresholds(self, scheme: SlotScheme, window: range, min_years: int, steps: int) -> np.ndarray:
        """Valid years a cell-step needs: the minimum scaled to the years that have the slot (29 February)."""
        return scheme.thresholds(window, min_years)

    def member_steps(self, nsteps: int, leap_day: str) -> np.ndarray:
        """For each step of an ensemble file, the member file's step that stands for it."""
        return noleap_slots(nsteps, leap_day)


@dataclass(frozen=True)
class PeriodStep:
    """One climatological step of whole months: its label, first month, number of months, and the year of its first
    month relative to the year it belongs to (-1: DJF's December)."""

    label: str
    month: int
    months: int
    offset: int = 0


@dataclass(frozen=True)
class Periods:
    """Climatological steps of whole months (12 months, 4 seasons, the year), the same in every calendar; a label
    coordinate ``month`` (the step's month number) or ``season`` (its name), or none."""

    periods: tuple[PeriodStep, ...]
    coordinate: Literal["month", "season"] | None = None
    alignment: str = "members' monthly, seasonal or annual steps as they are (each member's own calendar months)"

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.coordinate,) if self.coordinate else ()

    def steps(self, scheme: SlotScheme) -> int:
        return len(self.periods)

    def thresholds(self, scheme: SlotScheme, window: range, min_years: int, steps: int) -> np.ndarray:
        """Valid years a cell-step needs: the minimum, for every step."""
        return np.full(steps, min_years, dtype=np.int64)

    def member_steps(self, nsteps: int, leap_day: str) -> np.ndarray:
        if nsteps != len(self.periods):
            raise ValueError(f"{nsteps} steps, expected {len(self.periods)}")
        return np.arange(nsteps)


T_Layout = DaySlots | Periods
"""How an output's steps are laid out in its file: what its writer, the ensemble's alignment and `verify` follow."""


@dataclass(frozen=True)
class ProductSettings:
    """The configuration a product's values can depend on: how smoothed normals are smoothed and when a month of a
    year is complete, each as the rule applied and as the configuration gave it (what resume compares)."""

    smoothing: Smoothing
    completeness: Completeness
    smoothing_config: Mapping[str, Any]
    completeness_config: str | Mapping[str, Any]
    window_statistics: tuple[str, ...] = ()  # besides the mean, over the window's yearly values


@dataclass(frozen=True)
class YearContext:
    """What a chain's yearly values are made with: its variable, slots and units, the run's product settings, and
    the region's day-of-year percentile thresholds of a base period, by product (those that count beyond them)."""

    scheme: SlotScheme
    units: str | None
    settings: ProductSettings
    variable: str = ""
    thresholds: Mapping[str, np.ndarray] = field(default_factory=dict)


class YearSource(Protocol):
    """Turns a chain's years, in increasing order, into the per-year values of one or more windows; may carry state
    from one year to the next (the December before DJF) and into a future scenario (:meth:`fork`)."""

    def add(self, year: int, values: np.ndarray) -> Mapping[str, np.ndarray]:
        """The year's values, per window name, from its (slot, *cells) day-slot field."""
        ...

    def carry(self, year: int, values: np.ndarray) -> None:
        """A year before every window: keep only what the next year needs."""
        ...

    def previous_years(self, years: tuple[int, ...]) -> tuple[int, ...]:
        """Years before ``years`` whose values entered theirs (inputs of the normal besides the window's)."""
        ...

    def fork(self) -> YearSource: ...


@dataclass(frozen=True)
class Source:
    """How per-year values are made: ``make`` builds the state of one chain and region (products with the same
    source share it); ``aggregation`` says how a chain's units combine within a step (mean, or a total and the
    scale of a day's value in it)."""

    name: str
    make: Callable[[YearContext], YearSource]
    aggregation: Callable[[str | None], tuple[T_Aggregation, float]]


def by_mean(units: str | None) -> tuple[T_Aggregation, float]:
    """Every step is a mean, whatever the units (a day slot is the mean of its day's time steps)."""
    return "mean", 1.0


@dataclass(frozen=True)
class ProductSpec:
    """One product, declared once.

    ``window``: the window sums its normal is the mean of (products reading the same window share one: the daily
    and the smoothed daily normal); ``finish``: what the writer does to the normal first, in the worker;
    ``fingerprint``: the configuration that shapes its values, beyond what shapes every output and its name (resume
    recomputes an output whose fingerprint changed); ``file_attrs``: the global attributes its files add after
    ``product``; ``comment``: the
    variable's comment, by how steps aggregate; ``uses_previous_year``: its first year may take values of the year
    before the window (DJF's December), which is then read too; ``named``: whether its paths, records and files say
    its name (the daily normal's predate products and do not); ``version``: of its files' layout. ``variables``: the
    variables whose chains have it (None: every variable); ``data_name``: its files' data variable (default: the
    chain's variable); ``variable_attrs``: that variable's attributes instead of the daily values' (an indicator's
    units and names); ``within``: the CF method of its steps within years (default: by the aggregation);
    ``entry``: the configuration entry it was made from, which its records keep (an indicator's);
    ``window_statistics``: whether its files hold the configured statistics of the window's yearly values besides
    their mean (products of one value per year and step: periods and indicators).
    """

    name: str
    title: str
    layout: T_Layout
    source: Source
    window: str
    fingerprint: Callable[[ProductSettings], Mapping[str, Any]] = lambda settings: {}
    file_attrs: Callable[[ProductSettings], Mapping[str, str]] = lambda settings: {}
    comment: Callable[[T_Aggregation, ProductSettings], str] = lambda aggregation, settings: ""
    finish: Callable[[ProductSettings], Smoothing | None] = lambda settings: None
    uses_previous_year: bool = False
    named: bool = True
    version: int = 1  # bumped when its files change, so that resume rewrites the older ones
    variables: frozenset[str] | None = None
    data_name: str = ""
    variable_attrs: tuple[tuple[str, Any], ...] = ()
    within: str = ""
    entry: Mapping[str, Any] | None = None
    window_statistics: bool = False
    base_years: tuple[int, ...] = ()  # a base period's years its values depend on (their files are its inputs too)

    def window_extras(self, settings: ProductSettings) -> tuple[str, ...]:
        """The statistics of the window's years its files hold besides the mean."""
        return settings.window_statistics if self.window_statistics else ()

    def applies_to(self, variable: str) -> bool:
        """Whether a chain of ``variable`` has this product."""
        return self.variables is None or variable in self.variables

    def label(self) -> str:
        """How messages name the product after an output (nothing for the daily normal)."""
        return f" {self.name}" if self.named else ""


@dataclass(frozen=True)
class FileProduct:
    """What a product's output file says of it: its name and title, its layout, how a step aggregates a chain's
    days (mean, or a total), the data variable's comment and the global attributes the product adds; an
    indicator's data variable name, attributes and CF method within years (:class:`ProductSpec`)."""

    name: str
    title: str
    layout: T_Layout
    aggregation: T_Aggregation = "mean"
    comment: str = ""
    attrs: tuple[tuple[str, str], ...] = ()
    data_name: str = ""
    variable_attrs: tuple[tuple[str, Any], ...] = ()
    within: str = ""


def file_product(spec: ProductSpec, aggregation: T_Aggregation, settings: ProductSettings) -> FileProduct:
    """What an output of ``spec`` says of its product, in a chain whose steps aggregate by ``aggregation``."""
    attrs = ((("product", spec.name),) if spec.named else ()) + tuple(spec.file_attrs(settings).items())
    return FileProduct(
        spec.name,
        spec.title,
        spec.layout,
        aggregation,
        spec.comment(aggregation, settings),
        attrs,
        spec.data_name,
        spec.variable_attrs,
        spec.within,
    )
