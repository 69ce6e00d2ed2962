"""The run configuration: a YAML file validated into a pydantic model before any work starts."""

from __future__ import annotations

import dataclasses
import difflib
import os
import string
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from climnorm.config.changes import Changes
from climnorm.config.file import ConfigFile, read_config_file
from climnorm.config.indicators import IndicatorEntry, IndicatorSection, indicators_specs
from climnorm.config.rules import cross_field_problems
from climnorm.config.sections import (
    UNION_TAGS,
    Completeness,
    CompletenessLimits,
    Compression,
    Ensemble,
    RegionBox,
    SmoothingSection,
    Strict,
    completeness_rule,
    listed_twice,
    statistic_names,
)
from climnorm.config.zonal import BASE_DIR, ZonalSection, ZonalTable
from climnorm.errors import ConfigError
from climnorm.products import ProductSettings, ProductSpec, product, product_names
from climnorm.regions import ALL_REGION, BUILTIN_REGIONS
from climnorm.storage.options import StorageOptions
from climnorm.storage.urls import is_s3_url
from climnorm.types import HISTORICAL, Region, T_LeapDay, T_LonConvention

DEFAULT_OUTPUT_TEMPLATE = (
    "{variable}/{region}/{scenario}/{variable}_{region}_{scenario}_{period}_{target}_{window}yr_normal.nc"
)
#: The default path when a run has several members (``{variant}`` is added when a model has several).
MEMBERS_OUTPUT_TEMPLATE = (
    "{model}/{variable}/{region}/{scenario}/{variable}_{model}_{region}_{scenario}_{period}_{target}_{window}yr"
    "_normal.nc"
)
#: ... and when one of its models has several variants.
MEMBER_VARIANTS_TEMPLATE = (
    "{model}/{variant}/{variable}/{region}/{scenario}/"
    "{variable}_{model}_{variant}_{region}_{scenario}_{period}_{target}_{window}yr_normal.nc"
)
#: Where ensemble outputs go when the output template is one of the defaults.
ENSEMBLE_OUTPUT_TEMPLATE = (
    "ensemble/{variable}/{region}/{scenario}/{variable}_ensemble_{region}_{scenario}_{period}_{target}_{window}yr"
    "_normal.nc"
)
TEMPLATE_FIELDS = frozenset({"variable", "region", "scenario", "period", "target", "window", "model", "variant"})
_SKIP_RULES = "climnorm: skip the cross-field rules"


def _region_kind(value: Any) -> str:
    return "key" if isinstance(value, str) else "box"


RegionSpec = Annotated[
    Annotated[str, Tag("key")] | Annotated[RegionBox, Tag("box")],
    Discriminator(_region_kind),
]


def _input_root(value: Any) -> Any:
    """An `s3://bucket/prefix` stays a URL; anything else is a local path."""
    return value if is_s3_url(value) or not isinstance(value, str) else Path(value)


InputRoot = Annotated[Path | str, BeforeValidator(_input_root)]


def _known_product(value: str) -> str:
    """A product of the registry (`climnorm.products`)."""
    names = product_names()
    if value not in names:
        listed = ", ".join(repr(n) for n in names[:-1]) + f" or {names[-1]!r}" if len(names) > 1 else repr(names[0])
        raise ValueError(f"Input should be {listed}")
    return value


ProductName = Annotated[str, AfterValidator(_known_product)]
_SECRET_KEYS = ("key", "secret", "session_token")
_SECRET_HOLDERS = ("storage_options", "output_storage_options")


