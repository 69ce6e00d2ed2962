"""The compiled window update (climnorm.numerics._kernels) leaves the same bits as the numpy path, in every regime."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import climnorm.numerics.sums
from climnorm.numerics import _kernels
from climnorm.numerics.sums import WindowSums


def _year(rng: np.random.Generator, regime: str, year: int, shape: tuple[int, ...]) -> np.ndarray:
    if regime == "tas":
        values = rng.normal(285.0, 12.0, shape)
    elif regime == "pr":  # dry days and drizzle far below the storms: blocks take the two-sum
        values = np.where(rng.random(shape) < 0.4, 0.0, rng.lognormal(-11.0, 3.0, shape))
    else:  # "spreading": exact for a decade, then a year far below the others turns blocks to the two-sum
        values = rng.normal(285.0, 12.0, shape)
        if year == 2012:
            values[: shape[0] // 2] = 2.0**-40
    values = values.astype(np.float32)
    if rng.random() < 0.3:  # now and then a missing value: that block of that year takes the numpy path
        values[rng.integers(shape[0]), rng.integers(shape[1])] = np.nan
    return values


def _run(regime: str, shape: tuple[int, ...]) -> tuple[WindowSums, list[np.ndarray], int]:
    """36 years through a window of 10; its means, and how many blocks had the mean taken in the update's pass."""
    rng = np.random.default_rng(5)
    sums, means, in_pass = WindowSums(shape), [], 0
    for year in range(2000, 2036):
        sums.add(year, _year(rng, regime, year, shape), drop_before=year - 9, quotient=year % 3 > 0)
        in_pass += sum(sums._quotient_blocks)
        if year >= 2009:
            means.append(sums.mean(np.full(shape[0], 8)))
            means.append(sums.mean(np.full(shape[0], 10)))  # a second mean: the first took the pass's quotient
    return sums, means, in_pass


@pytest.mark.parametrize("regime", ["tas", "pr", "spreading"])
def test_compiled_and_numpy_updates_give_the_same_bits(regime: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _kernels.get() is not None, "numba is a dependency: the compiled path must be the one tested here"
    shape = (40, 7, 9)  # three blocks of slots, the last one short
    monkeypatch.setattr(climnorm.numerics.sums, "COMPILED_VALUES", 0)  # so small a window takes the compiled loops too
    compiled, compiled_means, in_pass = _run(regime, shape)
    monkeypatch.setattr(_kernels, "get", lambda: None)
    plain, plain_means, none = _run(regime, shape)
    assert in_pass > 10 and none == 0
    for name in ("sums", "residue", "counts"):
        np.testing.assert_array_equal(getattr(compiled, name).view(np.uint8), getattr(plain, name).view(np.uint8))
    for a, b in zip(compiled_means, plain_means, strict=True):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    exact = [block.exact for block in compiled.blocks]
    assert exact == [block.exact for block in plain.blocks]
    assert {"tas": [True] * 3, "pr": [False] * 3, "spreading": [False, False, True]}[regime] == exact


def test_small_windows_stay_on_numpy() -> None:
    """A window below ``COMPILED_VALUES`` never takes the compiled loops (their one-off load would cost more)."""
    sums = WindowSums((40, 7, 9))
    sums.add(2000, np.ones((40, 7, 9), dtype=np.float32), quotient=True)
    assert sums._kernels() is None and not any(sums._quotient_blocks)
    big = WindowSums((64, 256, 256))
    assert big.sums.size >= climnorm.numerics.sums.COMPILED_VALUES and big._kernels() is not None


def test_numpy_path_can_be_chosen() -> None:
    """``CLIMNORM_KERNELS=numpy`` turns the compiled loops off (to compare, or where numba misbehaves)."""
    code = "import climnorm.numerics._kernels as k; print(k.get() is None)"
    env = {"CLIMNORM_KERNELS": "numpy", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
