"""Tests of climnorm.numerics.sums: rolling window sums against a naive recompute, and per-slot day means."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from climnorm.numerics.days import YearFields, assemble_year, day_means, merge_pieces
from climnorm.numerics.sums import BLOCK_SLOTS, THREAD_BLOCKS, THREADED_VALUES, WindowSums, block_ranges
from climnorm.types import YearPiece

settings.register_profile(
    "climnorm-reduce",
    max_examples=50,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure here is a bug, never a flake
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = settings.get_profile("climnorm-reduce")

NSLOTS = 4
CELL_SHAPE = (2, 3)
SHAPE = (NSLOTS, *CELL_SHAPE)


# ------------------------------------------------------------------------------------------------ strategies


# Value regimes of real data: temperatures (K) and precipitation fluxes (kg m-2 s-1). Within one regime the
# magnitudes stay within a factor of 100, so float64 running sums are accurate to well under 1e-12 relative.
# Exact zeros (dry days) are left to test_dry_window_after_wet_years_is_exactly_zero.
REGIMES = {
    "tas": st.floats(min_value=150.0, max_value=350.0, width=32),
    "pr": st.floats(min_value=float(np.float32(1e-5)), max_value=float(np.float32(1e-3)), width=32),
}


@st.composite
def year_series(draw: st.DrawFn) -> tuple[int, dict[int, np.ndarray], np.ndarray]:
    """(window, {year: float32 field with NaNs}, per-slot thresholds); years with gaps."""
    window = draw(st.integers(min_value=1, max_value=6))
    years = draw(st.lists(st.integers(min_value=1990, max_value=2010), min_size=1, max_size=14, unique=True))
    regime = REGIMES[draw(st.sampled_from(sorted(REGIMES)))]
    values = hnp.arrays(np.float32, SHAPE, elements=st.one_of(regime, st.just(np.nan)))
    fields = {year: draw(values) for year in sorted(years)}
    thresholds = draw(hnp.arrays(np.int64, (NSLOTS,), elements=st.integers(min_value=1, max_value=window)))
    return window, fields, thresholds


def _assert_float32_of(got: np.ndarray, exact: np.ndarray, rtol: float) -> None:
    """``got`` is float32(exact), except where ``exact`` lies within ``rtol`` of a float32 rounding boundary
    (there either neighbour is a correct rounding of a value within rtol of ``exact``)."""
    low = (exact * (1 - rtol)).astype(np.float32)
    high = (exact * (1 + rtol)).astype(np.float32)
    ambiguous = low != high
    np.testing.assert_array_equal(got[~ambiguous], exact.astype(np.float32)[~ambiguous])
    assert np.all((got[ambiguous] == low[ambiguous]) | (got[ambiguous] == high[ambiguous]))


def _naive(fields: dict[int, np.ndarray], first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Float64 mean and count of the valid values of the years first..last, recomputed from scratch."""
    members = [fields[y].astype(np.float64) for y in sorted(fields) if first <= y <= last]
    if not members:
        return np.full(SHAPE, np.nan), np.zeros(SHAPE, dtype=np.int64)
    stack = np.stack(members)
    count = (~np.isnan(stack)).sum(axis=0)
    total = np.nansum(stack, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan), count


# ------------------------------------------------------------------------------------------------ WindowSums


@settings(PROFILE)
@given(year_series())
def test_rolling_window_matches_naive_recompute(series: tuple[int, dict[int, np.ndarray], np.ndarray]) -> None:
    window, fields, thresholds = series
    sums = WindowSums(SHAPE)
    years = sorted(fields)
    for target in range(years[0], years[-1] + window + 1):  # also walk past the data, emptying the window
        if target in fields:
            sums.add(target, fields[target])
        sums.drop_before(target - window + 1)
        first = target - window + 1
        assert sums.years == [y for y in years if first <= y <= target]

        naive, count = _naive(fields, first, target)
        np.testing.assert_array_equal(sums.counts, count)
        rolling = np.where(sums.counts > 0, sums.sums / np.maximum(sums.counts, 1), np.nan)
        # float64 before the cast: equal to a fresh recompute up to rounding of the running sums
        np.testing.assert_allclose(rolling, naive, rtol=1e-12, atol=0, equal_nan=True)

        mean = sums.mean(thresholds)
        assert mean.dtype == np.float32
        assert mean.shape == SHAPE
        valid = count >= thresholds[:, None, None]
        assert np.isnan(mean[~valid]).all()
        assert not np.isnan(mean[valid]).any()
        # after the cast: the float32 of the naive mean
        _assert_float32_of(mean[valid], naive[valid], rtol=1e-12)
        np.testing.assert_array_equal(mean[valid], rolling.astype(np.float32)[valid])


