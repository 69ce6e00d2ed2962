"""climnorm.scratch: window years parked on disk come back bit for bit, leave no file, reuse their space,
and stay in memory (with one warning) when the disk is full."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from climnorm.numerics.sums import WindowSums
from climnorm.runner.scratch import Held, Parked, Scratch

SHAPE = (366, 7, 5)
ALL_SLOTS = np.ones(SHAPE[0], dtype=np.int64)


def _field(rng: np.random.Generator, year: int) -> np.ndarray:
    values = (rng.normal(280.0, 15.0, SHAPE) + 0.01 * year).astype(np.float32)
    values[rng.random(SHAPE) < 0.05] = np.nan
    return values


def test_parked_arrays_come_back_bit_for_bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    arrays = [
        rng.normal(size=(3, 4)).astype(np.float32),
        rng.normal(size=(2, 5, 3)),
        np.arange(12, dtype=np.int32).reshape(3, 4)[:, ::2],  # not contiguous
        np.array([np.nan, 1.5, -0.0], dtype=np.float32),
    ]
    with Scratch(tmp_path) as scratch:
        parked = [scratch.park(a) for a in arrays]
        assert all(isinstance(p, Parked) for p in parked)
        for original, stand_in in zip(arrays, parked, strict=True):
            back = np.asarray(stand_in)
            assert back.dtype == original.dtype and back.shape == original.shape
            assert back.tobytes() == np.ascontiguousarray(original).tobytes()
        assert scratch.parked_bytes == sum(a.nbytes for a in arrays)


def test_no_file_is_left_in_the_directory(tmp_path: Path) -> None:
    with Scratch(tmp_path) as scratch:
        scratch.park(np.ones((100, 100), dtype=np.float32))
        assert list(tmp_path.iterdir()) == []  # unnamed (O_TMPFILE) or unlinked at once
    assert list(tmp_path.iterdir()) == []


def test_dropped_slots_are_reused(tmp_path: Path) -> None:
    """A 3-year window walked over 40 years: the file holds at most 4 fields, not 40."""
    field = np.ones((50, 50), dtype=np.float32)
    with Scratch(tmp_path) as scratch:
        window: list[object] = []
        for _ in range(40):
            window.append(scratch.park(field))
            if len(window) > 3:
                window.pop(0)
        assert scratch.parked_bytes == 3 * field.nbytes
        assert scratch.peak_bytes == 4 * field.nbytes
        assert os.fstat(scratch._fd).st_size <= 4 * field.nbytes


def test_window_sums_on_disk_equal_window_sums_in_memory(tmp_path: Path) -> None:
    """Rolling windows with a scenario fork: every mean is bit-identical and no member stays in memory."""
    rng = np.random.default_rng(7)
    fields = {year: _field(rng, year) for year in range(1990, 2015)}
    future = {year: _field(rng, year) for year in range(2015, 2025)}
    window = 8
    with Scratch(tmp_path) as scratch:
        pairs = (WindowSums(SHAPE), WindowSums(SHAPE, scratch.park))
        means: list[list[np.ndarray]] = [[], []]
        for sums, out in zip(pairs, means, strict=True):
            for year, values in fields.items():
                sums.drop_before(year - window + 1)
                sums.add(year, values)
                out.append(sums.mean(ALL_SLOTS))
            twin = sums.fork()
            for year, values in future.items():
                twin.drop_before(year - window + 1)
                twin.add(year, values)
                out.append(twin.mean(ALL_SLOTS))
            out.append(sums.mean(ALL_SLOTS))  # the historical window is untouched by its twin
        for a, b in zip(*means, strict=True):
            assert a.tobytes() == b.tobytes()
        on_disk = pairs[1]
        assert all(isinstance(m.values, Parked) for m in on_disk.members)
        # the historical window's 8 years, and the twin's 8 future years
        assert scratch.parked_bytes == 2 * window * fields[1990].nbytes


def test_a_full_disk_keeps_years_in_memory_with_one_warning(small_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(3)
    fields = [rng.normal(size=(40, 64)).astype(np.float32) for _ in range(12)]  # 10 KiB each
    with caplog.at_level(logging.WARNING, logger="climnorm.scratch"), Scratch(small_disk, reserve_bytes=0) as scratch:
        parked = [scratch.park(f) for f in fields]
        kinds = [isinstance(p, Parked) for p in parked]
        assert kinds[0] and not kinds[-1]
        assert kinds == sorted(kinds, reverse=True)  # once full, everything after stays in memory
        for original, stand_in in zip(fields, parked, strict=True):
            assert np.asarray(stand_in).tobytes() == original.tobytes()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert str(small_disk) in warnings[0] and "No space left on device" in warnings[0]


def test_the_scratch_file_leaves_room_for_outputs(small_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    """With the default reserve a small disk gets no scratch data at all: outputs come first."""
    field = np.ones((40, 64), dtype=np.float32)
    with caplog.at_level(logging.WARNING, logger="climnorm.scratch"), Scratch(small_disk) as scratch:
        parked = [scratch.park(field) for _ in range(3)]
        assert not any(isinstance(p, Parked) for p in parked)
        assert os.fstat(scratch._fd).st_size == 0
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert str(small_disk) in message and "less than 1024 MiB would remain free on its disk" in message


def test_leading_rows_read_back_bit_for_bit(tmp_path: Path) -> None:
    values = _field(np.random.default_rng(4), 2000)
    with Scratch(tmp_path) as scratch:
        parked = scratch.park(values)
        assert isinstance(parked, Parked)
        assert parked[2:5].tobytes() == values[2:5].tobytes()
        assert parked[5:].tobytes() == values[5:].tobytes()
        assert parked[...].tobytes() == values.tobytes()
        with pytest.raises(ValueError, match="contiguous rows"):
            parked[::2]


def test_years_within_the_memory_budget_stay_in_memory(tmp_path: Path) -> None:
    """The first ``memory_bytes`` of parked arrays are held in memory, the rest go to disk; a dropped held array
    gives its room back."""
    field = np.ones((64, 64), dtype=np.float32)
    with Scratch(tmp_path, memory_bytes=2 * field.nbytes) as scratch:
        first, second, third = (scratch.park(field + i) for i in range(3))
        assert isinstance(first, Held) and isinstance(second, Held) and isinstance(third, Parked)
        assert scratch.held_bytes == 2 * field.nbytes and scratch.parked_bytes == field.nbytes
        del first
        assert scratch.held_bytes == field.nbytes
        fourth = scratch.park(field + 3)
        assert isinstance(fourth, Held) and scratch.peak_held_bytes == 2 * field.nbytes
        for i, stand_in in ((1, second), (2, third), (3, fourth)):
            assert np.asarray(stand_in).tobytes() == (field + i).tobytes()
            assert stand_in[1:3].tobytes() == (field + i)[1:3].tobytes()
