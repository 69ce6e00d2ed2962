"""Change signals (climnorm.numerics.changes) against independent computations: the changes against plain float64
arithmetic, the detrended standard deviation against numpy's least squares and xclim's ``detrend``, the rolled sums
against fresh ones (bit for bit), and the model agreement and its categories against xclim's
``robustness_fractions(test="ipcc-ar6-c")`` and ``robustness_categories``.

xclim regresses on the time coordinate, so its yearly series here are on a noleap calendar: every year 365 days
long, as the years climnorm regresses on (on a standard calendar the leap days tilt xclim's time axis, ~1e-5).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import xarray as xr

from climnorm.numerics.changes import (
    FLAG_MEANINGS,
    FLAG_VALUES,
    NO_CATEGORY,
    SIGNIFICANCE_FACTOR,
    Robustness,
    TrendSums,
    categories,
    change,
    robustness,
    significant,
)

xclim = pytest.importorskip("xclim")  # a test dependency, slow to import: once, here
from xclim.ensembles import robustness_categories, robustness_fractions  # noqa: E402
from xclim.indices.generic import detrend  # noqa: E402

YEARS = 30


def _yearly_time(first: int, years: int = YEARS) -> xr.CFTimeIndex:
    """One 1 January per year on the noleap calendar (cftime), the time axis xclim's yearly series have."""
    return xr.date_range(f"{first:04d}-01-01", periods=years, freq="YS", calendar="noleap", use_cftime=True)


def _yearly_fields(
    rng: np.random.Generator, regime: str, shape: tuple[int, ...], years: int, dtype: type = np.float32
) -> np.ndarray:
    """(years, *shape) of ``dtype``: temperatures in kelvin (~300 K, a 1 K spread, a trend) or dry-or-drizzle
    precipitation (kg m-2 s-1, ~3e-5, half the years 0); years missing at random, and per cell 0 to 3 valid years
    in a few cells (too few for a line)."""
    if regime == "tas":
        trend = rng.normal(0.0, 0.03, shape) * np.arange(years).reshape((years,) + (1,) * len(shape))
        values = 300.0 + rng.normal(0.0, 3.0, shape) + trend + rng.normal(0.0, 1.0, (years, *shape))
    else:
        values = np.where(rng.random((years, *shape)) < 0.5, 0.0, rng.gamma(0.6, 5e-5, (years, *shape)))
    values = values.astype(dtype)
    missing = rng.random(values.shape) < 0.1
    flat = missing.reshape(years, -1)
    for cell, keep in enumerate((0, 1, 2, 3)):  # the first cells keep only this many years
        flat[:, cell] = True
        flat[rng.permutation(years)[:keep], cell] = False
    values[missing] = np.nan
    return values


def _valid_years(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values).sum(axis=0)


# ------------------------------------------------------------------------------------------------ change


def test_change_against_plain_float64() -> None:
    rng = np.random.default_rng(1)
    target = rng.gamma(1.0, 3.0, 400).astype(np.float32)
    baseline = rng.gamma(1.0, 3.0, 400).astype(np.float32)
    baseline[::7] = 0.0
    target[::11] = np.nan
    baseline[::13] = np.nan
    target[::17] = 0.0
    additive, relative = [], []
    for t32, b32 in zip(target.tolist(), baseline.tolist(), strict=True):
        t, b = float(t32), float(b32)  # Python floats: float64
        additive.append(t - b)
        relative.append(math.nan if b == 0.0 or math.isnan(t) or math.isnan(b) else 100.0 * (t - b) / b)
    got_additive = change(target, baseline, "additive")
    got_relative = change(target, baseline, "relative")
    assert got_additive.dtype == got_relative.dtype == np.float64
    np.testing.assert_array_equal(got_additive, np.array(additive))  # NaN where either is, the same bits elsewhere
    np.testing.assert_array_equal(got_relative, np.array(relative))
    assert np.isnan(got_relative[::7]).all()  # a zero baseline has no percentage
    with pytest.raises(ValueError, match="unknown change kind"):
        change(target, baseline, "ratio")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ TrendSums