@settings(PROFILE)
@given(
    st.lists(
        hnp.arrays(np.float32, SHAPE, elements=st.one_of(st.integers(-64, 64).map(lambda i: i / 8), st.just(np.nan))),
        min_size=1,
        max_size=12,
    ),
    st.integers(min_value=1, max_value=5),
)
def test_rolling_window_is_exact_on_exact_values(fields: list[np.ndarray], window: int) -> None:
    """With values whose sums are exact in float64, the rolling mean equals the float32 naive mean exactly."""
    sums = WindowSums(SHAPE)
    by_year = {2000 + 2 * i: f for i, f in enumerate(fields)}  # every other year: gaps throughout
    ones = np.ones(NSLOTS, dtype=np.int64)
    for target in range(2000, 2000 + 2 * len(fields)):
        if target in by_year:
            sums.add(target, by_year[target])
        sums.drop_before(target - window + 1)
        naive, _ = _naive(by_year, target - window + 1, target)
        np.testing.assert_array_equal(sums.mean(ones), naive.astype(np.float32))


def test_dry_window_after_wet_years_is_exactly_zero() -> None:
    """Precipitation: three wet years, then three dry ones; the window of the dry years must average to 0."""
    pr = np.array([2.506962e-05, 7.528432e-14, 5.309441e-05, 0.0, 0.0, 0.0], dtype=np.float32)
    sums = WindowSums((1,))
    for i in range(pr.size):
        sums.add(2000 + i, pr[i : i + 1])
        sums.drop_before(2000 + i - 2)
    assert sums.years == [2003, 2004, 2005]
    mean = sums.mean(np.array([1]))
    assert mean[0] == 0.0, f"mean of three zero years is {mean[0]!r} (running sum {sums.sums[0]!r})"


def test_mean_of_a_known_window() -> None:
    sums = WindowSums((2, 1))
    sums.add(2000, np.array([[1.0], [np.nan]], dtype=np.float32))
    sums.add(2001, np.array([[2.0], [5.0]], dtype=np.float32))
    sums.add(2003, np.array([[6.0], [np.nan]], dtype=np.float32))
    np.testing.assert_array_equal(sums.counts, [[3], [1]])
    np.testing.assert_array_equal(sums.mean(np.array([1, 1])), [[3.0], [5.0]])
    np.testing.assert_array_equal(sums.mean(np.array([3, 2])), [[3.0], [np.nan]])
    np.testing.assert_array_equal(sums.mean(np.array([4, 1])), [[np.nan], [5.0]])
    sums.drop_before(2001)
    assert sums.years == [2001, 2003]
    np.testing.assert_array_equal(sums.mean(np.array([1, 1])), [[4.0], [5.0]])
    sums.drop_before(2004)
    assert sums.years == []
    assert (sums.sums == 0).all() and (sums.counts == 0).all()
    assert np.isnan(sums.mean(np.array([1, 1]))).all()


def test_sums_are_float64() -> None:
    sums = WindowSums((1,))
    big, small = np.array([1e8], dtype=np.float32), np.array([1.0], dtype=np.float32)
    sums.add(2000, big)
    sums.add(2001, small)
    sums.drop_before(2001)
    assert sums.sums.dtype == np.float64
    assert sums.sums[0] == 1.0  # float32 running sums would have lost the 1.0 against 1e8


def test_years_must_increase() -> None:
    sums = WindowSums((3,))
    sums.add(2000, np.zeros(3))
    with pytest.raises(ValueError, match="2000"):
        sums.add(2000, np.zeros(3))
    with pytest.raises(ValueError, match="1999"):
        sums.add(1999, np.zeros(3))
    assert sums.years == [2000]
    np.testing.assert_array_equal(sums.counts, [1, 1, 1])


def test_shape_mismatch() -> None:
    sums = WindowSums((3, 2))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        sums.add(2000, np.zeros((2, 3)))
    assert sums.years == []
    assert (sums.counts == 0).all()


