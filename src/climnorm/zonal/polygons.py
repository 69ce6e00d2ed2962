"""Polygons with an id (and optional name and state) read from any vector file, in lon/lat degrees.

Files are read with pyogrio (GeoPackage, shapefile, zipped shapefile, GeoJSON, ...), reprojected to
EPSG:4326 when their CRS is another one, and split into polygon parts made continuous across the
antimeridian (`climnorm.zonal.lonlat`), so one set serves grids in 0..360 and -180..180 alike.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyogrio.errors
import pyogrio.raw
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon

from climnorm.errors import ZonalError
from climnorm.zonal.lonlat import canonical_parts

log = logging.getLogger(__name__)

_LONLAT = pyproj.CRS.from_epsg(4326)
_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
FINGERPRINT_VERSION = "polygons-1"


@dataclass(frozen=True, eq=False)
class PolygonSet:
    """Polygons keyed by id, stored as lon/lat polygon parts (`owner[k]` is the polygon of part k)."""

    source: str
    id_field: str
    ids: tuple[str, ...]
    names: tuple[str, ...]
    states: tuple[str, ...]
    parts: tuple[Polygon, ...]
    owner: np.ndarray
    fingerprint: str

    def __len__(self) -> int:
        return len(self.ids)

    def geometry(self, index: int) -> MultiPolygon:
        """All parts of one polygon as a single (unwrapped, lon/lat) multipolygon."""
        return MultiPolygon([self.parts[k] for k in np.flatnonzero(self.owner == index)])

    def subset(self, ids: list[str]) -> PolygonSet:
        """The polygons with these ids, in this order (same source and fingerprint base, so cached apart)."""
        index = {pid: i for i, pid in enumerate(self.ids)}
        missing = [pid for pid in ids if pid not in index]
        if missing:
            raise ZonalError(f"{self.source}: no polygon with id {', '.join(missing[:5])}")
        chosen = [index[pid] for pid in ids]
        keep = [k for i in chosen for k in np.flatnonzero(self.owner == i)]
        owner = np.concatenate([np.full(int((self.owner == i).sum()), n) for n, i in enumerate(chosen)])
        return PolygonSet(
            source=self.source,
            id_field=self.id_field,
            ids=tuple(ids),
            names=tuple(self.names[i] for i in chosen),
            states=tuple(self.states[i] for i in chosen),
            parts=tuple(self.parts[k] for k in keep),
            owner=owner.astype(np.int64),
            fingerprint=hashlib.blake2b(f"{self.fingerprint}|{'|'.join(ids)}".encode(), digest_size=16).hexdigest(),
        )

    def representative_points(self, indices: np.ndarray) -> np.ndarray:
        """A point inside each listed polygon (shapely's point_on_surface), as (n, 2) lon/lat degrees."""
        points = shapely.point_on_surface([self.geometry(int(i)) for i in indices])
        return shapely.get_coordinates(points).reshape(len(indices), 2)


def file_fingerprint(path: Path, *extra: str) -> str:
    """Hash of a vector file's bytes (and a shapefile's sidecars), its path and ``extra`` strings."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(FINGERPRINT_VERSION.encode())
    digest.update(str(path.resolve()).encode())
    files = [path.with_suffix(s) for s in _SIDECARS] if path.suffix.lower() == ".shp" else [path]
    for item in files:
        if item.is_file():
            digest.update(item.name.encode())
            with open(item, "rb") as fh:
                for block in iter(functools.partial(fh.read, 1 << 20), b""):
                    digest.update(block)
    for text in extra:
        digest.update(b"\0" + text.encode())
    return digest.hexdigest()


def _field_values(fields: list[str], arrays: list[np.ndarray], name: str | None, path: Path, n: int) -> list[str]:
    """One field's values as strings ('' for missing); an unknown field name is an error naming those present."""
    if name is None:
        return [""] * n
    if name not in fields:
        raise ZonalError(f"{path}: no field {name!r}; the fields are {', '.join(fields) or '(none)'}")
    values = arrays[fields.index(name)]
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else _text(v) for v in values]


def _text(value: object) -> str:
    """A field value as text; whole floats lose their '.0' (ids read from numeric columns)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _read_raw(path: Path, layer: str | int | None) -> tuple[dict[str, Any], np.ndarray, list[str], list[np.ndarray]]:
    """The file's metadata, WKB geometries and fields; any failure to read becomes one ZonalError line."""
    if not path.exists():
        raise ZonalError(f"{path}: no such polygon file")
    try:
        meta, _, wkb, arrays = pyogrio.raw.read(path, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError) as err:
        raise ZonalError(f"{path}: cannot read polygons ({str(err).splitlines()[0]})") from err
    except Exception as err:  # GDAL reports some broken files as plain errors
        raise ZonalError(f"{path}: cannot read polygons ({type(err).__name__}: {err})") from err
    if wkb is None:
        raise ZonalError(f"{path}: the layer has no geometry column")
    return meta, wkb, [str(f) for f in meta["fields"]], list(arrays)


