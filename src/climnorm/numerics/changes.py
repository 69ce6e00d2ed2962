"""Change signals: each member's normal against its baseline normal, and how far the ensemble's models agree on it.

numpy in, numpy out: no files, no logging, no configuration. Model agreement follows the IPCC AR6 Atlas's
approach C without a control run (Cross-Chapter Box Atlas.1), as xclim 0.62 implements it
(``xclim.ensembles.robustness_fractions(fut, ref, test="ipcc-ar6-c")`` and ``robustness_categories``): a member's
change is significant when it exceeds ``sqrt(2/20) * 1.645`` times the standard deviation of its baseline's
yearly values after removing a linear trend (:class:`TrendSums`, rolled with the baseline window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

DETRENDED_STD = "detrended_std"
"""The window statistic a changes' baseline normal carries (``{name}_window_detrended_std``): its years'
interannual variability, :meth:`TrendSums.detrended_std`."""

WINDOW_YEARS = "years"
"""The window statistic a changes' baseline normal of a period product or an indicator carries besides
:data:`DETRENDED_STD` (``{name}_window_years``, dimensions year, time, lat, lon): the window's yearly values
themselves, from which a county's own detrended variability is computed (a county's yearly values are not the
average of its cells' standard deviations). Daily slots do not keep them (365 times the size)."""

T_ChangeKind = Literal["additive", "relative"]
"""additive: target - baseline, in the variable's units; relative: 100 (target - baseline) / baseline, in %."""

SIGNIFICANCE_FACTOR = math.sqrt(2 / 20) * 1.645
"""A change is significant beyond this many yearly (detrended) standard deviations: the 90% two-sided bound of the
difference of two 20-year means of independent years (IPCC AR6 approach C; xclim's ``_ipcc_ar6_c``, same bits)."""

SIGNIFICANT_FRACTION = 0.66
"""A signal needs at least this fraction of the valid members changing significantly (IPCC AR6, xclim's default)."""
AGREEMENT_FRACTION = 0.8
"""A robust signal needs at least this fraction of the valid members agreeing on the sign (IPCC AR6, xclim)."""

ROBUST_SIGNAL, NO_CHANGE_OR_NO_SIGNAL, CONFLICTING_SIGNAL = 1, 2, 3
NO_CATEGORY = 99
"""The category of a cell no category applies to (too few valid members): xclim's fill value, CF ``_FillValue``."""
FLAG_VALUES: tuple[int, ...] = (ROBUST_SIGNAL, NO_CHANGE_OR_NO_SIGNAL, CONFLICTING_SIGNAL)
"""CF ``flag_values`` of :func:`categories` (to be written as an array of the variable's type, int8)."""
FLAG_MEANINGS = "robust_signal no_change_or_no_signal conflicting_signal"
"""CF ``flag_meanings`` of :func:`categories`, in the order of :data:`FLAG_VALUES` (xclim's, casefolded)."""

MIN_TREND_YEARS = 3
"""Fewest valid years a detrended standard deviation is given for: two points lie on their line whatever they are."""