def test_fork_is_independent() -> None:
    base = WindowSums((2,))
    base.add(2013, np.array([1.0, 2.0]))
    base.add(2014, np.array([3.0, np.nan]))
    twin = base.fork()
    np.testing.assert_array_equal(twin.mean(np.array([1, 1])), base.mean(np.array([1, 1])))

    twin.add(2015, np.array([5.0, 4.0]))
    twin.drop_before(2014)
    assert base.years == [2013, 2014]
    np.testing.assert_array_equal(base.mean(np.array([1, 1])), [2.0, 2.0])
    np.testing.assert_array_equal(base.counts, [2, 1])
    assert twin.years == [2014, 2015]
    np.testing.assert_array_equal(twin.mean(np.array([1, 1])), [4.0, 4.0])

    base.add(2015, np.array([7.0, 8.0]))
    base.drop_before(2015)
    assert twin.years == [2014, 2015]
    np.testing.assert_array_equal(twin.mean(np.array([1, 1])), [4.0, 4.0])
    np.testing.assert_array_equal(base.mean(np.array([1, 1])), [7.0, 8.0])


def test_thresholds_broadcast_over_the_leading_slot_axis() -> None:
    sums = WindowSums((3, 2, 2))
    for year in range(2000, 2004):
        field = np.full((3, 2, 2), float(year), dtype=np.float32)
        if year % 2:
            field[1] = np.nan  # slot 1 only in even years: 2 valid years
        sums.add(year, field)
    out = sums.mean(np.array([4, 2, 5]))
    assert not np.isnan(out[0]).any()
    np.testing.assert_array_equal(out[1], np.full((2, 2), 2001.0))
    assert np.isnan(out[2]).all()


# ------------------------------------------------------------------------------------------------ day_means


def test_day_means_averages_several_steps_per_slot() -> None:
    values = np.array([[1.0, 10.0], [3.0, np.nan], [5.0, 20.0], [7.0, 30.0], [np.nan, np.nan]], dtype=np.float32)
    slots = np.array([0, 0, 2, 2, 2])
    out, steps = day_means(values, slots, 4)
    assert out.dtype == np.float32
    assert out.shape == (4, 2)
    np.testing.assert_array_equal(steps, [2, 0, 3, 0])
    np.testing.assert_array_equal(out[0], [2.0, 10.0])  # NaN skipped
    np.testing.assert_array_equal(out[2], [6.0, 25.0])
    assert np.isnan(out[1]).all() and np.isnan(out[3]).all()


def test_day_means_all_nan_slot_stays_nan() -> None:
    values = np.array([[np.nan], [np.nan], [1.0], [3.0]])
    out, steps = day_means(values, np.array([1, 1, 0, 0]), 2)
    np.testing.assert_array_equal(steps, [2, 2])
    assert out[0, 0] == 2.0
    assert np.isnan(out[1, 0])


def test_day_means_drops_slot_minus_one() -> None:
    values = np.arange(6, dtype=np.float32).reshape(3, 2)
    out, steps = day_means(values, np.array([0, -1, 1]), 3)
    np.testing.assert_array_equal(steps, [1, 1, 0])
    np.testing.assert_array_equal(out[:2], [[0.0, 1.0], [4.0, 5.0]])
    assert np.isnan(out[2]).all()
    # the same with several steps per slot (the averaging path)
    values = np.array([[1.0], [100.0], [3.0], [5.0]])
    out, steps = day_means(values, np.array([0, -1, 0, 1]), 2)
    np.testing.assert_array_equal(steps, [2, 1])
    np.testing.assert_array_equal(out[:, 0], [2.0, 5.0])


def test_day_means_nothing_kept() -> None:
    out, steps = day_means(np.ones((2, 3), dtype=np.float32), np.array([-1, -1]), 5)
    assert out.shape == (5, 3)
    assert np.isnan(out).all()
    np.testing.assert_array_equal(steps, np.zeros(5))


