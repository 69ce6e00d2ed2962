"""Day-of-year percentile thresholds over a base period, as xclim's ``percentile_doy`` computes them and its
``resample_doy`` maps them to the days of a year (tx90p, tn10p, days_over_precip_doy_thresh ...).

numpy in, numpy out: no files, no logging, no configuration.

What matches xclim 0.62 (``percentile_doy(arr, window=5, per=P)`` with its defaults, then ``resample_doy``):

* The sample of a day of year is every value of a centred ``window``-day window (days ``-window//2`` to
  ``window - 1 - window//2``) around each of its days in the base period, over the continuous series: windows cross
  year boundaries, and at the two ends of the base period they are truncated (``min_periods=1``). Windows are by
  position in the series, as xarray's rolling is, and grouped by day-of-year *number*: in a leap year the days after
  28 February count one further than in other years.
* The percentile is Hyndman & Fan type 8 (alpha = beta = 1/3) over the sample's non-missing values, with xclim's
  arithmetic (``core.utils._nan_quantile``): its virtual index, its clamping to the smallest and largest value, its
  two-sided linear interpolation; one value gives itself, none gives NaN.
* A base period with a day 366 (leap years): the percentiles of days 1-365 have their interior NaN gaps filled
  linearly (xarray's ``interpolate_na``) and are stretched onto days 1-366 by linear interpolation (``interp``: the
  365 values placed at ``linspace(1, 366, 365)``), as ``percentile_doy`` does. 360_day and noleap give 360 and 365
  days, untouched.
* Mapping to a year's days (:func:`doy_thresholds`): a day takes the threshold of its day-of-year number when the
  thresholds have the calendar's full length (366 for the standard calendar, whichever year: in a common year
  1 March takes day 60's, 31 December day 365's); otherwise they are first interpolated onto the year's day-of-year
  range as ``resample_doy`` does (``adjust_doy_calendar``).

Values are kept as float32 (climate-model files hold float32): percentiles of float32 data are xclim's on the same
data to the bit (the interpolation difference is taken in float32, as xclim does for float32 input); float64 input
is rounded to float32 first (a relative 6e-8). Values must be finite or NaN.

How, and memory: the base years come one at a time. When the number of base years is known (``years``), each day of
year keeps only the order statistics its percentile can need: the ``K`` largest values of its sample (the ``K``
smallest for a percentile below 50), ``K = n - floor(n q + (1 + q) / 3 - 1)`` at most, for the largest possible
sample ``n = window * years`` (the rank needed only grows with ``n``, so no value dropped can be needed later), and a
count of its valid values (uint16). Per cell, for a 5-day window and 30 years in a 366-day calendar: a 90th (or 10th)
percentile keeps K = 16, 366 x (16 x 4 + 2) bytes = 24 kB, 0.8 kB per base year; a 95th K = 8, 0.41 kB per base
year; a 99th K = 2, 0.12 kB per base year. Between about the 20th and the 80th percentile that would exceed the days
themselves (each day is in ``window`` samples), so there, and when ``years`` is not given, the days are kept
(float32: 1.46 kB a cell per base year) and each sample assembled and sorted in :meth:`DoyPercentiles.thresholds`.
The results are the same either way. ``DoyPercentiles.nbytes_per_cell`` gives the figure. The raw days would be
1.46 kB a cell per base year as float32 and 2.9 kB as float64.

Precipitation: ETCCDI's R95p counts days above the 95th percentile of wet days (>= 1 mm/day) of the base period,
one percentile for the whole year. xclim's ``days_over_precip_doy_thresh`` takes a day-of-year percentile instead;
its documentation asks for a "percentile of wet day precipitation flux" (``pr_per``) and leaves the wet-day
selection to the caller: ``percentile_doy(pr.where(pr >= 1 mm/day), window=5, per=95)`` (its own examples and
tests pass unselected precipitation). That is :func:`wet_days` before :meth:`DoyPercentiles.add`: dry days are NaN,
so samples are small and some days of year have no percentile (NaN; filled from neighbouring days of year when the
base period has leap days, as above). The indicator then raises every threshold below its ``thresh`` (1 mm/day),
and every NaN threshold, to ``thresh`` before comparing; that is the counting's business, not this module's.

Bootstrap: ETCCDI (Zhang et al. 2005, J. Climate 18) computes exceedances of years inside the base period by
resampling: each base year's thresholds come from the base period with that year replaced in turn by each of the
others, and the exceedance counts are averaged, which removes the low bias of in-base years being compared with
thresholds partly made of themselves. xclim does this only with ``bootstrap=True``. We implement no bootstrap, as
xclim's default: one set of thresholds for every year, in the base period or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from climnorm.calendars import days_in_year, normalise_calendar

#: Hyndman & Fan's plotting positions for their type 8, xclim's default.
ALPHA = 1.0 / 3.0
BETA = 1.0 / 3.0
#: The largest day of year per calendar (xclim's ``max_doy``).
MAX_DOY = {"standard": 366, "proleptic_gregorian": 366, "julian": 366, "all_leap": 366, "noleap": 365, "360_day": 360}
#: Days in a year on average per calendar: what keeping the days costs.
_DAYS_PER_YEAR = {"standard": 365.25, "proleptic_gregorian": 365.2425, "julian": 365.25}
_DAYS_PER_YEAR |= {"all_leap": 366.0, "noleap": 365.0, "360_day": 360.0}
#: float32 values in one block's temporaries (about 32 MB): bounds the memory of add() and thresholds().
_BLOCK_VALUES = 2**23


@dataclass
class DoyPercentiles:
    """Accumulates the base period's days, year by year, and gives xclim's percentile_doy thresholds.

    ``years``: the number of base years if known in advance; then only the order statistics the percentile can need
    are kept. Memory per cell, 30 years, 5-day window: 24 kB for a 10th or 90th percentile, 12 kB for a 95th, 3.7 kB
    for a 99th, 44 kB (the days, float32) between about the 20th and 80th or without ``years``; ``nbytes_per_cell``
    tells (module docstring). add() takes about 0.6 s a year for 25,000 cells, thresholds() about a second.
    """

    calendar: str  # "noleap", "360_day", "standard", "proleptic_gregorian", "all_leap", "julian"
    per: float  # e.g. 90.0
    window: int = 5
    years: int | None = None
    _q: float = field(init=False, repr=False)
    _upper: bool = field(init=False, repr=False)
    _keep: int | None = field(init=False, repr=False)  # K of the module docstring; None: the days are kept
    _offsets: np.ndarray = field(init=False, repr=False)
    _cells: tuple[int, ...] | None = field(init=False, repr=False, default=None)
    _added: int = field(init=False, repr=False, default=0)
    _last_year: int | None = field(init=False, repr=False, default=None)
    _seen: np.ndarray = field(init=False, repr=False)
    _tail: np.ndarray = field(init=False, repr=False)
    _tail_slots: np.ndarray = field(init=False, repr=False)
    _pending: int = field(init=False, repr=False, default=0)
    _kept: np.ndarray = field(init=False, repr=False)
    _count: np.ndarray = field(init=False, repr=False)
    _days: list[np.ndarray] = field(init=False, repr=False, default_factory=list)
    _day_slots: list[np.ndarray] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        self.calendar = normalise_calendar(self.calendar)
        if not 0.0 <= self.per <= 100.0:
            raise ValueError(f"percentile {self.per} is not within [0, 100]")
        if self.window < 1:
            raise ValueError(f"window {self.window} is not a positive number of days")
        if self.years is not None and self.years < 1:
            raise ValueError(f"years {self.years} is not a positive number of base years")
        self._q = self.per / 100.0
        self._upper = self._q >= 0.5
        before = self.window // 2
        self._offsets = np.arange(-before, self.window - before)
        self._seen = np.zeros(self.slots, dtype=bool)
        self._keep = None
        if self.years is not None:
            largest = self.window * self.years
            keep = _rank_needed(largest, self._q, self._upper)
            if self.slots * (keep * 4 + _count_bytes(largest)) < 4 * self.years * _DAYS_PER_YEAR[self.calendar]:
                self._keep = keep

    @property
    def slots(self) -> int:
        """Days of year kept apart: the calendar's largest day of year."""
        return MAX_DOY[self.calendar]

    @property
    def nbytes_per_cell(self) -> float:
        """Bytes held per cell once every declared base year is in (so far, when ``years`` is not given)."""
        if self.years is None:
            return 4.0 * sum(len(d) for d in self._day_slots)
        if self._keep is None:
            return 4.0 * self.years * _DAYS_PER_YEAR[self.calendar]
        return float(self.slots * (self._keep * 4 + _count_bytes(self.window * self.years)))

    def add(self, year: int, values: np.ndarray, doy: np.ndarray) -> None:
        """One base year's days in date order: values (ndays, *cells) float64 (NaN missing), doy (ndays,) 1-based."""
        values = np.asarray(values)
        doy = np.asarray(doy)
        if doy.ndim != 1 or values.shape[:1] != doy.shape:
            raise ValueError(f"values {values.shape} and doy {doy.shape} do not have one day of year per day")
        if len(doy) < self.window:
            raise ValueError(f"{year} has {len(doy)} days, fewer than the window's {self.window}")
        if np.any(np.diff(doy) <= 0) or doy[0] < 1 or doy[-1] > days_in_year(year, self.calendar):
            raise ValueError(f"doy of {year} is not increasing within 1 ... {days_in_year(year, self.calendar)}")
        if self._last_year is not None and year <= self._last_year:
            raise ValueError(f"base year {year} after {self._last_year}: years come in increasing order")
        if self.years is not None and self._added >= self.years:
            raise ValueError(f"base year {year} is one more than the {self.years} declared")
        cells = values.shape[1:]
        if self._cells is None:
            self._start(cells)
        elif cells != self._cells:
            raise ValueError(f"cells {cells} of {year} differ from the first year's {self._cells}")
        ncells = math.prod(cells)
        days = values.reshape(len(doy), ncells).astype(np.float32)
        slots = doy.astype(np.intp) - 1
        self._seen[slots] = True
        self._last_year = year
        self._added += 1
        if self._keep is None:
            self._days.append(days)
            self._day_slots.append(slots)
            return
        if self._upper:
            np.negative(days, out=days)
        series = np.concatenate([self._tail, days])
        series_slots = np.concatenate([self._tail_slots, slots])
        held = len(self._tail)
        end = len(series) - (self.window - 1 - self.window // 2)
        # the previous year's last days, then this year's: each group has a day of year once
        self._merge(self._kept, self._count, series, series_slots, np.arange(held - self._pending, held))
        self._merge(self._kept, self._count, series, series_slots, np.arange(held, end))
        self._tail = series[len(series) - held :].copy()
        self._tail_slots = series_slots[len(series) - held :].copy()
        self._pending = len(series) - end

    def thresholds(self) -> np.ndarray:
        """(ndoy, *cells) float64: the percentile for each day of year (ndoy = 366, 365 or 360 as xclim gives for
        the calendar: 365 for a leap calendar whose base period has no leap day)."""
        if self._cells is None:
            raise ValueError("no base year added")
        last = self.slots - 1 if self.slots == 366 else self.slots
        if not self._seen[:last].all():
            missing = np.flatnonzero(~self._seen[:last]) + 1
            raise ValueError(f"days of year {missing[:5].tolist()} ... never occur in the base period")
        out = self._from_kept() if self._keep is not None else self._from_days()
        if self.slots == 366:
            out = _adjust_doy(out[:365], 1, 366) if self._seen[365] else out[:365]
        return out.reshape(len(out), *self._cells)

    def _start(self, cells: tuple[int, ...]) -> None:
        self._cells = cells
        ncells = math.prod(cells)
        held = self.window - 1  # the days before and after a window's centre
        self._tail = np.full((held, ncells), np.nan, dtype=np.float32)
        self._tail_slots = np.full(held, -1, dtype=np.intp)
        if self._keep is not None:
            assert self.years is not None
            self._kept = np.full((self.slots, ncells, self._keep), np.nan, dtype=np.float32)
            count_type = np.uint16 if _count_bytes(self.window * self.years) == 2 else np.uint32
            self._count = np.zeros((self.slots, ncells), dtype=count_type)

    def _merge(
        self, kept: np.ndarray, count: np.ndarray, series: np.ndarray, slots: np.ndarray, centres: np.ndarray
    ) -> None:
        """Merge the windows around ``centres`` (positions in ``series``, whose days of year are distinct) into
        ``kept``: the ``K`` smallest values of each sample (negated values for an upper percentile), in any order,
        NaN in places no value has reached yet; ``count`` counts the valid values."""
        keep = kept.shape[2]
        block = max(1, _BLOCK_VALUES // (kept.shape[1] * (keep + self.window)))
        for first in range(0, len(centres), block):
            at = centres[first : first + block]
            windows = series[at[:, None] + self._offsets].transpose(0, 2, 1)  # (centres, cells, window)
            where = slots[at]
            count[where] += np.count_nonzero(~np.isnan(windows), axis=2).astype(count.dtype)
            both = np.concatenate([kept[where], windows], axis=2)
            both.partition(keep - 1, axis=2)  # NaN sorts last: values first
            kept[where] = both[:, :, :keep]

    def _from_kept(self) -> np.ndarray:
        """The percentiles (slots, cells) from the kept order statistics, the last year's last days merged in."""
        assert self._keep is not None
        kept, count = self._kept, self._count
        out = np.empty(kept.shape[:2], dtype=np.float64)
        block = max(1, _BLOCK_VALUES // (kept.shape[1] * self._keep))
        for first in range(0, self.slots, block):
            part = np.sort(kept[first : first + block], axis=2)
            out[first : first + block] = _type8(part, count[first : first + block], self._q, self._upper)
        if self._pending:
            # the base period's last days, their windows cut at its end: merged into copies, so add() can go on
            held = len(self._tail)
            after = self.window - 1 - self.window // 2
            series = np.concatenate([self._tail, np.full((after, kept.shape[1]), np.nan, dtype=np.float32)])
            centres = np.arange(held - self._pending, held)
            where = self._tail_slots[centres]
            local = np.full(len(series), -1, dtype=np.intp)
            local[centres] = np.arange(len(centres))
            sub_kept, sub_count = kept[where], count[where]
            self._merge(sub_kept, sub_count, series, local, centres)
            out[where] = _type8(np.sort(sub_kept, axis=2), sub_count, self._q, self._upper)
        return out

    def _from_days(self) -> np.ndarray:
        """The percentiles (slots, cells) from the kept days: each day of year's sample assembled and sorted."""
        ncells = self._tail.shape[1]
        days = self._days
        starts = np.cumsum([0] + [len(d) for d in days])
        slots = np.concatenate(self._day_slots)
        year_of = np.repeat(np.arange(len(days)), [len(d) for d in days])
        width = len(days) * self.window
        out = np.full((self.slots, ncells), np.nan, dtype=np.float64)
        block = max(1, _BLOCK_VALUES // (ncells * width))
        for first in range(0, self.slots, block):
            centres = np.flatnonzero((slots >= first) & (slots < first + block))
            if not len(centres):
                continue
            positions = (centres[:, None] + self._offsets).ravel()
            windows = np.full((len(positions), ncells), np.nan, dtype=np.float32)
            inside = (positions >= 0) & (positions < starts[-1])
            year = np.searchsorted(starts, positions, side="right") - 1
            for y in np.unique(year[inside]):
                take = inside & (year == y)
                windows[take] = days[y][positions[take] - starts[y]]
            nslots = min(block, self.slots - first)
            sample = np.full((nslots, len(days), self.window, ncells), np.nan, dtype=np.float32)
            sample[slots[centres] - first, year_of[centres]] = windows.reshape(len(centres), self.window, ncells)
            ordered = np.sort(sample.transpose(0, 3, 1, 2).reshape(nslots, ncells, width), axis=2)
            count = np.count_nonzero(~np.isnan(ordered), axis=2)
            out[first : first + nslots] = _type8(ordered, count, self._q, upper=False)
        return out


def doy_thresholds(thresholds: np.ndarray, doy: np.ndarray, calendar: str, year: int) -> np.ndarray:
    """(ndays, *cells): each day's threshold for a year's days with day-of-year ``doy``, as xclim's resample_doy
    maps them (including leap/non-leap handling)."""
    calendar = normalise_calendar(calendar)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    doy = np.asarray(doy).astype(np.intp)
    if doy.ndim != 1 or not len(doy) or doy.min() < 1 or doy.max() > days_in_year(year, calendar):
        raise ValueError(f"doy is not within 1 ... {days_in_year(year, calendar)} for {year} in {calendar}")
    if len(thresholds) == MAX_DOY[calendar]:
        return np.take(thresholds, doy - 1, axis=0)
    # thresholds of another length (another calendar's): onto the days of year the target spans, as xclim does
    first, last = int(doy.min()), int(doy.max())
    flat = thresholds.reshape(len(thresholds), -1)
    adjusted = _adjust_doy(flat, first, last)
    return np.take(adjusted, doy - first, axis=0).reshape(len(doy), *thresholds.shape[1:])


def wet_days(values: np.ndarray, threshold: float) -> np.ndarray:
    """The values of wet days (>= ``threshold``), NaN elsewhere: the sample of a wet-day percentile (R95p and kin)."""
    values = np.asarray(values, dtype=np.float64)
    return np.asarray(np.where(values >= threshold, values, np.nan), dtype=np.float64)


def _count_bytes(largest: int) -> int:
    """Bytes of a valid-value count up to ``largest``."""
    return 2 if largest < 2**16 else 4


def _rank_needed(largest: int, q: float, upper: bool) -> int:
    """How many of a sample's largest (``upper``) or smallest values its percentile reads, for samples of at most
    ``largest`` values."""
    need = 1
    for n in range(2, largest + 1):
        lo, hi, _ = _positions(float(n), q)
        need = max(need, n - lo if upper else hi + 1)
    return need


def _positions(n: float, q: float) -> tuple[int, int, float]:
    """The order statistics (0-based) and weight xclim's type 8 interpolates for ``n >= 2`` values (scalar)."""
    virtual = n * q + (ALPHA + q * (1 - ALPHA - BETA)) - 1
    if virtual >= n - 1:
        return int(n) - 1, int(n) - 1, 0.0
    if virtual < 0:
        return 0, 0, 0.0
    lo = math.floor(virtual)
    return lo, lo + 1, virtual - lo


def _type8(ordered: np.ndarray, count: np.ndarray, q: float, upper: bool) -> np.ndarray:
    """xclim's ``_nan_quantile`` (type 8) from each sample's kept values, sorted with NaN last.

    ``ordered`` (..., K) float32 holds the K smallest values, or with ``upper`` the K largest negated; ``count`` (...)
    is each sample's number of valid values. Returns float64 (...), NaN where a sample has none.
    """
    n = count.astype(np.float64)
    virtual = n * q + (ALPHA + q * (1 - ALPHA - BETA)) - 1
    lo = np.floor(virtual)
    hi = lo + 1
    gamma = virtual - lo
    clamp_hi = virtual >= n - 1
    clamp_lo = virtual < 0
    few = count < 2  # xclim: one value gives itself (none: NaN, below)
    lo[clamp_hi] = hi[clamp_hi] = n[clamp_hi] - 1
    lo[clamp_lo] = hi[clamp_lo] = 0
    lo[few] = hi[few] = 0
    gamma[clamp_hi | clamp_lo | few] = 0.0
    lo_at, hi_at = lo.astype(np.intp), hi.astype(np.intp)
    if upper:  # the k-th smallest value is the (n-1-k)-th of the negated largest ones
        last = np.maximum(count.astype(np.intp) - 1, 0)
        lo_at, hi_at = np.where(few, 0, last - lo_at), np.where(few, 0, last - hi_at)
    left = np.take_along_axis(ordered, lo_at[..., None], axis=-1)[..., 0]
    right = np.take_along_axis(ordered, hi_at[..., None], axis=-1)[..., 0]
    if upper:
        left, right = -left, -right
    diff = right - left  # float32, as xclim's np.subtract of the sorted float32 values
    out = np.asarray(left + diff * gamma, dtype=np.float64)
    np.subtract(right, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    out[count == 0] = np.nan
    return out


def _adjust_doy(source: np.ndarray, first: int, last: int) -> np.ndarray:
    """xclim's ``_interpolate_doy_calendar``: interior NaN gaps filled along the day of year (``interpolate_na``),
    then the values, placed evenly from ``first`` to ``last``, linearly interpolated onto those days (``interp``)."""
    filled = _fill_gaps(source)
    size = len(filled)
    placed = np.linspace(first, last, size)
    target = np.arange(first, last + 1, dtype=np.float64)
    # scipy's interp1d (what xarray's interp uses on 2-d data), step by step: same operations, same NaN spread
    at = np.clip(np.searchsorted(placed, target), 1, size - 1)
    lo, hi = at - 1, at
    slope = (filled[hi] - filled[lo]) / (placed[hi] - placed[lo])[:, None]
    return np.asarray(slope * (target - placed[lo])[:, None] + filled[lo], dtype=np.float64)


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """xarray's ``interpolate_na`` along axis 0 (numpy.interp over the day of year): NaN between two values become
    their linear interpolation; NaN before the first value or after the last stay."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    if not missing.any():
        return values
    size = len(values)
    index = np.arange(size)[:, None]
    before = np.maximum.accumulate(np.where(missing, -1, index), axis=0)
    after = np.minimum.accumulate(np.where(missing, size, index)[::-1], axis=0)[::-1]
    gap = missing & (before >= 0) & (after < size)
    out = values.copy()
    rows, cols = np.nonzero(gap)
    lo, hi = before[rows, cols], after[rows, cols]
    slope = (values[hi, cols] - values[lo, cols]) / (hi - lo).astype(np.float64)
    out[rows, cols] = slope * (rows - lo).astype(np.float64) + values[lo, cols]
    return out