def change(target: np.ndarray, baseline: np.ndarray, kind: T_ChangeKind) -> np.ndarray:
    """The change of ``target`` against ``baseline`` (same shape), in float64; NaN where either is NaN.

    ``relative`` is in percent of the baseline, and NaN where the baseline is 0: a change from nothing has no
    percentage (a dry baseline's precipitation change is read from the additive change instead).
    """
    t = np.asarray(target, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if t.shape != b.shape:
        raise ValueError(f"target shape {t.shape} differs from the baseline's {b.shape}")
    out = np.subtract(t, b, out=np.empty(t.shape, dtype=np.float64))
    if kind == "additive":
        return out
    if kind == "relative":
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(100.0 * out, b, out=out)
        return np.where(b == 0.0, np.nan, out)
    raise ValueError(f"unknown change kind {kind!r}: use additive or relative")


_T, _TT, _Y, _YY, _TY = range(5)  # the moments' rows in TrendSums.hi and .lo


@dataclass
class TrendSums:
    """Per-cell sums over the years currently in a window, giving the standard deviation of the yearly values about
    their least-squares line in time (:meth:`detrended_std`): the internal variability of IPCC AR6 approach C.

    Kept per cell: the number n of valid (finite) years and the sums of t, t², y, y², t·y over them, with
    t = year - ``origin`` (fixed for the sums' life, near the years so that the magnitudes stay small). A missing
    year of a cell counts in none of its sums, so each cell is fitted on its own valid years, as xarray's
    ``polyfit`` does with NaN (xclim's ``detrend``).

    Each sum is a double-double number (``hi + lo``, Knuth's two-sum), as in
    :class:`~climnorm.numerics.sums.WindowSums`: it holds the exact sum of its terms while they span less than
    about 2**50 in magnitude (zeros aside; values spanning 2**25, as temperatures and precipitation rates do), and
    a year that leaves takes the same terms out, so :meth:`drop` restores the sums of the other years bit for
    bit, however long the window rolls. For float32 values the terms themselves (t·y, y²) are exact too.
    """

    shape: tuple[int, ...]
    origin: int
    count: np.ndarray = field(init=False)  # valid years per cell, int32
    hi: np.ndarray = field(init=False)  # (5, *shape) float64: the sums of t, t², y, y², t·y
    lo: np.ndarray = field(init=False)  # their two-sum residues
    years: list[int] = field(init=False, default_factory=list)  # the years in the window, in the order added

    def __post_init__(self) -> None:
        self.count = np.zeros(self.shape, dtype=np.int32)
        self.hi = np.zeros((5, *self.shape), dtype=np.float64)
        self.lo = np.zeros((5, *self.shape), dtype=np.float64)

    def add(self, year: int, values: np.ndarray) -> None:
        """Include one year's values (float32 or float64, NaN = missing); each year at most once."""
        if year in self.years:
            raise ValueError(f"year {year} is already in the trend sums")
        self._update(year, values, +1)
        self.years.append(year)

    def drop(self, year: int, values: np.ndarray) -> None:
        """Remove a year that leaves the window; ``values`` must be the ones it was added with."""
        if year not in self.years:
            raise ValueError(f"year {year} is not in the trend sums (years {self.years})")
        self._update(year, values, -1)
        self.years.remove(year)

    def _update(self, year: int, values: np.ndarray, sign: int) -> None:
        y = np.asarray(values)
        if y.shape != self.shape:
            raise ValueError(f"year {year}: field shape {y.shape} differs from the trend sums' {self.shape}")
        y = y.astype(np.float64)
        valid = np.isfinite(y)
        np.copyto(y, 0.0, where=~valid)
        t = float(year - self.origin)
        terms = np.empty_like(self.hi)
        np.multiply(valid, t, out=terms[_T])
        np.multiply(valid, t * t, out=terms[_TT])
        terms[_Y] = y
        np.multiply(y, y, out=terms[_YY])
        np.multiply(y, t, out=terms[_TY])
        if sign < 0:
            np.negative(terms, out=terms)
            self.count -= valid
        else:
            self.count += valid
        # two-sum: lo += (hi - (total - back)) + (terms - back), with back = total - hi
        total = self.hi + terms
        back = total - self.hi
        np.subtract(terms, back, out=terms)
        np.subtract(total, back, out=back)
        np.subtract(self.hi, back, out=back)
        np.add(back, terms, out=back)
        self.lo += back
        self.hi = total

    def detrended_std(self) -> np.ndarray:
        """Per cell, the population standard deviation (ddof 0) of the valid years' residuals from their least-squares
        line, float64; NaN where fewer than :data:`MIN_TREND_YEARS` years are valid.

        From the centred moments Stt_c = Stt - St²/n, Sty_c = Sty - St·Sy/n and Syy_c = Syy - Sy²/n, the residual
        sum of squares is Syy_c - Sty_c²/Stt_c (clipped at 0: residuals that are 0 up to rounding). Stt_c is rounded
        once (integers). Syy_c is taken in float64 from the double-double sums, so it is off by a few 1e-16 of
        Syy = n·mean², which the cancellation magnifies by mean²/variance: the standard deviation is good to about
        3e-16·mean²/variance relative, 3e-11 for temperatures in kelvin (~300 K, 1 K spread), 3e-9 for a 0.1 K
        spread, float64 precision for data spread as much as their mean (precipitation); residuals of 0 come out
        as 0 or within about 2e-8 of the mean. The same sums give the same bits, whichever years came and left
        before (a rolled window, a fresh one).
        """
        n = self.count.astype(np.float64)
        # the sums rounded to float64 (s) and what that leaves out (e): the same for the same sums, however kept
        s = self.hi + self.lo
        back = s - self.hi
        e = (self.hi - (s - back)) + (self.lo - back)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = s[_Y] / n
            stt = (n * s[_TT] - s[_T] * s[_T]) / n
            sty = (s[_TY] - s[_T] * mean) + e[_TY]
            syy = (s[_YY] - s[_Y] * mean) + e[_YY]
            rss = syy - sty * sty / stt
            std = np.sqrt(np.maximum(rss, 0.0) / n)
        return np.where(self.count < MIN_TREND_YEARS, np.nan, std)


def significant(delta: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Whether each additive change ``delta`` exceeds the variability its member's detrended yearly standard deviation
    ``sigma`` allows (:data:`SIGNIFICANCE_FACTOR`): bool, False where either is NaN.

    A NaN ``sigma`` (a baseline of too few years) only makes the change not significant; the member is left out of
    :func:`robustness` only where its delta is NaN, as xclim counts valid members.
    """
    d = np.asarray(delta, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.abs(d) > SIGNIFICANCE_FACTOR * s


@dataclass(frozen=True)
class Robustness:
    """Model agreement per cell (float64): fractions of the valid members, and their number; all NaN where fewer
    members than asked for are valid (xclim's ``robustness_fractions`` with ``strict_sign=True``)."""

    changed: np.ndarray  # fraction with a significant change
    positive: np.ndarray  # fraction with a change > 0
    negative: np.ndarray  # fraction with a change < 0
    agree: np.ndarray  # the largest of the positive, negative and no-change fractions
    valid: np.ndarray  # the number of valid members


def robustness(deltas: np.ndarray, changed: np.ndarray, min_members: int) -> Robustness:
    """The agreement of the members (axis 0) on the change at each cell; a member is valid where its delta (additive
    or relative) is not NaN, and counts as changed where ``changed`` (:func:`significant`) and valid. A relative
    change is NaN from a zero baseline: the additive ones count such members (the signs are the same).

    NaN where fewer than ``min_members`` (at least one) are valid. The no-change fraction is ``1 - positive -
    negative`` as xclim takes it, so :func:`categories` falls on the same side of its thresholds to the bit.
    """
    d = np.asarray(deltas, dtype=np.float64)
    c = np.asarray(changed, dtype=bool)
    if d.shape != c.shape or d.ndim < 1:
        raise ValueError(f"deltas {d.shape} and changed {c.shape} must have the same shape (members, *cells)")
    valid = ~np.isnan(d)
    n = valid.sum(axis=0)
    ok = n >= max(1, min_members)
    count = np.where(ok, n, 1).astype(np.float64)

    def fraction(members: np.ndarray) -> np.ndarray:
        return np.where(ok, (members & valid).sum(axis=0) / count, np.nan)

    with np.errstate(invalid="ignore"):
        positive, negative = fraction(d > 0.0), fraction(d < 0.0)
    agree = np.maximum(np.maximum(positive, negative), 1.0 - positive - negative)
    return Robustness(
        changed=fraction(c),
        positive=positive,
        negative=negative,
        agree=agree,
        valid=np.where(ok, n.astype(np.float64), np.nan),
    )


def categories(
    fractions: Robustness, significant: float = SIGNIFICANT_FRACTION, agreement: float = AGREEMENT_FRACTION
) -> np.ndarray:
    """The IPCC AR6 robustness category of each cell, int8 (xclim's ``robustness_categories`` with its defaults):
    :data:`ROBUST_SIGNAL` (changed >= ``significant`` and agree >= ``agreement``), :data:`NO_CHANGE_OR_NO_SIGNAL`
    (changed < ``significant``), :data:`CONFLICTING_SIGNAL` (changed >= ``significant``, agree < ``agreement``),
    else :data:`NO_CATEGORY` (NaN fractions, no valid member); the first that applies, as in xclim."""
    changed, agree = fractions.changed, fractions.agree
    out = np.full(changed.shape, NO_CATEGORY, dtype=np.int8)
    rules = (
        (ROBUST_SIGNAL, (changed >= significant) & (agree >= agreement)),
        (NO_CHANGE_OR_NO_SIGNAL, changed < significant),
        (CONFLICTING_SIGNAL, (changed >= significant) & (agree < agreement)),
    )
    for value, applies in reversed(rules):  # the first category wins where several apply
        out[applies] = value
    out[~(fractions.valid > 0)] = NO_CATEGORY
    return out