@settings(PROFILE)
@given(
    st.integers(min_value=1, max_value=8).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float32, (n, 3), elements=st.one_of(st.floats(-400, 400, width=32), st.just(np.nan))),
            st.permutations(list(range(n))),
        )
    )
)
def test_day_means_single_step_fast_path_equals_scatter(data: tuple[np.ndarray, list[int]]) -> None:
    values, order = data
    n = values.shape[0]
    slots = np.array(order) * 2  # one step per slot, unordered, every other slot empty
    out, steps = day_means(values, slots, 2 * n + 1)
    expected = np.full((2 * n + 1, 3), np.nan, dtype=np.float32)
    for i, slot in enumerate(slots):
        expected[slot] = values[i]
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(steps, np.isin(np.arange(2 * n + 1), slots).astype(int))
    # duplicating every step takes the averaging path; the mean of two equal values is the value
    doubled, steps2 = day_means(np.concatenate([values, values]), np.concatenate([slots, slots]), 2 * n + 1)
    np.testing.assert_array_equal(doubled, out)
    np.testing.assert_array_equal(steps2, 2 * steps)


@settings(PROFILE)
@given(
    st.integers(min_value=1, max_value=12).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float32, (n, 2), elements=st.one_of(st.floats(-400, 400, width=32), st.just(np.nan))),
            hnp.arrays(np.int64, (n,), elements=st.integers(-1, 4)),
        )
    )
)
def test_day_means_matches_a_loop(data: tuple[np.ndarray, np.ndarray]) -> None:
    values, slots = data
    out, steps = day_means(values, slots, 5)
    for slot in range(5):
        rows = values[slots == slot].astype(np.float64)
        assert steps[slot] == rows.shape[0]
        for cell in range(2):
            column = rows[:, cell]
            column = column[~np.isnan(column)]
            if column.size == 0:
                assert np.isnan(out[slot, cell])
            else:
                assert out[slot, cell] == np.float32(column.sum() / column.size)


# ---- a year assembled from the pieces of its files ---------------------------------------------------------


def _piece(values: list[float], steps: list[int]) -> YearPiece:
    return YearPiece(np.array(values, dtype=np.float32)[:, None], np.array(steps))


def test_assemble_year_joins_files_that_share_a_year() -> None:
    first = _piece([1.0, 2.0, np.nan, np.nan], [1, 1, 0, 0])  # Jan-Feb of a file ending in February
    second = _piece([np.nan, np.nan, 3.0, np.nan], [0, 0, 1, 1])  # the rest, one value missing
    year = assemble_year({"R": [first, second]}, np.ones(4, dtype=bool))
    assert not year.overlap and year.missing_days == 0
    np.testing.assert_array_equal(year.fields["R"][:, 0], np.array([1.0, 2.0, 3.0, np.nan], dtype=np.float32))
    assert np.isnan(first.values[2, 0]), "the pieces themselves are not modified"


def test_assemble_year_refuses_days_held_twice_and_missing_days() -> None:
    a = _piece([1.0, 2.0, 3.0], [1, 1, 0])
    b = _piece([9.0, 9.0, 9.0], [0, 1, 1])
    assert assemble_year({"R": [a, b]}, np.ones(3, dtype=bool)) == YearFields({}, overlap=True)
    short = assemble_year({"R": [a]}, np.ones(3, dtype=bool))
    assert short.fields == {} and short.missing_days == 1
    # a slot the year does not have (Feb 29 of a common year) is not missing
    assert assemble_year({"R": [a]}, np.array([True, True, False])).missing_days == 0


def test_merge_of_one_piece_is_the_piece() -> None:
    a = _piece([1.0, 2.0], [1, 1])
    merged = merge_pieces([a])
    assert merged is not None and merged[0] is a.values


# ------------------------------------------------------------------------------------------------ exact blocks


def _field(rng: np.random.Generator, regime: str, shape: tuple[int, ...]) -> np.ndarray:
    if regime.startswith("tas"):
        values = rng.normal(285.0, 12.0, shape)
    else:  # dry days, drizzle twelve orders of magnitude below the storms: the two-sum's case
        values = np.where(rng.random(shape) < 0.4, 0.0, rng.lognormal(-11.0, 3.0, shape))
    values = values.astype(np.float32)
    if regime.endswith("sparse"):  # most blocks of most years complete: counted per block, not per cell
        if rng.random() < 0.3:
            values[rng.integers(shape[0]), rng.integers(shape[1])] = np.nan
    else:
        values[rng.random(shape) < 0.1] = np.nan
    return values