def _to_lonlat(geoms: np.ndarray, crs: str | None, path: Path) -> np.ndarray:
    """Geometries reprojected to lon/lat (EPSG:4326) unless already in it (a file without a CRS is taken as lon/lat)."""
    if crs is None:
        log.info("%s: no CRS given; taking coordinates as lon/lat degrees", path)
        return geoms
    source = pyproj.CRS.from_user_input(crs)
    if source.equals(_LONLAT, ignore_axis_order=True) or source.equals(pyproj.CRS("OGC:CRS84")):
        return geoms
    log.debug("%s: reprojecting from %s to EPSG:4326", path, source.name)
    transformer = pyproj.Transformer.from_crs(source, _LONLAT, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def _valid_parts(parts: list[Polygon], source: str) -> tuple[list[Polygon], int]:
    """Parts made valid where they are not (self-intersections...), keeping only polygonal pieces."""
    fixed = 0
    out: list[Polygon] = []
    for part in parts:
        if part.is_valid:
            out.append(part)
            continue
        fixed += 1
        out.extend(p for p in shapely.get_parts(shapely.make_valid(part)) if isinstance(p, Polygon) and p.area > 0)
    return out, fixed


def _check_lonlat(parts: list[Polygon], path: Path) -> None:
    """Coordinates must be degrees after reprojection: a latitude beyond ±90 means a wrong or missing CRS."""
    south, north = shapely.total_bounds(parts)[[1, 3]]
    if south < -90.0 - 1e-9 or north > 90.0 + 1e-9:
        raise ZonalError(f"{path}: latitudes {south:.6g}..{north:.6g} are not degrees; is the file's CRS missing?")


def read_polygons(
    path: str | Path,
    id_field: str = "id",
    name_field: str | None = None,
    state_field: str | None = None,
    *,
    layer: str | int | None = None,
) -> PolygonSet:
    """Read polygons keyed by ``id_field`` from a vector file; features without polygon geometry are skipped."""
    path = Path(path)
    meta, wkb, fields, arrays = _read_raw(path, layer)
    n = len(wkb)
    ids = _field_values(fields, arrays, id_field, path, n)
    names = _field_values(fields, arrays, name_field, path, n)
    states = _field_values(fields, arrays, state_field, path, n)
    geoms = _to_lonlat(shapely.from_wkb(wkb), meta.get("crs"), path)
    keep_ids: list[str] = []
    keep_names: list[str] = []
    keep_states: list[str] = []
    parts: list[Polygon] = []
    owner: list[int] = []
    fixed = skipped = 0
    for i, geom in enumerate(geoms):
        pieces = canonical_parts(geom, str(path)) if geom is not None else []
        pieces, bad = _valid_parts(pieces, str(path))
        fixed += bad
        if not pieces:
            skipped += 1
            continue
        parts.extend(pieces)
        owner.extend([len(keep_ids)] * len(pieces))
        keep_ids.append(ids[i])
        keep_names.append(names[i])
        keep_states.append(states[i])
    if not parts:
        raise ZonalError(f"{path}: no polygons ({n} features, none with a polygon geometry)")
    if skipped:
        log.warning("%s: %d of %d features have no polygon geometry and are left out", path, skipped, n)
    if fixed:
        log.warning("%s: %d invalid polygon parts were repaired (shapely.make_valid)", path, fixed)
    _check_lonlat(parts, path)
    _check_unique(keep_ids, id_field, path)
    return PolygonSet(
        source=str(path),
        id_field=id_field,
        ids=tuple(keep_ids),
        names=tuple(keep_names),
        states=tuple(keep_states),
        parts=tuple(parts),
        owner=np.asarray(owner, dtype=np.int64),
        fingerprint=file_fingerprint(path, id_field, str(layer)),
    )


def _check_unique(ids: list[str], id_field: str, path: Path) -> None:
    """Ids key the table: an empty or repeated one is an error that names a few of them."""
    if "" in ids:
        raise ZonalError(f"{path}: {ids.count('')} features have an empty {id_field!r}")
    repeated = [k for k, count in Counter(ids).items() if count > 1]
    if repeated:
        shown = ", ".join(repeated[:5]) + (" ..." if len(repeated) > 5 else "")
        raise ZonalError(f"{path}: {len(repeated)} values of {id_field!r} are repeated ({shown}); ids must be unique")
