"""Products are specs (climnorm.products): a product is added in one place.

The toy product below, the daily normal of the squared values, is everything a new product of day slots needs:
its numerics (a year's values) and one declaration. It runs through the whole job (plan, reduction, writer,
manifest, verify, open_normals) and equals the slow reference of tests/reference.py fed the squared values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import climnorm
from climnorm.engines import SerialExecutor
from climnorm.errors import ConfigError
from climnorm.products import DaySlots, ProductSpec, Source, product, product_names, registered
from climnorm.products.spec import by_mean
from reference import (
    RandomArchive,
    assert_close_with_same_nans,
    day_key,
    read_output,
    read_year_file,
    select_box,
    slot_keys,
    window_mean,
    write_random_archive,
    year_field,
)


# ---- the toy product: its numerics and its declaration ---------------------------------------------------------
@dataclass(frozen=True)
class Squares:
    """A year's day-slot field, squared: the toy product's per-year values (no state across years)."""

    def add(self, year: int, values: np.ndarray) -> Mapping[str, np.ndarray]:
        return {"daily_squared": np.square(values)}

    def carry(self, year: int, values: np.ndarray) -> None:
        """Nothing to keep."""

    def previous_years(self, years: tuple[int, ...]) -> tuple[int, ...]:
        return ()

    def fork(self) -> Squares:
        return self


SQUARED = ProductSpec(
    "daily_squared",
    "daily climate normal of squared values",
    DaySlots(),
    Source("squares", lambda context: Squares(), by_mean),
    "daily_squared",
)
# ------------------------------------------------------------------------------------------------------------------

W, MIN_YEARS = 5, 4
BOX = (30.0, 40.0, 250.0, 262.0)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> RandomArchive:
    root = tmp_path_factory.mktemp("squares")
    return write_random_archive(
        root / "in", calendar="noleap", lat=np.arange(28.5, 42.0, 3.0), lon=np.arange(248.5, 264.0, 3.0),
        historical_years=range(2006, 2015), holes=0.2,
    )  # fmt: skip


def _config(archive: RandomArchive, out: Path, products: list[str]) -> climnorm.Config:
    return climnorm.parse_config(
        {
            "input_dirs": [str(archive.root)],
            "output_dir": str(out),
            "variables": ["tas"],
            "regions": [{"name": "BOX", "lat_min": BOX[0], "lat_max": BOX[1], "lon_min": BOX[2], "lon_max": BOX[3]}],
            "scenarios": ["historical"],
            "window_years": W,
            "min_years_for_normal": MIN_YEARS,
            "periods": {"historical": [2012, 2014]},
            "products": products,
            "multiprocessing_workers": 1,
        }
    )


def _reference_of_squares(archive: RandomArchive, target: int) -> np.ndarray:
    """The slow reference's daily normal, of the squared daily values."""
    keys = slot_keys("calendar_day", "noleap")
    window = list(range(target - W + 1, target + 1))
    per_year = []
    for year in window:
        f = read_year_file(archive.files[("historical", year)], "tas")
        rows, cols = select_box(f.lat, f.lon, BOX)
        squared = np.square(f.data[:, rows][:, :, cols].astype(np.float32)).astype(np.float64)
        steps: dict[object, list[np.ndarray]] = defaultdict(list)
        for t, (_, month, day, doy) in enumerate(f.dates):
            steps[day_key("calendar_day", "noleap", month, day, doy)].append(squared[t])
        per_year.append(year_field(steps, keys, (len(rows), len(cols))))
    values, _, _ = window_mean(per_year, keys, window, MIN_YEARS, "calendar_day", "noleap")
    return values


def test_a_product_is_one_declaration(archive: RandomArchive, tmp_path: Path) -> None:
    with registered(SQUARED):
        assert product("daily_squared") is SQUARED and "daily_squared" in product_names()
        config = _config(archive, tmp_path / "out", ["daily", "daily_squared"])
        summary = climnorm.run(config, executor=SerialExecutor())
        assert summary.exit_code == 0 and summary.written == 2 * 3, summary.failures
        assert climnorm.verify_outputs(config.output_dir) == (6, [])
        records = climnorm.OutputIndex.load(config.output_dir).select(product="daily_squared")
        assert [r.target_year for r in records] == [2012, 2013, 2014]
        for record in records:
            assert record.path.endswith(f"_{record.target_year}_{W}yr_daily_squared_normal.nc")
            got = read_output(config.output_dir / record.path, "tas")
            assert got.attrs["product"] == "daily_squared"
            assert got.attrs["title"] == f"{W}-year daily climate normal of squared values of tas for BOX"
            ref = _reference_of_squares(archive, record.target_year)
            assert_close_with_same_nans(got.values, ref, what=f"squares {record.target_year}")
        ds = climnorm.open_normals(config.output_dir, variable="tas", region="BOX", scenario="historical",
                                   product="daily_squared")  # fmt: skip
        assert ds["tas"].sizes["target_year"] == 3
        # resume: unchanged, nothing is recomputed
        again = climnorm.run(config, executor=SerialExecutor())
        assert (again.written, again.up_to_date) == (0, 6)
    assert "daily_squared" not in product_names()
    with pytest.raises(ConfigError, match=r"products\.1: Input should be 'daily', .* or 'annual'"):
        _config(archive, tmp_path / "out", ["daily", "daily_squared"])


def test_every_declared_product_names_its_window_and_source() -> None:
    """What the accumulator relies on: products that read one window make their values the same way."""
    by_window: dict[str, set[str]] = defaultdict(set)
    for name in product_names():
        spec = product(name)
        by_window[spec.window].add(spec.source.name)
    assert all(len(sources) == 1 for sources in by_window.values()), by_window
    assert by_window["daily"] == {"days"} and product("daily_smoothed").window == "daily"
