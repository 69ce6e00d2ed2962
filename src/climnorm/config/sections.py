"""The nested sections of the configuration (`climnorm.config.model`): custom regions, compression, the ensemble and
the products' rules, each a strict pydantic model."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

from climnorm.numerics.periods import Completeness as CompletenessRule
from climnorm.numerics.smoothing import Smoothing
from climnorm.types import Region

UNION_TAGS = frozenset({"key", "box", "name", "limits"})
"""The tags of the configuration's unions, left out of the key paths errors name."""

#: Ensemble statistics by name (and pNN: the NN-th percentile, 1 <= NN <= 99).
STATISTICS = ("mean", "median", "min", "max", "std")


class Strict(BaseModel):
    """A section that refuses unknown keys and cannot be changed once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class RegionBox(Strict):
    """A custom region: a lat/lon box, longitudes in either convention (-180..180 or 0..360)."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    long_name: str | None = None
    lat_min: Annotated[float, Field(ge=-90.0, le=90.0)]
    lat_max: Annotated[float, Field(ge=-90.0, le=90.0)]
    lon_min: Annotated[float, Field(ge=-180.0, le=360.0)]
    lon_max: Annotated[float, Field(ge=-180.0, le=360.0)]

    @model_validator(mode="after")
    def _ordered(self) -> RegionBox:
        if self.lat_min > self.lat_max:
            raise ValueError(f"lat_min ({self.lat_min}) is greater than lat_max ({self.lat_max})")
        if self.lon_min == self.lon_max:
            raise ValueError(f"lon_min equals lon_max ({self.lon_min}): the box has no width")
        return self

    def to_region(self) -> Region:
        return Region(self.name, self.long_name or self.name, self.lat_min, self.lat_max, self.lon_min, self.lon_max)


class Compression(Strict):
    """NetCDF compression of the outputs."""

    zlib: bool = True
    complevel: Annotated[int, Field(ge=1, le=9)] = 1
    shuffle: bool = True


class Ensemble(Strict):
    """Multi-model statistics of the members' normals, cell by cell and slot by slot (docs/normals.md)."""

    statistics: Annotated[list[str], Field(min_length=1)] = ["mean", "median", "p10", "p90"]
    min_members: Annotated[int, Field(strict=True, ge=1)] | None = None

    @field_validator("statistics")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return statistic_names(value)


def statistic_names(value: list[str]) -> list[str]:
    """Statistics by name (:data:`STATISTICS` or pNN), each once; ValueError naming the first unknown."""
    for name in value:
        if name not in STATISTICS and not _percentile(name):
            raise ValueError(
                f"unknown statistic {name!r}; choose from {', '.join(STATISTICS)} or pNN (percentile NN, 1-99)"
            )
    if dupes := listed_twice(value):
        raise ValueError(f"listed more than once: {dupes}")
    return value


def _percentile(name: str) -> bool:
    return len(name) in (2, 3) and name[0] == "p" and name[1:].isdigit() and 1 <= int(name[1:]) <= 99


class CompletenessLimits(Strict):
    """When a month of a year is missing: more than ``max_missing`` of its days, or more than ``max_consecutive``
    consecutive ones, are missing (``wmo`` is 10 and 4)."""

    max_missing: Annotated[int, Field(strict=True, ge=0, le=31)]
    max_consecutive: Annotated[int, Field(strict=True, ge=0, le=31)]


def _completeness_kind(value: object) -> str:
    return "name" if isinstance(value, str) else "limits"


Completeness = Annotated[
    Annotated[Literal["wmo", "strict"], Tag("name")] | Annotated[CompletenessLimits, Tag("limits")],
    Discriminator(_completeness_kind),
]
"""``monthly_completeness``: the WMO 11/5 rule, no missing day, or explicit limits (docs/normals.md)."""


def completeness_rule(value: Completeness) -> CompletenessRule:
    """The rule ``monthly_completeness`` names, as `climnorm.products` applies it."""
    if isinstance(value, CompletenessLimits):
        return CompletenessRule(value.max_missing, value.max_consecutive)
    from climnorm.numerics.periods import completeness

    return completeness(value)


class SmoothingSection(Strict):
    """How ``daily_smoothed`` smooths each daily normal: a harmonic fit or a centred running mean."""

    method: Literal["harmonic", "running"] = "harmonic"
    harmonics: Annotated[int, Field(strict=True, ge=1, le=60)] = 3
    days: Annotated[int, Field(strict=True, ge=1, le=181)] = 31

    @model_validator(mode="after")
    def _own_keys(self) -> SmoothingSection:
        other = "days" if self.method == "harmonic" else "harmonics"
        if other in self.model_fields_set:
            raise ValueError(f"{other} is not a parameter of {self.method} smoothing")
        if self.method == "running" and self.days % 2 == 0:
            raise ValueError(f"a centred running mean needs an odd number of days, not {self.days}")
        return self

    @model_serializer(mode="wrap")
    def _own_keys_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """Dumped (``config show``) with the method's own parameter only, so that it reads back as it was."""
        data: dict[str, object] = handler(self)
        data.pop("days" if self.method == "harmonic" else "harmonics", None)
        return data

    def rule(self) -> Smoothing:
        """The smoothing as `climnorm.products` applies it."""
        return Smoothing(self.method, harmonics=self.harmonics, days=self.days)


def listed_twice(names: list[str]) -> str:
    """The names that occur more than once, as text ("" when none does)."""
    return ", ".join(sorted({n for n in names if names.count(n) > 1}))
