"""Zonal (county) aggregation benchmark: the 3,221 built-in counties against synthetic 0.25° climnorm outputs.

Writes climnorm-shaped daily normals (float32, 365 slots, lat/lon increasing, zlib 1 + shuffle, NaN outside
the counties' land, optionally random holes) and a manifest, then measures (time, and peak memory of this
process; the files are written by a child process):

- default: one output set, CONUS+AK+HI+PRVI (4 files): loading the counties, the weights per region grid,
  reading and applying per file, and zonal_stats end to end (cold, then with the weights cache);
- ``--full-set``: all of one variable's CONUS outputs of a real run (the default periods 1980-2014, 2015-2044,
  2045-2100, historical + ssp245 + ssp585: 35 + 2 x (30 + 56) = 207 files), streamed to one Parquet table with
  `write_zonal_table` (cold, then with the weights cache), the table's size on disk.

    python benchmarks/zonal.py [--out /tmp/zonal-bench] [--targets 1] [--holes 0.0] [--exactextract]
    python benchmarks/zonal.py --full-set [--out /tmp/zonal-bench-full]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import resource
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import netCDF4
import numpy as np
import shapely

from climnorm.regions import BUILTIN_REGIONS, select_cells
from climnorm.zonal import compute_weights, load_counties, write_zonal_table, zonal_stats
from climnorm.zonal.apply import apply_weights
from climnorm.zonal.fields import read_fields, read_output_grid
from climnorm.zonal.table import assign_regions

REGIONS = ("CONUS", "AK", "HI", "PRVI")  # climnorm's built-in boxes with U.S. counties (GU has none)
LAT = np.arange(-59.875, 90.0, 0.25)  # NEX-GDDP-CMIP6 0.25° cell centres
LON = np.arange(0.125, 360.0, 0.25)
PERIODS = {"historical": (1980, 2014), "hybrid": (2015, 2044), "future": (2045, 2100)}  # climnorm's defaults


def region_axes(region: str) -> tuple[np.ndarray, np.ndarray]:
    """The region's cell centres as climnorm cuts them (`climnorm.regions.select_cells`)."""
    cut = select_cells(BUILTIN_REGIONS[region], LAT, LON)
    return cut.lat, cut.lon