@pytest.mark.parametrize("regime", ["tas", "pr", "tas-sparse", "pr-sparse"])
def test_exact_blocks_and_threads_give_the_two_sums_bits(regime: str) -> None:
    """The masked one-pass update of exact blocks, and blocks shared out to threads, leave sums, residue and
    counts bit for bit as the two-sum alone does, through adds, drops and forks."""
    rng = np.random.default_rng(7)
    shape = (40, 160, 170)  # three blocks of slots, the last one short; large enough to be shared out to threads
    assert math.prod(shape) >= THREADED_VALUES and -(-shape[0] // BLOCK_SLOTS) > THREAD_BLOCKS
    plain, fast = WindowSums(shape), WindowSums(shape, pool=ThreadPoolExecutor(3))
    for block in plain.blocks:
        block.exact = False  # the two-sum everywhere, as before exact blocks
    forks: list[tuple[WindowSums, WindowSums]] = []
    kept: dict[int, np.ndarray] = {}
    for year in range(2000, 2040):
        values = kept[year] = _field(rng, regime, shape)
        for a, b in [(plain, fast), *forks]:
            a.drop_before(year - 9)
            a.add(year, values)
            b.add(year, values, drop_before=year - 9)  # dropped and added block by block
        if year == 2015:
            forks.append((plain.fork(), fast.fork()))
    for a, b in [(plain, fast), *forks]:
        for name in ("sums", "residue", "counts"):
            np.testing.assert_array_equal(getattr(a, name).view(np.uint8), getattr(b, name).view(np.uint8))
        thresholds = np.full(shape[0], 8)
        np.testing.assert_array_equal(a.mean(thresholds).view(np.uint32), b.mean(thresholds).view(np.uint32))
    exact = [block.exact for block in fast.blocks]
    assert all(exact) if regime.startswith("tas") else not any(exact)
    if regime.startswith("tas"):  # exact sums: the slow obvious float64 mean has the same bits
        stack = np.stack([kept[y] for y in range(2030, 2040)]).astype(np.float64)
        count = (~np.isnan(stack)).sum(axis=0)
        expected = (np.nansum(stack, axis=0) / np.maximum(count, 1)).astype(np.float32)
        expected[count < 8] = np.nan
        np.testing.assert_array_equal(fast.mean(np.full(shape[0], 8)).view(np.uint32), expected.view(np.uint32))
    if regime.endswith("sparse"):  # both ways of counting were taken
        assert any(b.full for b in fast.blocks) and any(b.gaps for b in fast.blocks)


def test_a_block_stops_being_exact_when_its_values_spread() -> None:
    sums = WindowSums((2,))
    sums.add(2000, np.array([300.0, 1.0], dtype=np.float32))
    assert sums.blocks[0].exact
    sums.add(2001, np.array([np.float32(2.0**-40), np.nan], dtype=np.float32))  # 2**-63 ulps beside 300
    assert not sums.blocks[0].exact
    sums.add(2002, np.array([-1.0, 1.0], dtype=np.float32))
    np.testing.assert_array_equal(sums.mean(np.array([1, 1])), np.float32([(300.0 + 2.0**-40 - 1.0) / 3, 1.0]))


@pytest.mark.parametrize("regime", ["tas-sparse", "pr"])
def test_block_ranges_from_the_worker_give_the_same_window(regime: str) -> None:
    """A window fed the block ranges a worker took (`block_ranges`) ends bit for bit where one that takes them
    itself does; ranges for another block layout are refused."""
    rng = np.random.default_rng(11)
    shape = (40, 3, 5)
    own, given = WindowSums(shape), WindowSums(shape)
    for year in range(2000, 2030):
        values = _field(rng, regime, shape)
        own.add(year, values, drop_before=year - 9)
        given.add(year, values, drop_before=year - 9, ranges=block_ranges(values))
    for name in ("sums", "residue", "counts"):
        np.testing.assert_array_equal(getattr(own, name).view(np.uint8), getattr(given, name).view(np.uint8))
    thresholds = np.full(shape[0], 8)
    np.testing.assert_array_equal(own.mean(thresholds).view(np.uint32), given.mean(thresholds).view(np.uint32))
    assert [b.exact for b in own.blocks] == [b.exact for b in given.blocks]
    with pytest.raises(ValueError, match="block ranges"):
        given.add(2030, values, ranges=block_ranges(values[:16]))
