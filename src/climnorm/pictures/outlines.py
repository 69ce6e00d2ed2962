"""State and county outlines for pictures, from the polygons of `climnorm.zonal` (the built-in counties by default).

States are the counties dissolved by their state field (shapely's coverage union: the county set tiles each
state, so this takes about 0.1 s for the 3,221 counties; kept per polygon set for the process). Outlines are
clipped to the picture's extent and shifted by whole turns onto its longitudes (0..360, -180..180, or continued
past 180 as Alaska's grid is). No network, no map downloads: the county set ships with the zonal extra.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import shapely
    from matplotlib.axes import Axes

    from climnorm.zonal.polygons import PolygonSet

log = logging.getLogger(__name__)

#: west, east, south, north of a picture in degrees (longitudes in the picture's own convention)
Extent = tuple[float, float, float, float]
STATE_STYLE = {"colors": "#1a1a1a", "linewidths": 0.7, "zorder": 4}
COUNTY_STYLE = {"colors": "#6e6e6e", "linewidths": 0.2, "alpha": 0.8, "zorder": 3}


def county_shapes(polygons: PolygonSet) -> list[shapely.Geometry]:
    """Each polygon (all its parts) as one lon/lat geometry, in the set's order."""
    return [polygons.geometry(i) for i in range(len(polygons))]


@functools.lru_cache(maxsize=4)
def _dissolved(polygons: PolygonSet) -> tuple[tuple[str, ...], tuple[shapely.Geometry, ...]]:
    import shapely

    parts = np.asarray(polygons.parts, dtype=object)
    states = np.asarray(polygons.states, dtype=object)[polygons.owner]
    keys = tuple(sorted({s for s in polygons.states if s}))
    return keys, tuple(shapely.coverage_union_all(parts[states == key]) for key in keys)


def state_shapes(polygons: PolygonSet) -> dict[str, shapely.Geometry]:
    """The polygons dissolved by state (empty without a state field): state → lon/lat geometry."""
    keys, shapes = _dissolved(polygons)
    return dict(zip(keys, shapes, strict=True))


def outline_lines(shapes: list[shapely.Geometry], extent: Extent) -> list[np.ndarray]:
    """The boundaries of ``shapes`` inside ``extent``, as (n, 2) lon/lat vertex arrays in the extent's longitudes."""
    import shapely

    from climnorm.zonal.lonlat import shifts_onto

    west, east, south, north = extent
    lines = []
    bounds = shapely.bounds(np.asarray(shapes, dtype=object)) if shapes else np.zeros((0, 4))
    for shape, (w, s, e, n) in zip(shapes, bounds, strict=True):
        if n < south or s > north:
            continue
        for shift in shifts_onto(float(w), float(e), west, east):
            moved = shapely.transform(shape, lambda xy, d=shift: xy + np.array([d, 0.0]))
            lines.append(shapely.clip_by_rect(shapely.boundary(moved), west, south, east, north))
    parts = shapely.get_parts(np.asarray(lines, dtype=object)) if lines else []
    return [shapely.get_coordinates(p) for p in parts if not p.is_empty]


def draw_outlines(ax: Axes, which: str, extent: Extent, polygons: PolygonSet | None = None) -> int:
    """Draw county (light) and state (dark) outlines, or states only, over ``ax``; returns the lines drawn.

    ``which``: "states", "counties" (counties and states) or "none"; ``polygons`` default the built-in counties.
    """
    if which == "none":
        return 0
    from matplotlib.collections import LineCollection

    if polygons is None:
        from climnorm.zonal import load_counties

        polygons = load_counties()
    drawn = 0
    layers = [("states", list(state_shapes(polygons).values()), STATE_STYLE)]
    if which == "counties":
        layers.insert(0, ("counties", county_shapes(polygons), COUNTY_STYLE))
    for _, shapes, style in layers:
        lines = outline_lines(shapes, extent)
        ax.add_collection(LineCollection(lines, **style), autolim=False)  # type: ignore[arg-type]
        drawn += len(lines)
    return drawn


def map_outlines(ax: Axes, which: str | None, extent: Extent) -> int:
    """Outlines over a gridded map when the zonal extra is there: ``which`` None means states if available.

    Without the extra (or its county set) nothing is drawn and the map is made all the same (debug log, or a
    warning when outlines were asked for by name).
    """
    if which == "none":
        return 0
    from climnorm.errors import ZonalError

    try:
        return draw_outlines(ax, which or "states", extent)
    except (ImportError, ZonalError) as err:
        (log.debug if which is None else log.warning)("no outlines on the map: %s", err)
        return 0