def default_workers() -> int:
    """The cores this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _reducer_threads() -> int:
    return min(4, default_workers())


class Config(Strict):
    """Everything a run needs; the seed's keys keep their meaning, the rest are climnorm's.

    ``scratch_dir`` (default: ``output_dir``) holds the window's yearly fields on disk while a run needs them,
    beyond the first ``window_memory_gb`` of them, which stay in memory (default: a quarter of the memory
    available when the run starts; 0 parks every year on disk).
    ``fast_read`` (default on) reads deflate/shuffle-compressed float variables through ``climnorm.read.fastread``
    (bit-identical to netCDF4, several times faster), with ``fast_read_threads`` threads inflating chunks (default:
    the cores each worker process has to itself, at most 2: one when the workers fill the machine, where more
    threads only contend; :meth:`inflate_threads`).
    ``reduce_threads`` threads of the main process share out the window sums' blocks of day slots (results are
    the same to the bit for any number).
    """

    input_dirs: Annotated[list[InputRoot], Field(min_length=1)]  # local directories and s3:// prefixes
    storage_options: dict[str, Any] | None = Field(default=None, repr=False)  # docs/storage.md
    output_dir: InputRoot = Path("output")  # a local directory or an s3:// prefix (docs/storage.md)
    output_storage_options: dict[str, Any] | None = Field(default=None, repr=False)  # default: storage_options
    state_dir: Path | None = None  # outputs on object storage: the lock, logs, scratch and manifest, locally
    scratch_dir: Path | None = None
    window_memory_gb: Annotated[float, Field(ge=0)] | None = None
    model: str | None = None
    models: str | Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = None
    variant: str | None = None
    variants: str | Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = None
    ensemble: Ensemble | None = None
    variables: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = [
        "pr",
        "tas",
        "tasmax",
        "tasmin",
    ]
    regions: Annotated[list[RegionSpec], Field(min_length=1)] = list(BUILTIN_REGIONS)
    scenarios: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = [
        HISTORICAL,
        "ssp245",
        "ssp585",
    ]
    window_years: Annotated[int, Field(strict=True, ge=1, le=500)] = 30
    min_years_for_normal: Annotated[int, Field(strict=True, ge=1)] = 25
    historical_end: Annotated[int, Field(strict=True)] = 2014
    periods: dict[str, tuple[int, int]] = {
        "historical": (1980, 2014),
        "hybrid": (2015, 2044),
        "future": (2045, 2100),
    }
    data_years: tuple[int, int] | None = None
    leap_day: T_LeapDay = "calendar_day"
    engine: Literal["local", "dask"] = "local"
    scheduler_address: str | None = None
    multiprocessing_workers: Annotated[int, Field(strict=True, ge=1)] = Field(default_factory=default_workers)
    cores_per_variable: Annotated[int, Field(strict=True, ge=1)] | None = None
    batch_size_years: Annotated[int, Field(strict=True, ge=1)] = 1
    max_memory_per_worker_gb: Annotated[float, Field(gt=0)] = 6.0
    compression: Compression = Compression()
    output_template: str = DEFAULT_OUTPUT_TEMPLATE
    output_layout: Literal["files", "zarr"] = "files"  # zarr: one store per chain and product (docs/normals.md)
    lon_convention: T_LonConvention = "input"
    mask_impossible: bool = False
    fast_read: Annotated[bool, Field(strict=True)] = True
    fast_read_threads: Annotated[int, Field(strict=True, ge=1, le=64)] | None = None
    reduce_threads: Annotated[int, Field(strict=True, ge=1, le=64)] = Field(default_factory=_reducer_threads)
    zonal: ZonalSection = []  # tables per polygon (county) written at the end of a run: climnorm.config.zonal
    products: Annotated[list[ProductName], Field(min_length=1)] = ["daily"]  # docs/normals.md, climnorm.products
    monthly_completeness: Completeness = "wmo"
    smoothing: SmoothingSection = SmoothingSection()
    indicators: IndicatorSection = []  # docs/indicators.md, climnorm.config.indicators
    window_statistics: Annotated[list[str], AfterValidator(statistic_names), Field(min_length=1)] = ["mean"]
    changes: Changes | None = None  # every normal against its baseline: climnorm.config.changes

    def product_specs(self) -> tuple[ProductSpec, ...]:
        """The run's products: those ``products`` names, then one per indicator (each chain has those of them
        that apply to its variable)."""
        return tuple(product(name) for name in self.products) + indicators_specs(self.indicators)

    def product_settings(self) -> ProductSettings:
        """What the products' values depend on in this configuration (`climnorm.products.ProductSettings`)."""
        rule = self.monthly_completeness
        return ProductSettings(
            smoothing=self.smoothing.rule(),
            completeness=completeness_rule(rule),
            smoothing_config=self.smoothing.model_dump(),
            completeness_config=rule if isinstance(rule, str) else rule.model_dump(),
            window_statistics=tuple(s for s in self.window_statistics if s != "mean"),
        )

    def inflate_threads(self) -> int:
        """Threads each read inflates its chunks on: ``fast_read_threads``, or the default above."""
        if self.fast_read_threads is not None:
            return self.fast_read_threads
        return max(1, min(2, default_workers() // self.multiprocessing_workers))

    @field_validator("storage_options", "output_storage_options")
    @classmethod
    def _storage(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                StorageOptions.from_config(value, environ={})  # keys and kinds; names keys, never values
            except ConfigError as err:
                raise ValueError(str(err)) from None
        return value

    @field_validator("models", "variants", mode="before")
    @classmethod
    def _keyword(cls, value: Any, info: ValidationInfo) -> Any:
        allowed = ("all",) if info.field_name == "models" else ("first", "all")
        if isinstance(value, str) and value not in allowed:
            one = "model" if info.field_name == "models" else "variant"
            raise ValueError(f"expected {' or '.join(map(repr, allowed))} or a list (for a single one use {one}:)")
        return value

    @field_validator("variables", "scenarios", "models", "variants", "products")
    @classmethod
    def _unique(cls, value: list[str] | str | None) -> list[str] | str | None:
        if isinstance(value, list) and (dupes := listed_twice(value)):
            raise ValueError(f"listed more than once: {dupes}")
        return value

    @field_validator("regions")
    @classmethod
    def _known_regions(cls, value: list[str | RegionBox]) -> list[str | RegionBox]:
        names: list[str] = []
        for item in value:
            if isinstance(item, str):
                if item not in BUILTIN_REGIONS and item != ALL_REGION.key:
                    hint = _closest(item, BUILTIN_REGIONS)
                    raise ValueError(
                        f"unknown region {item!r}{hint}; built-in regions are {', '.join(BUILTIN_REGIONS)} and "
                        "'all' (the whole input domain), "
                        "or give a box with name, lat_min, lat_max, lon_min, lon_max"
                    )
                names.append(item)
            else:
                names.append(item.name)
        if dupes := listed_twice(names):
            raise ValueError(f"region names must be unique: {dupes} given twice")
        return value

    @field_validator("periods")
    @classmethod
    def _periods(cls, value: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        if not value:
            raise ValueError("at least one period is needed, e.g. historical: [1980, 2014]")
        for name, (start, end) in value.items():
            if start > end:
                raise ValueError(f"period {name!r} starts after it ends ({start} > {end})")
        return value

    @field_validator("output_template")
    @classmethod
    def _template(cls, value: str) -> str:
        fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        unknown = sorted(fields - TEMPLATE_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
                f"allowed: {', '.join('{' + f + '}' for f in sorted(TEMPLATE_FIELDS))}"
            )
        needed = {"variable", "region", "scenario", "period", "target"}
        if not needed <= fields:
            missing = ", ".join("{" + f + "}" for f in sorted(needed - fields))
            raise ValueError(f"must contain {missing} so that every output gets its own file")
        if value.startswith("/") or ".." in Path(value).parts:
            raise ValueError("must be a path relative to output_dir, without '..'")
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Config:
        if info.context is not None and info.context.get(_SKIP_RULES):
            return self
        problems = cross_field_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def region_objects(self) -> list[Region]:
        return [
            (ALL_REGION if r == ALL_REGION.key else BUILTIN_REGIONS[r]) if isinstance(r, str) else r.to_region()
            for r in self.regions
        ]

    @property
    def remote_inputs(self) -> bool:
        """Whether some input root is an `s3://` prefix."""
        return any(isinstance(root, str) for root in self.input_dirs)

    def storage(self) -> StorageOptions:
        """How to reach the object store: `storage_options`, then the `AWS_*` environment and profiles."""
        return StorageOptions.from_config(self.storage_options)

    @property
    def remote_outputs(self) -> bool:
        """Whether ``output_dir`` is an `s3://` prefix."""
        return isinstance(self.output_dir, str)

    def output_storage(self) -> StorageOptions | None:
        """How to reach the outputs' bucket (``output_storage_options``, else ``storage_options``); None for a
        local output directory. Outputs are never written anonymously: the credentials must be found."""
        if not self.remote_outputs:
            return None
        given = dict(self.storage_options or {}) if self.output_storage_options is None else self.output_storage_options
        return dataclasses.replace(StorageOptions.from_config({**given, "anon": None}), anon=False)

    @property
    def state_path(self) -> Path:
        """Where the run's lock, logs and manifest are: the output directory, or ``state_dir`` when the outputs
        are on object storage (what cannot live in a bucket)."""
        if isinstance(self.output_dir, str):
            assert self.state_dir is not None  # a rule of the config
            return self.state_dir
        return self.output_dir

    def to_yaml(self) -> str:
        """The effective configuration, defaults filled in, as YAML (storage secrets redacted)."""
        data = self.model_dump(mode="json")
        for options in _SECRET_HOLDERS:
            if data.get(options):
                data[options] = {k: "<redacted>" if k in _SECRET_KEYS and v else v for k, v in data[options].items()}
        data["periods"] = {k: list(v) for k, v in self.periods.items()}
        return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


def _closest(word: str, choices: Any) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _format_errors(err: ValidationError, source: str, data: dict[str, Any]) -> str:
    lines = [f"{source}: invalid configuration"]
    fields = list(Config.model_fields)
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if p not in UNION_TAGS)
        value = e.get("input")
        if e["type"] == "extra_forbidden":
            key = str(e["loc"][-1])
            pool = fields if len(e["loc"]) == 1 else _nested_fields(e["loc"])
            lines.append(f"  unknown key {loc!r}{_closest(key, pool)}; allowed keys: {', '.join(pool)}")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        if e["loc"] and e["loc"][0] in _SECRET_HOLDERS:  # it may hold a secret: never echoed
            lines.append(f"  {loc}: {msg}")
            continue
        lines.append(f"  {loc}: {msg} (got {_short(value)})" if loc else f"  {msg}")
    lines += [f"  {p}" for p in _problems_between_valid_fields(err, data)]
    return "\n".join(lines)


def _problems_between_valid_fields(err: ValidationError, data: dict[str, Any]) -> list[str]:
    """The cross-field problems among the fields that are valid, so that a user sees them with the field errors
    (one round of fixes, not two)."""
    failing = frozenset(str(e["loc"][0]) for e in err.errors() if e["loc"])
    if not failing:
        return []  # the error is the cross-field one itself, already listed
    valid = {k: v for k, v in data.items() if k not in failing}
    if "input_dirs" in failing:
        valid["input_dirs"] = ["."]  # required: any valid value, no rule reads it
    try:
        config = Config.model_validate(valid, context={_SKIP_RULES: True})
    except ValidationError:
        return []
    return cross_field_problems(config, skip=failing)


def _nested_fields(loc: tuple[Any, ...]) -> list[str]:
    if loc and loc[0] == "compression":
        return list(Compression.model_fields)
    if loc and loc[0] == "regions":
        return list(RegionBox.model_fields)
    if loc and loc[0] == "ensemble":
        return list(Ensemble.model_fields)
    if loc and loc[0] == "zonal":
        return list(ZonalTable.model_fields)
    if loc and loc[0] == "smoothing":
        return list(SmoothingSection.model_fields)
    if loc and loc[0] == "indicators":
        return list(IndicatorEntry.model_fields)
    if loc and loc[0] == "monthly_completeness":
        return list(CompletenessLimits.model_fields)
    return list(Config.model_fields)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_config(data: dict[str, Any], *, base_dir: Path | None = None, source: str = "config") -> Config:
    """Validate a mapping into a Config; relative paths are taken relative to ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of keys to values, not {type(data).__name__}")
    try:
        config = Config.model_validate(data, context={BASE_DIR: base_dir})
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source, data)) from None
    if base_dir is not None:
        config = config.model_copy(
            update={
                "input_dirs": [_resolve(p, base_dir) for p in config.input_dirs],
                "output_dir": _resolve(config.output_dir, base_dir),
                "scratch_dir": None if config.scratch_dir is None else Path(_resolve(config.scratch_dir, base_dir)),
                "state_dir": None if config.state_dir is None else Path(_resolve(config.state_dir, base_dir)),
            }
        )
    return config


def _resolve(path: Path | str, base: Path) -> Path | str:
    if isinstance(path, str):
        return path  # an s3:// URL
    path = path.expanduser()
    return path if path.is_absolute() else Path(os.path.normpath(base / path))


def load_config(path: Path | str, **overrides: Any) -> Config:
    """Read a YAML config file; relative paths in it are relative to the file's folder."""
    return parse_config_file(read_config_file(path, **overrides))


def parse_config_file(file: ConfigFile) -> Config:
    """Validate a configuration file's data (:func:`climnorm.config.file.read_config_file`)."""
    return parse_config(file.data, base_dir=file.base_dir, source=file.source)
