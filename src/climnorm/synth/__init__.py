"""Synthetic NEX-GDDP-CMIP6-style archives whose every value has a closed form, so tests know the truth, and the
embedded demo made from one.

Each file holds one year of one daily variable on a regular grid, laid out and encoded like the real archive
(`archive`); its values are :func:`closed_form` of (variable, year, day fraction, lat, lon) (`values`), on the
grid and time axes of its :class:`SynthSpec` (`spec`). The spec's ``style`` picks the values: ``closed_form``
(simple, what tests and golden records use) or ``us_normals`` (normals like the observed U.S. ones: `us_normals`,
from the stations of `stations` placed by `geography`; the demo's).
"""

from climnorm.synth.archive import (
    ArchiveFile,
    ProgressCallback,
    archive_plan,
    file_name,
    file_path,
    write_archive,
    write_year,
)
from climnorm.synth.spec import (
    CALENDARS,
    FILL_VALUE,
    HOLE_FILL,
    HOLE_NAN,
    HOLE_NAN_SHARE,
    HOLE_VALID,
    LAYOUTS,
    STYLES,
    VARIABLE_ATTRS,
    VARIABLES,
    VERSION_CHANGES,
    VERSIONS,
    SynthSpec,
    day_fraction,
    days_in_year,
    grid,
    scenario_years,
    time_axis,
)
from climnorm.synth.values import closed_form, expected_value, hole_codes

__all__ = [
    "CALENDARS",
    "FILL_VALUE",
    "HOLE_FILL",
    "HOLE_NAN",
    "HOLE_NAN_SHARE",
    "HOLE_VALID",
    "LAYOUTS",
    "STYLES",
    "VARIABLES",
    "VARIABLE_ATTRS",
    "VERSIONS",
    "VERSION_CHANGES",
    "ArchiveFile",
    "ProgressCallback",
    "SynthSpec",
    "archive_plan",
    "closed_form",
    "day_fraction",
    "days_in_year",
    "expected_value",
    "file_name",
    "file_path",
    "grid",
    "hole_codes",
    "scenario_years",
    "time_axis",
    "write_archive",
    "write_year",
]
