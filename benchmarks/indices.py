"""Per-year index values: xclim's indicators against climnorm's numpy, on the same years of CONUS at 0.25 degrees.

    python benchmarks/indices.py                  # 25,000 cells, 4 years of tasmax and pr, every benchmark index
    python benchmarks/indices.py --cells 2000     # a quick look

What docs/indicators.md ("Why numpy, not xclim, per year") quotes. Both sides get the same daily values in the
archive's units (K, kg m-2 s-1; float32 numbers, which both compute on as float64) with planted missing days
and compute the benchmark's indicators (benchmarks/indicators.py: INDICATORS) for each year, as the run needs
them, with WMO completeness:

* xclim: ``xclim.indicators.atmos.<index>(..., freq="YS")`` with ``check_missing="wmo"`` on the year's DataArray
  (and the days before it the index reads), as a reducer calling xclim per year would;
* climnorm: ``IndexYears.add`` on the year's day-slot field, as the reducer does.

Each side's CPU seconds per year (best of ``--repeat``) and per index are printed, and the values compared (the
same comparison tests/test_indicator_values.py makes; here only to be sure both computed the same thing).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from indicators import INDICATORS

from climnorm.calendars import SlotScheme
from climnorm.numerics.periods import WMO
from climnorm.products.indicators import IndexYears, resolve

UNITS = {"tasmax": "K", "pr": "kg m-2 s-1"}
CONVERSION = {"tasmax": (1.0, 0.0), "pr": (86400.0, 0.0)}


def fields(variable: str, cells: int, years: int, seed: int = 0) -> np.ndarray:
    """(years, 365, cells) float32 daily values with an ocean (all missing) and a few missing days."""
    rng = np.random.default_rng(seed)
    shape = (years, 365, cells)
    if variable == "tasmax":
        season = 12 * np.cos(2 * np.pi * (np.arange(365) - 200) / 365)[None, :, None]
        values = 290 + season + 6 * rng.standard_normal(shape)
    else:
        values = rng.exponential(4e-5, shape) * (rng.random(shape) < 0.35)
    values = values.astype(np.float32)
    values[:, :, : cells // 10] = np.nan
    values[:, 100:104, cells // 10 : cells // 10 + cells // 50] = np.nan
    return values


def climnorm_years(entries: list[dict[str, Any]], variable: str, data: np.ndarray) -> tuple[float, dict[str, list]]:
    """CPU seconds per year of ``IndexYears.add``, and each index's per-year values."""
    scheme = SlotScheme("noleap", "calendar_day")
    indicators = tuple(resolve(e) for e in entries)
    years = IndexYears(indicators, scheme, CONVERSION[variable], WMO)
    out: dict[str, list] = {i.id: [] for i in indicators}
    start = time.process_time()
    for n in range(data.shape[0]):
        for key, value in years.add(2001 + n, data[n]).items():
            out[key].append(value[0])
    return (time.process_time() - start) / data.shape[0], out


def xclim_years(entries: list[dict[str, Any]], variable: str, data: np.ndarray) -> tuple[float, dict[str, list]]:
    """CPU seconds per year of xclim's indicators called on each year (with the days before it), and their values."""
    import xarray as xr
    import xclim
    from xclim import indicators

    time_axis = xr.date_range("2001-01-01", periods=data.shape[0] * 365, freq="D", calendar="noleap", use_cftime=True)
    series = xr.DataArray(
        data.reshape(-1, data.shape[2]).astype(np.float64), dims=("time", "cell"), coords={"time": time_axis},
        attrs={"units": UNITS[variable], "standard_name": "air_temperature" if variable == "tasmax" else
               "precipitation_flux"},
    )  # fmt: skip
    calls = []
    for entry in entries:
        params = {k: v for k, v in entry.items() if k not in ("index", "id")}
        indicator = getattr(indicators.atmos, resolve(entry).index.xclim_indicator)
        calls.append((entry.get("id", entry["index"]), indicator, params))
    out: dict[str, list] = {name: [] for name, _, _ in calls}
    start = time.process_time()
    with xclim.set_options(check_missing="wmo"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in range(data.shape[0]):
            year = series.isel(time=slice(max(0, n * 365 - 4), (n + 1) * 365))  # rx5day reaches 4 days back
            for name, fn, params in calls:
                value = fn(**{variable: year}, freq="YS", **params)
                out[name].append(np.asarray(value.isel(time=-1)))
    return (time.process_time() - start) / data.shape[0], out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", type=int, default=25_000, help="grid cells (default 25,000: CONUS at 0.25 deg)")
    p.add_argument("--years", type=int, default=4, help="years of each variable (default 4)")
    p.add_argument("--repeat", type=int, default=2, help="runs of each side; the fastest counts (default 2)")
    args = p.parse_args(argv)
    print(f"per-year index values, {args.cells:,} cells, {args.years} years, CPU s per year (best of {args.repeat})")
    total = {"xclim": 0.0, "climnorm": 0.0}
    for variable in ("tasmax", "pr"):
        data = fields(variable, args.cells, args.years)
        entries = [e for e in INDICATORS if resolve(e).variable == variable]
        sides = {"xclim": xclim_years, "climnorm": climnorm_years}
        best: dict[str, float] = {}
        values: dict[str, dict[str, list]] = {}
        for side, fn in sides.items():
            runs = [fn(entries, variable, data) for _ in range(args.repeat)]
            best[side] = min(r[0] for r in runs)
            values[side] = runs[0][1]
            total[side] += best[side]
        worst = 0.0
        for name in values["climnorm"]:
            ours, theirs = np.array(values["climnorm"][name]), np.array(values["xclim"][name], dtype=np.float64)
            if not np.array_equal(np.isnan(ours), np.isnan(theirs)):
                raise SystemExit(f"{variable} {name}: NaN masks differ between xclim and climnorm")
            ok = ~np.isnan(theirs)
            scale = np.maximum(np.abs(theirs[ok]), 1e-12)
            worst = max(worst, float(np.max(np.abs(ours[ok] - theirs[ok]) / scale, initial=0.0)))
        names = ", ".join(values["climnorm"])
        print(
            f"  {variable} ({len(entries)}: {names}): xclim {best['xclim']:.3f} s, climnorm {best['climnorm']:.3f} s, "
            f"x{best['xclim'] / best['climnorm']:.1f}; largest relative difference {worst:.1e}"
        )
    ratio = total["xclim"] / total["climnorm"]
    both = f"xclim {total['xclim']:.3f} s, climnorm {total['climnorm']:.3f} s per year"
    print(f"both variables: {both}: xclim/climnorm={ratio:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
