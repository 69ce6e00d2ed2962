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
    path: Path, geoms: list[BaseGeometry | None], ids: list[str], names: list[str] | None = None, crs: str = "EPSG:4326"
) -> Path:
    """A vector file (driver by suffix) with fields id and name and one (multi)polygon per feature."""
    names = names or [f"name {i}" for i in ids]
    multi = [shapely.MultiPolygon([g]) if isinstance(g, shapely.Polygon) else g for g in geoms]
    pyogrio.raw.write(
        path,
        np.array([None if g is None else shapely.to_wkb(g) for g in multi], dtype=object),
        [np.array(ids, dtype=object), np.array(names, dtype=object)],
        ["id", "name"],
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