def land_mask(lat: np.ndarray, lon: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Cells whose centre lies in a county (either longitude convention): the synthetic land."""
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    tree = shapely.STRtree(parts)
    land = np.zeros(glat.size, dtype=bool)
    for shift in (0.0, -360.0):
        points = shapely.points(glon.ravel() + shift, glat.ravel())
        hit, _ = tree.query(points, predicate="within")
        land[hit] = True
    return land.reshape(glat.shape)


def write_normal(path: Path, variable: str, lat: np.ndarray, lon: np.ndarray, data: np.ndarray, meta: dict) -> None:
    """A file in climnorm's output layout (time slots with dayofyear/month/day, lat, lon)."""
    days = np.array([dt.date(2001, 1, 1) + dt.timedelta(days=i) for i in range(365)])
    path.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", 365)
        ds.createDimension("lat", lat.size)
        ds.createDimension("lon", lon.size)
        ds.createVariable("time", "f8", ("time",))[:] = np.arange(365) + 0.5
        ds.createVariable("dayofyear", "i2", ("time",))[:] = np.arange(1, 366)
        ds.createVariable("month", "i1", ("time",))[:] = [d.month for d in days]
        ds.createVariable("day", "i1", ("time",))[:] = [d.day for d in days]
        ds.createVariable("lat", "f8", ("lat",))[:] = lat
        ds.createVariable("lon", "f8", ("lon",))[:] = lon
        v = ds.createVariable(
            variable, "f4", ("time", "lat", "lon"), zlib=True, complevel=1, shuffle=True,
            chunksizes=(1, lat.size, lon.size), fill_value=np.float32(1e20),
        )  # fmt: skip
        v.units = "K"
        v[:] = np.ma.masked_invalid(data)
        ds.setncatts({"Conventions": "CF-1.8", **{k: str(x) for k, x in meta.items()}})


def synthetic_field(region: str, parts: np.ndarray, holes: float, rng: np.random.Generator) -> tuple:
    """(lat, lon, field): a smooth seasonal tas field, NaN off the counties' land (and in random holes)."""
    lat, lon = region_axes(region)
    land = land_mask(lat, lon, parts)
    season = np.cos(2 * np.pi * (np.arange(365) - 200) / 365.0)[:, None, None]
    field = (280.0 + 10.0 * season + 0.1 * lat[None, :, None] + 0.01 * lon[None, None, :]).astype(np.float32)
    field = np.where(land[None], field, np.nan)
    if holes:
        field[rng.random(field.shape) < holes] = np.nan
    return lat, lon, field


def _target(out: Path, region: str, scenario: str, period: str, year: int, data: tuple) -> dict:
    """Write one output file and return its manifest record."""
    rel = f"tas/{region}/{scenario}/tas_{region}_{scenario}_{period}_{year}_30yr_normal.nc"
    meta = {"variable": "tas", "region": region, "scenario": scenario, "period": period, "target_year": year,
            "window_years": 30, "model": "SYNTH-ESM", "variant": "r1i1p1f1"}  # fmt: skip
    write_normal(out / rel, "tas", *data, meta)
    return {"path": rel, **meta, "calendar": "noleap", "leap_day": "calendar_day"}


def write_outputs(out: Path, targets: int, holes: float) -> list[dict]:
    """One set per target year (2014 back), every region; and its manifest.json; returns the records."""
    parts = np.asarray(load_counties().parts)
    rng = np.random.default_rng(1)
    records = []
    for region in REGIONS:
        lat, lon, field = synthetic_field(region, parts, holes, rng)
        for k in range(targets):
            records.append(_target(out, region, "historical", "historical", 2014 - k, (lat, lon, field)))
    (out / "manifest.json").write_text(json.dumps({"format": 1, "outputs": records}, indent=1))
    return records


def write_full_set(out: Path, region: str = "CONUS") -> list[dict]:
    """All of one variable's outputs of a real run over one region: 35 historical targets, 30 hybrid and 56
    future ones under each of ssp245 and ssp585 (207 files; values shifted a little per file)."""
    lat, lon, field = synthetic_field(region, np.asarray(load_counties().parts), 0.0, np.random.default_rng(1))
    jobs = [("historical", "historical", y) for y in range(PERIODS["historical"][0], PERIODS["historical"][1] + 1)]
    for scenario in ("ssp245", "ssp585"):
        for period in ("hybrid", "future"):
            jobs += [(scenario, period, y) for y in range(PERIODS[period][0], PERIODS[period][1] + 1)]
    records = []
    for k, (scenario, period, year) in enumerate(jobs):
        records.append(_target(out, region, scenario, period, year, (lat, lon, field + np.float32(0.01 * k))))
    (out / "manifest.json").write_text(json.dumps({"format": 1, "outputs": records}, indent=1))
    return records


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_steps(out: Path, records: list[dict]) -> None:
    """Counties, weights per grid, then read + apply per file, each timed on its own."""
    start = time.perf_counter()
    counties = load_counties()
    print(f"load counties: {time.perf_counter() - start:.2f} s ({len(counties)} polygons, {len(counties.parts)} parts)")
    weights, grids = {}, {}
    for record in records:
        region = record["region"]
        if region in weights:
            continue
        grids[region] = read_output_grid(out / record["path"])
        start = time.perf_counter()
        weights[region] = compute_weights(counties, grids[region])
        print(f"weights {region:5s} {grids[region].shape}: {time.perf_counter() - start:.2f} s, "
              f"{weights[region].matrix.nnz} cell pairs")  # fmt: skip
    keys = sorted(weights)
    choice = assign_regions({k: weights[k].grid_area for k in keys})
    print(f"outside every grid: {int((choice < 0).sum())} counties")
    for record in records:
        region = record["region"]
        rows = np.flatnonzero(choice == keys.index(region))
        t0 = time.perf_counter()
        _, fields = read_fields(out / record["path"], "tas")
        t1 = time.perf_counter()
        values = apply_weights(weights[region], grids[region], fields[0].data, rows, counties)
        t2 = time.perf_counter()
        nearest = int((values.flag == 1).any(axis=1).sum())
        print(f"file {region:5s}: read {t1 - t0:.2f} s, apply {t2 - t1:.3f} s "
              f"({rows.size} counties x 365 slots, {nearest} by nearest cell)")  # fmt: skip


def measure_exactextract(records: list[dict], out: Path) -> None:
    """exactextract's per-cell coverage fractions for the same grids, for comparison (if installed)."""
    try:
        from exactextract import exact_extract
        from exactextract.raster import NumPyRasterSource
    except ImportError:
        print("exactextract: not installed (pip install exactextract)")
        return
    counties = load_counties()
    features = [
        {"type": "Feature", "properties": {"i": i}, "geometry": shapely.geometry.mapping(counties.geometry(i))}
        for i in range(len(counties))
    ]
    for record in records[:: max(1, len(records) // len(REGIONS))]:
        grid = read_output_grid(out / record["path"])
        (w, e), s, n = grid.lon_span, grid.lat_bounds.min(), grid.lat_bounds.max()
        start = time.perf_counter()
        raster = NumPyRasterSource(np.zeros(grid.shape, np.float32), w, s, e, n)
        exact_extract(raster, features, ["cell_id", "coverage"], include_cols=["i"], output="pandas")
        print(f"exactextract {record['region']:5s}: {time.perf_counter() - start:.2f} s")


def measure_full_set(out: Path) -> None:
    """The whole set streamed to one Parquet table, cold then with the cached weights."""
    size = sum(p.stat().st_size for p in out.rglob("*.nc"))
    print(f"inputs: {size / 2**30:.2f} GiB of NetCDF")
    for label in ("cold (weights computed)", "warm (weights cached)"):
        start = time.perf_counter()
        written = write_zonal_table(out, out / "tables" / "counties.parquet")
        print(f"write_zonal_table {label}: {time.perf_counter() - start:.1f} s; {written.summary()}")
        print(f"  table: {written.path.stat().st_size / 2**20:,.0f} MiB, "
              f"{written.path.stat().st_size / max(written.rows, 1):.2f} bytes per row; "
              f"peak RSS so far {peak_mib():.0f} MiB")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="scratch folder (default /tmp/zonal-bench[-full])")
    parser.add_argument("--targets", type=int, default=1, help="target years (files) per region")
    parser.add_argument("--holes", type=float, default=0.0, help="fraction of land cells set NaN at random")
    parser.add_argument("--exactextract", action="store_true", help="also time exactextract's coverage fractions")
    parser.add_argument("--full-set", action="store_true", help="all 207 CONUS files of one variable, one table")
    args = parser.parse_args(argv)
    out = args.out or Path("/tmp/zonal-bench-full" if args.full_set else "/tmp/zonal-bench")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(1) as pool:  # written by a child, so this process's peak memory is the zonal work's
        if args.full_set:
            records = pool.submit(write_full_set, out).result()
        else:
            records = pool.submit(write_outputs, out, args.targets, args.holes).result()
    print(f"wrote {len(records)} files in {time.perf_counter() - start:.1f} s under {out}")
    if args.full_set:
        measure_full_set(out)
        return 0
    measure_steps(out, records)
    print(f"peak RSS after the steps: {peak_mib():.0f} MiB")
    for label in ("zonal_stats cold (no cache)", "zonal_stats warm (cached weights)"):
        start = time.perf_counter()
        result = zonal_stats(out)
        print(f"{label}: {time.perf_counter() - start:.2f} s, {len(result.table)} rows, "
              f"{len(result.outside)} outside")  # fmt: skip
    if args.exactextract:
        measure_exactextract(records, out)
    print(f"peak RSS of the zonal work (this process): {peak_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