def _numpy_detrended_std(values: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Per cell, np.polyfit's line through the valid years (raw float64 values), the population std of the
    residuals; NaN below 3 valid years."""
    flat = values.reshape(len(years), -1).astype(np.float64)
    out = np.full(flat.shape[1], np.nan)
    for cell in range(flat.shape[1]):
        ok = np.isfinite(flat[:, cell])
        if ok.sum() >= 3:
            y, t = flat[ok, cell], years[ok].astype(np.float64)
            out[cell] = np.std(y - np.polyval(np.polyfit(t, y, 1), t))
    return out.reshape(values.shape[1:])


def _trend_sums(values: np.ndarray, first: int, origin: int) -> TrendSums:
    sums = TrendSums(values.shape[1:], origin=origin)
    for i, field in enumerate(values):
        sums.add(first + i, field)
    return sums


def _relative_difference(a: np.ndarray, b: np.ndarray, scale: np.ndarray | float = 1.0) -> float:
    """The largest |a - b| / |b| (divided by ``scale``), after checking that a and b are NaN in the same cells."""
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    scale = np.broadcast_to(scale, a.shape)[ok]
    return float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-300) / scale))


@pytest.mark.parametrize(("regime", "dtype"), [("tas", np.float32), ("tas", np.float64), ("pr", np.float32)])
def test_detrended_std_against_numpy(regime: str, dtype: type) -> None:
    rng = np.random.default_rng(2)
    values = _yearly_fields(rng, regime, (20, 30), YEARS, dtype)
    years = np.arange(1991, 1991 + YEARS)
    got = _trend_sums(values, 1991, origin=1950).detrended_std()
    want = _numpy_detrended_std(values, years)
    assert got.dtype == np.float64
    assert np.array_equal(np.isnan(got), _valid_years(values) < 3)
    # float64 moments of values far from 0 keep about 1e-16 · mean² / variance (the docstring's bound, with room)
    mean = np.nansum(values, axis=0, dtype=np.float64) / np.maximum(_valid_years(values), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = 1e-15 * mean**2 / want**2
    spread = _valid_years(values) >= 10  # the planted cells of 3 years may lie nearly on their line
    assert _relative_difference(got[spread], want[spread]) <= 1e-9
    assert _relative_difference(got, want, np.maximum(loss, 1e-9)) <= 1.0


def test_detrended_std_of_lines_and_constants() -> None:
    """Residuals 0 (up to rounding) give a standard deviation of 0 or next to it, never NaN."""
    t = np.arange(YEARS, dtype=np.float32)[:, None]
    values = np.concatenate(
        [np.full((YEARS, 3), [0.0, 1e-5, 287.25], dtype=np.float32), 280.0 + 0.5 * t, 2.0**-17 + 2.0**-24 * t], axis=1
    ).astype(np.float32)
    got = _trend_sums(values, 2041, origin=2000).detrended_std()
    assert (got[:3] == 0.0).all()
    assert (got[3:] >= 0.0).all() and got[3] < 1e-5 and got[4] < 1e-12


@pytest.mark.parametrize("regime", ["tas", "pr"])
def test_detrended_std_against_xclim(regime: str) -> None:
    rng = np.random.default_rng(3)
    values = _yearly_fields(rng, regime, (6, 40), YEARS)
    da = xr.DataArray(values, dims=("time", "y", "x"), coords={"time": _yearly_time(1991)})
    with warnings.catch_warnings(record=True):  # xarray's RankWarning on the line through 1 year (it says "once")
        want = detrend(da, dim="time", deg=1).std("time").values
    got = _trend_sums(values, 1991, origin=1991).detrended_std()
    n = _valid_years(values)
    line = (n == 1) | (n == 2)  # xclim's line through 1 or 2 years leaves residuals 0: climnorm says NaN
    assert line.sum() == 2 and np.isnan(got[line]).all()
    assert (np.abs(want[line]) <= 1e-9 * np.nanmax(want)).all()
    want[line] = np.nan
    assert np.array_equal(np.isnan(got), np.isnan(want))  # NaN where fewer than 3 years are valid
    assert _relative_difference(got, want) <= 1e-9


@pytest.mark.parametrize(("regime", "dtype"), [("tas", np.float32), ("pr", np.float32), ("tas", np.float64)])
def test_rolled_trend_sums_are_fresh_sums_bit_for_bit(regime: str, dtype: type) -> None:
    """40 years through a window of 30: each window's sums as those of its years added afresh, to the bit."""
    rng = np.random.default_rng(4)
    values = _yearly_fields(rng, regime, (16, 12), 40, dtype)
    rolled = TrendSums((16, 12), origin=2000)
    for i in range(40):
        if i >= YEARS:
            rolled.drop(2000 + i - YEARS, values[i - YEARS])
        rolled.add(2000 + i, values[i])
        if i >= YEARS - 1:
            fresh = _trend_sums(values[i - YEARS + 1 : i + 1], 2000 + i - YEARS + 1, origin=2000)
            np.testing.assert_array_equal(rolled.count, fresh.count)
            total, fresh_total = rolled.hi + rolled.lo, fresh.hi + fresh.lo
            np.testing.assert_array_equal(total.view(np.uint64), fresh_total.view(np.uint64))
            np.testing.assert_array_equal(rolled.detrended_std(), fresh.detrended_std())
    assert rolled.years == list(range(2010, 2040))


def test_trend_sums_refuse_what_they_cannot_hold() -> None:
    sums = TrendSums((3,), origin=2000)
    sums.add(2001, np.ones(3))
    with pytest.raises(ValueError, match="already"):
        sums.add(2001, np.ones(3))
    with pytest.raises(ValueError, match="not in the trend sums"):
        sums.drop(2002, np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        sums.add(2003, np.ones(4))


# ------------------------------------------------------------------------------------------------ agreement


def test_significant_is_ipcc_ar6_approach_c() -> None:
    bound = math.sqrt(2.0 / 20.0) * 1.645
    assert bound == SIGNIFICANCE_FACTOR
    sigma = np.array([1.0, 1.0, 1.0, 2.0, np.nan, 1.0, 0.0, 0.0])
    delta = np.array([bound * 1.000001, -bound * 1.000001, bound * 0.999999, bound * 1.5, 5.0, np.nan, 0.0, -1e-30])
    np.testing.assert_array_equal(significant(delta, sigma), [True, True, False, False, False, False, False, True])


def _ensemble(rng: np.random.Generator, members: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """ref and fut, (members, years, cells) float64 of float32 values: planted robust signals, no changes, sign
    conflicts, changes near the threshold, invalid members (a missing year), and changes of exactly 0."""
    base = rng.uniform(250.0, 300.0, cells)
    sigma = rng.uniform(0.3, 2.0, cells)
    years = np.arange(YEARS)[None, :, None]
    ref = base + 0.02 * years + sigma * rng.normal(size=(members, YEARS, cells))
    shift = np.zeros((members, cells))
    group = np.arange(cells) * 10 // cells  # ten groups of cells
    shift[:, group == 0] = 2.5  # robust warming
    shift[:, group == 1] = -2.5  # robust drying
    shift[: members // 2 + 1, group == 2] = 2.5  # members disagree on the sign
    shift[members // 2 + 1 :, group == 2] = -2.5
    near = (group >= 3) & (group <= 5)  # around the threshold, either sign
    shift[:, near] = rng.normal(0.0, 0.6, (members, int(near.sum())))
    # group 6 and 7: no change
    fut = base + 0.02 * years + shift[:, None, :] * sigma + sigma * rng.normal(size=(members, YEARS, cells))
    same = group == 8  # some members' futures are their baselines: changes of exactly 0
    fut[:, :, same] = np.where(rng.random((members, 1, int(same.sum()))) < 0.6, ref[:, :, same], fut[:, :, same])
    ref, fut = ref.astype(np.float32).astype(np.float64), fut.astype(np.float32).astype(np.float64)
    dry = np.flatnonzero(same)[:3]  # no rain, ever: changes of 0 against a variability of 0
    ref[:, :, dry] = fut[:, :, dry] = 0.0
    gaps = np.flatnonzero(group == 9)  # members missing a year of their baseline or future
    for cell in gaps:
        for member in rng.permutation(members)[: rng.integers(1, members + 1)]:
            series = ref if rng.random() < 0.5 else fut
            series[member, rng.integers(YEARS), cell] = np.nan
    ref[:, 0, gaps[:3]] = np.nan  # no valid member at all
    return ref, fut


def _climnorm_robustness(ref: np.ndarray, fut: np.ndarray, min_members: int) -> Robustness:
    """The deltas, each member's detrended baseline variability and the agreement, by climnorm.numerics.changes."""
    deltas = change(fut.mean(axis=1), ref.mean(axis=1), "additive")  # NaN for a member missing a year
    sigma = np.stack([_trend_sums(member, 1981, origin=1981).detrended_std() for member in ref])
    return robustness(deltas, significant(deltas, sigma), min_members)


def test_robustness_against_xclim() -> None:
    rng = np.random.default_rng(5)
    members, cells = 7, 500
    ref, fut = _ensemble(rng, members, cells)
    dims = ("realization", "time", "cell")
    xref = xr.DataArray(ref, dims=dims, coords={"time": _yearly_time(1981)})
    xfut = xr.DataArray(fut, dims=dims, coords={"time": _yearly_time(2041)})
    with np.errstate(invalid="ignore", divide="ignore"):
        want = robustness_fractions(xfut, xref, test="ipcc-ar6-c")
    want_categories = robustness_categories(want).values
    got = _climnorm_robustness(ref, fut, min_members=1)
    got_categories = categories(got)

    valid = np.isfinite(ref).all(axis=1) & np.isfinite(fut).all(axis=1)  # xclim's MissingAny over fut and ref
    n = valid.sum(axis=0)
    assert np.array_equal(np.nan_to_num(got.valid), n) and np.array_equal(want.valid.values * members, n)
    some = n > 0
    assert np.isnan(got.changed[~some]).all() and (want.changed.values[~some] == 0.0).all()  # xclim fills 0
    for name in ("changed", "positive", "negative", "agree"):
        a, b = getattr(got, name)[some], getattr(want, name).values[some]
        assert np.max(np.abs(a - b)) <= 1e-12, name
    assert got_categories.dtype == np.int8
    np.testing.assert_array_equal(got_categories, want_categories)
    counts = {int(c): int((got_categories == c).sum()) for c in (1, 2, 3, NO_CATEGORY)}
    assert min(counts.values()) >= 3, counts  # every category, and none, is tested
    assert ((got.agree == 1.0) & (got.positive == 0.0) & (got.negative == 0.0)).any()  # all members: no change
    assert ((got.changed > 0) & (got.changed < 1)).sum() > 0

    fewer = _climnorm_robustness(ref, fut, min_members=5)
    enough = n >= 5
    assert 0 < enough[some].sum() < some.sum()
    for name in ("changed", "positive", "negative", "agree", "valid"):
        a, b = getattr(fewer, name), getattr(got, name)
        assert np.isnan(a[~enough]).all() and np.array_equal(a[enough], b[enough])
    np.testing.assert_array_equal(categories(fewer), np.where(enough, got_categories, NO_CATEGORY))


def test_categories_at_the_thresholds_against_xclim() -> None:
    """Fractions at and just off the thresholds; no valid member (xclim: fractions 0, valid 0; climnorm: NaN)."""
    changed = np.array([0.66, 0.66, 0.6599999, 1.0, 1.0, 0.0, 0.9, np.nan])
    agree = np.array([0.8, 0.7999999, 1.0, 0.5, 0.8, 0.2, 1.0, np.nan])
    valid = np.array([7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 0.0, np.nan])
    fractions = Robustness(changed=changed, positive=agree, negative=1.0 - agree, agree=agree, valid=valid)
    xclim_fractions = xr.Dataset(
        {
            "changed": ("cell", np.nan_to_num(changed)),
            "agree": ("cell", np.nan_to_num(agree)),
            "valid": ("cell", np.nan_to_num(valid) / 7.0),
        }
    )
    want = robustness_categories(xclim_fractions)
    got = categories(fractions)
    np.testing.assert_array_equal(got, want.values)
    np.testing.assert_array_equal(got, [1, 3, 2, 3, 1, 2, 99, 99])
    assert want.attrs["flag_meanings"] == FLAG_MEANINGS
    assert list(FLAG_VALUES) == want.attrs["flag_values"] and want.attrs["_FillValue"] == NO_CATEGORY
