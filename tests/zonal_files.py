"""Real files for the zonal tests: vector files through pyogrio, climnorm-shaped outputs and their manifest."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import netCDF4
import numpy as np
import pyogrio.raw
import shapely
from shapely.geometry.base import BaseGeometry

DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".shp": "ESRI Shapefile"}


def write_vector(
    path: Path,
    geoms: list[BaseGeometry | None],
    ids: list[str],
    names: list[str] | None = None,
    crs: str = "EPSG:4326",
    states: list[str] | None = None,
) -> Path:
    """A vector file (driver by suffix) with fields id, name (and state) and one (multi)polygon per feature."""
    names = names or [f"name {i}" for i in ids]
    multi = [shapely.MultiPolygon([g]) if isinstance(g, shapely.Polygon) else g for g in geoms]
    columns = {"id": ids, "name": names, **({"state": states} if states is not None else {})}
    pyogrio.raw.write(
        path,
        np.array([None if g is None else shapely.to_wkb(g) for g in multi], dtype=object),
        [np.array(v, dtype=object) for v in columns.values()],
        list(columns),
        driver=DRIVERS[path.suffix],
        geometry_type="MultiPolygon",
        crs=crs,
    )
    return path


def write_output(
    out: Path,
    rel: str,
    lat: np.ndarray,
    lon: np.ndarray,
    fields: dict[str, np.ndarray],
    *,
    slots: str = "daily",
    units: str = "K",
    attrs: dict[str, str] | None = None,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """One output file in climnorm's layout: (time, lat, lon) float32 fields, fill 1e20, slot coordinates."""
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    nslots = next(iter(fields.values())).shape[0]
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", nslots)
        ds.createDimension("lat", lat.size)
        ds.createDimension("lon", lon.size)
        ds.createVariable("time", "f8", ("time",))[:] = np.arange(nslots) + 0.5
        _slot_coords(ds, slots, nslots)
        la = ds.createVariable("lat", "f8", ("lat",))
        la[:] = lat
        lo = ds.createVariable("lon", "f8", ("lon",))
        lo[:] = lon
        if bounds is not None:
            ds.createDimension("nv", 2)
            la.bounds, lo.bounds = "lat_bnds", "lon_bnds"
            ds.createVariable("lat_bnds", "f8", ("lat", "nv"))[:] = bounds[0]
            ds.createVariable("lon_bnds", "f8", ("lon", "nv"))[:] = bounds[1]
        for name, data in fields.items():
            v = ds.createVariable(name, "f4", ("time", "lat", "lon"), zlib=True, fill_value=np.float32(1e20))
            v.units = units
            v[:] = np.ma.masked_invalid(data.astype(np.float32))
        ds.setncatts({"Conventions": "CF-1.8", **(attrs or {})})
    return path


def _slot_coords(ds: netCDF4.Dataset, slots: str, n: int) -> None:
    if slots == "daily":
        days = [dt.date(2001, 1, 1) + dt.timedelta(days=i) for i in range(n)]
        ds.createVariable("dayofyear", "i2", ("time",))[:] = np.arange(1, n + 1)
        ds.createVariable("month", "i1", ("time",))[:] = [d.month for d in days]
        ds.createVariable("day", "i1", ("time",))[:] = [d.day for d in days]
    elif slots == "monthly":
        ds.createVariable("month", "i1", ("time",))[:] = np.arange(1, n + 1)
    elif slots == "seasonal":
        season = ds.createVariable("season", str, ("time",))
        season[:] = np.array(["DJF", "MAM", "JJA", "SON"][:n], dtype=object)


def record(rel: str, region: str, variable: str = "tas", **extra: object) -> dict[str, object]:
    """A manifest record with the fields climnorm writes."""
    base = {
        "path": rel, "variable": variable, "region": region, "scenario": "historical", "period": "historical",
        "target_year": 2010, "window_years": 30, "model": "SYNTH-ESM", "variant": "r1i1p1f1",
        "calendar": "noleap", "leap_day": "calendar_day", "years": list(range(1981, 2011)), "checksum": "sha256:0",
    }  # fmt: skip
    return {**base, **extra}


def write_manifest(out: Path, records: list[dict[str, object]]) -> None:
    (out / "manifest.json").write_text(json.dumps({"format": 1, "outputs": records}, indent=1))


# ---- two regions side by side, and polygons with known answers (a coast, a sea, an island, one far away) -----
LAT = np.arange(10.5, 15.0, 1.0)
WEST_LON = np.arange(0.5, 5.0, 1.0)
EAST_LON = np.arange(5.5, 10.0, 1.0)
NSLOTS = 6
SHAPES = {
    "full": shapely.box(1.0, 11.0, 3.0, 13.0),
    "coast": shapely.box(3.2, 10.2, 4.8, 12.7),
    "sea": shapely.box(1.2, 13.2, 1.8, 13.8),
    "straddle": shapely.box(4.0, 11.0, 6.5, 12.0),
    "island": shapely.Point(7.3, 12.6).buffer(0.05),
    "far": shapely.box(100.0, 40.0, 101.0, 41.0),
}
STATES = {"full": "W", "coast": "W", "sea": "W", "straddle": "E", "island": "E", "far": "X"}


def region_data(lon: np.ndarray, seed: int) -> np.ndarray:
    data = np.random.default_rng(seed).normal(280.0, 5.0, (NSLOTS, LAT.size, lon.size))
    return data.astype(np.float32).astype(np.float64)


def west_data() -> np.ndarray:
    data = region_data(WEST_LON, 1)
    data[:, 3:, :3] = np.nan  # a sea in the north-west: "sea" lies in it
    data[:, 1, 4] = np.nan  # a coastal cell under "coast"
    data[2, 0, 3] = np.nan  # a hole in one slot only
    return data


def write_two_regions(out: Path, **extra: object) -> Path:
    """WEST and EAST outputs of one set (daily slots) and their manifest; returns ``out``."""
    west, east = "tas/WEST/tas_WEST.nc", "tas/EAST/tas_EAST.nc"
    write_output(out, west, LAT, WEST_LON, {"tas": west_data()})
    write_output(out, east, LAT, EAST_LON, {"tas": region_data(EAST_LON, 2)})
    write_manifest(out, [record(west, "WEST", **extra), record(east, "EAST", **extra)])
    return out


def write_shapes(path: Path) -> Path:
    """SHAPES in a vector file with fields id, name (the id titled) and state."""
    return write_vector(
        path, list(SHAPES.values()), list(SHAPES), [k.title() for k in SHAPES], states=list(STATES.values())
    )
