"""Climate normals aggregated to polygons (U.S. counties by default): exact area weights, FIPS-keyed tables.

Public API: `zonal_table`, `zonal_stats`, `write_zonal_table`, `write_table`, `read_polygons`, `load_counties`,
`compute_weights`, `cached_weights`, `apply_weights`, `make_grid`, `ZonalError`. See docs/zonal.md.

Importing this package without the ``zonal`` extra raises `ZonalExtraMissing` (a `ZonalError` and an
`ImportError`) whose message says what to install.
"""

from __future__ import annotations

from climnorm._extras import install_hint, missing_extra_message
from climnorm.errors import ZonalError, ZonalExtraMissing

ZONAL_EXTRA_HINT = install_hint("zonal")
if _missing := missing_extra_message("zonal", "polygon tables"):
    raise ZonalExtraMissing(_missing)

from climnorm.zonal.apply import ZonalValues, apply_weights  # noqa: E402
from climnorm.zonal.cache import cached_weights  # noqa: E402
from climnorm.zonal.counties import county_file, load_counties  # noqa: E402
from climnorm.zonal.export import TableWritten, write_table, write_zonal_table  # noqa: E402
from climnorm.zonal.grid import Grid, make_grid  # noqa: E402
from climnorm.zonal.polygons import PolygonSet, read_polygons  # noqa: E402
from climnorm.zonal.table import ZonalResult, zonal_stats, zonal_table  # noqa: E402
from climnorm.zonal.weights import Weights, compute_weights  # noqa: E402

__all__ = [
    "ZONAL_EXTRA_HINT",
    "Grid",
    "PolygonSet",
    "TableWritten",
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
    "write_zonal_table",
    "zonal_stats",
    "zonal_table",
]
