"""Climate normals aggregated to polygons (U.S. counties by default): exact area weights, FIPS-keyed tables.

Public API: `zonal_table`, `zonal_stats`, `write_table`, `read_polygons`, `load_counties`, `compute_weights`,
`cached_weights`, `apply_weights`, `make_grid`, `ZonalError`. See docs/zonal.md.
"""

from __future__ import annotations

from climnorm.zonal.apply import ZonalValues, apply_weights
from climnorm.zonal.cache import cached_weights
from climnorm.zonal.counties import county_file, load_counties
from climnorm.zonal.errors import ZonalError
from climnorm.zonal.export import write_table
from climnorm.zonal.grid import Grid, make_grid
from climnorm.zonal.polygons import PolygonSet, read_polygons
from climnorm.zonal.table import ZonalResult, zonal_stats, zonal_table
from climnorm.zonal.weights import Weights, compute_weights

__all__ = [
    "Grid",
    "PolygonSet",
    "Weights",
    "ZonalError",
    "ZonalResult",
    "ZonalValues",
    "apply_weights",
    "cached_weights",
    "compute_weights",
    "county_file",
    "load_counties",
    "make_grid",
    "read_polygons",
    "write_table",
    "zonal_stats",
    "zonal_table",
]
