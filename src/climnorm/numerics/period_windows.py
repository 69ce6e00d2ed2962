"""Rolling window sums of one region's monthly, seasonal and annual values, beside the daily ones.

The same exact :class:`~climnorm.numerics.sums.WindowSums` as the daily normal, one per product; the only state carried
from year to year besides the sums is the last year's December, which the next year's DJF needs (and which a
future scenario inherits from the historical run when it forks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from climnorm.calendars import SlotScheme
from climnorm.numerics.periods import WMO, Completeness, YearPeriods, year_periods
from climnorm.numerics.sums import Stored, WindowSums
from climnorm.types import T_Aggregation

PERIOD_PRODUCTS: tuple[str, ...] = ("monthly", "seasonal", "annual")


@dataclass
class PeriodWindows:
    """One chain's and region's monthly, seasonal and annual window sums; years arrive in increasing order."""

    scheme: SlotScheme
    kind: T_Aggregation
    scale: float = 1.0
    rule: Completeness = WMO
    park: Callable[[np.ndarray], Stored] | None = None
    sums: dict[str, WindowSums] = field(default_factory=dict)
    december: tuple[int, np.ndarray] | None = None  # (year, that year's monthly December)
    with_december: set[int] = field(default_factory=set)  # the years whose DJF had the previous December

    @property
    def years(self) -> list[int]:
        """The years in the window (the same for every product)."""
        first = next(iter(self.sums.values()), None)
        return first.years if first is not None else []

    def add_year(self, year: int, values: np.ndarray) -> YearPeriods:
        """Add one complete year's (slot, *cells) day-slot field; DJF uses the December of ``year`` - 1 if added."""
        previous = self.december[1] if self.december is not None and self.december[0] == year - 1 else None
        periods = self._year(year, values, previous)
        if previous is not None:
            self.with_december.add(year)
        for name, array in periods.by_product().items():
            window = self.sums.get(name)
            if window is None:
                window = self.sums[name] = WindowSums(array.shape, self.park)
            window.add(year, array)
        self.december = (year, periods.december.copy())
        return periods

    def carry(self, year: int, values: np.ndarray) -> None:
        """Keep only the December of ``year`` (a year before the window) for the next year's DJF."""
        self.december = (year, self._year(year, values, None).december.copy())

    def _year(self, year: int, values: np.ndarray, previous: np.ndarray | None) -> YearPeriods:
        return year_periods(
            values, self.scheme, year, kind=self.kind, scale=self.scale, rule=self.rule, previous_december=previous
        )

    def drop_before(self, first_year: int) -> None:
        """Remove the years older than ``first_year`` from every product's window (December stays carried)."""
        for window in self.sums.values():
            window.drop_before(first_year)
        self.with_december = {y for y in self.with_december if y >= first_year}

    def fork(self) -> PeriodWindows:
        """An independent continuation (a future scenario after the historical run), December included."""
        twin = PeriodWindows(self.scheme, self.kind, self.scale, self.rule, self.park)
        twin.sums = {name: window.fork() for name, window in self.sums.items()}
        twin.december = self.december
        twin.with_december = set(self.with_december)
        return twin

    def normals(self, min_years: int) -> dict[str, np.ndarray]:
        """Per product, the window mean as float32 (12, 4 or 1, *cells); NaN where fewer than ``min_years``
        valid years."""
        return {
            name: window.mean(np.full(window.shape[0], min_years, dtype=np.int64)) for name, window in self.sums.items()
        }
