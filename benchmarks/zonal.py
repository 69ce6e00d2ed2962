"""Zonal (county) aggregation benchmark: 3,221 counties against a synthetic 0.25° CONUS+AK+HI+PRVI output set.

Writes climnorm-shaped daily normals (float32, 365 slots, lat/lon increasing, zlib 1 + shuffle, NaN outside
the counties' land, optionally random holes), then times: loading the counties, the weights per region grid,
reading and applying per file, and zonal_stats end to end (cold, then with the weights cache); peak memory.

    python benchmarks/zonal.py [--out /tmp/zonal-bench] [--targets 1] [--holes 0.0] [--exactextract]
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

from climnorm.zonal import compute_weights, load_counties, zonal_stats
from climnorm.zonal.apply import apply_weights
from climnorm.zonal.outputs import read_fields, read_output_grid
from climnorm.zonal.table import assign_regions

# climnorm's built-in boxes (inclusive on cell centres), NEX-GDDP-CMIP6 0.25° centres.
REGIONS = {
    "CONUS": (24.0, 50.0, 234.0, 294.0),
    "AK": (50.0, 72.0, 170.0, 235.0),
    "HI": (18.92, 28.45, 181.63, 205.20),
    "PRVI": (17.62, 18.57, 292.03, 295.49),
}
LAT = np.arange(-59.875, 90.0, 0.25)
LON = np.arange(0.125, 360.0, 0.25)


def region_axes(box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    tol = 1e-6
    lat = LAT[(box[0] - tol <= LAT) & (box[1] + tol >= LAT)]
    lon = LON[(box[2] - tol <= LON) & (box[3] + tol >= LON)]
    return lat, lon


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


def write_outputs(out: Path, targets: int, holes: float) -> list[dict]:
    """The synthetic output set and its manifest.json; returns the records."""
    parts = np.asarray(load_counties().parts)
    rng = np.random.default_rng(1)
    records = []
    for region, box in REGIONS.items():
        lat, lon = region_axes(box)
        land = land_mask(lat, lon, parts)
        season = np.cos(2 * np.pi * (np.arange(365) - 200) / 365.0)[:, None, None]
        field = (280.0 + 10.0 * season + 0.1 * lat[None, :, None] + 0.01 * lon[None, None, :]).astype(np.float32)
        field = np.where(land[None], field, np.nan)
        if holes:
            field[rng.random(field.shape) < holes] = np.nan
        for k in range(targets):
            year = 2014 - k
            rel = f"tas/{region}/historical/tas_{region}_historical_historical_{year}_30yr_normal.nc"
            meta = {"variable": "tas", "region": region, "scenario": "historical", "period": "historical",
                    "target_year": year, "window_years": 30, "model": "SYNTH-ESM", "variant": "r1i1p1f1"}  # fmt: skip
            write_normal(out / rel, "tas", lat, lon, field, meta)
            records.append({"path": rel, **meta, "calendar": "noleap", "leap_day": "calendar_day"})
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/zonal-bench"))
    parser.add_argument("--targets", type=int, default=1, help="target years (files) per region")
    parser.add_argument("--holes", type=float, default=0.0, help="fraction of land cells set NaN at random")
    parser.add_argument("--exactextract", action="store_true", help="also time exactextract's coverage fractions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    shutil.rmtree(args.out, ignore_errors=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(1) as pool:  # written by a child, so this process's peak memory is the zonal work's
        records = pool.submit(write_outputs, args.out, args.targets, args.holes).result()
    print(f"wrote {len(records)} files in {time.perf_counter() - start:.1f} s under {args.out}")
    measure_steps(args.out, records)
    print(f"peak RSS after the steps: {peak_mib():.0f} MiB")
    for label in ("zonal_stats cold (no cache)", "zonal_stats warm (cached weights)"):
        start = time.perf_counter()
        result = zonal_stats(args.out)
        print(f"{label}: {time.perf_counter() - start:.2f} s, {len(result.table)} rows, "
              f"{len(result.outside)} outside")  # fmt: skip
    if args.exactextract:
        measure_exactextract(records, args.out)
    print(f"peak RSS of the zonal work (this process): {peak_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
