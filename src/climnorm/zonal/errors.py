"""The one exception the zonal package raises on purpose; its message names the file or grid at fault."""

from __future__ import annotations

from climnorm.errors import ClimnormError


class ZonalError(ClimnormError):
    """Polygons, a grid or an output cannot be aggregated; the message says which and why, in one line."""
