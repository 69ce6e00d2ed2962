"""The outputs of a plan: one per member, target, region and product (:class:`OutputPlan`) or per ensemble target,
region and product (:class:`EnsemblePlan`), and the changes of member outputs against their baseline
(:class:`ChangePlan`); their paths and the fingerprint resume compares."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from climnorm.catalog.filenames import FileEntry
from climnorm.config.changes import ChangeKind
from climnorm.config.model import Config
from climnorm.products import ProductSpec, product
from climnorm.products.normals import DAILY
from climnorm.records import ENSEMBLE
from climnorm.types import Member, Region, Target

OUTPUT_FORMAT = 1  # bump when the output layout changes, so resume recomputes
ENSEMBLE_FORMAT = 2  # 2: percentiles as CF cell methods (docs/normals.md); 1: "realization: percentile"


class _Output:
    """What names an output in messages and events (its ``key``, then its product where paths name it), and its
    product's spec."""

    spec: ProductSpec

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        raise NotImplementedError

    @property
    def label(self) -> str:
        return output_label(self.key, self.spec)

    @property
    def product(self) -> str:
        return self.spec.name


@dataclass(slots=True, unsafe_hash=True)
class OutputPlan(_Output):
    """One output file: a product of a target cut to one region, with the years it reads, their inputs and its
    up-to-date status. ``reads`` are the window's available years, and for a product that uses the year before the
    window (the seasonal one: its December begins the first DJF) that year too when the archive has it.

    Never changed once made, though not frozen: a frozen dataclass sets each field through ``object.__setattr__``,
    which for the ~745,000 a plan of the whole ensemble makes costs 0.45 s (hashed as a frozen one is)."""

    target: Target
    region: Region
    path: str
    inputs: tuple[FileEntry, ...]
    fingerprint: str
    up_to_date: bool
    spec: ProductSpec
    reads: tuple[int, ...]
    blocked: str = ""  # why it cannot be computed though its target can (its base period is incomplete)
    checksum: str | None = None  # the recorded data checksum of an up-to-date output

    @property
    def computable(self) -> bool:
        return self.target.computable and not self.blocked

    @property
    def member_label(self) -> str:
        return self.target.member.label

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        """(variable, region, scenario, period, target year): what names the output in messages and events."""
        t = self.target
        return (t.variable, self.region.key, t.scenario, t.period, t.year)


@dataclass(frozen=True)
class EnsemblePlan(_Output):
    """One ensemble output: a target and region of every member that has it."""

    variable: str
    region: Region
    scenario: str
    period: str
    year: int
    members: tuple[OutputPlan, ...] | tuple[ChangePlan, ...]  # the members' normals, or their changes
    path: str
    fingerprint: str
    spec: ProductSpec = DAILY
    up_to_date: bool = False  # its members will all be kept, and it was made of them as they are
    member_label = ENSEMBLE

    @property
    def of_changes(self) -> bool:
        """An ensemble of the members' changes (its statistics, agreement and robustness)."""
        return bool(self.members) and isinstance(self.members[0], ChangePlan)

    @property
    def product(self) -> str:
        return f"{self.spec.name} change" if self.of_changes else self.spec.name

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        return (self.variable, self.region.key, self.scenario, self.period, self.year)


@dataclass(frozen=True)
class ChangePlan(_Output):
    """One member output's change against the same member's, region's and product's normal of the baseline window
    (``baseline``), written beside it (``…_change.nc``)."""

    output: OutputPlan
    baseline: OutputPlan
    path: str
    fingerprint: str
    kind: ChangeKind
    spec: ProductSpec = DAILY
    up_to_date: bool = False

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        return self.output.key

    @property
    def member_label(self) -> str:
        return self.output.member_label

    @property
    def computable(self) -> bool:
        return self.output.computable and self.baseline.computable

    @property
    def product(self) -> str:
        return f"{self.spec.name} change"

    @property
    def region(self) -> Region:
        return self.output.region


def output_label(key: tuple[str, str, str, str, int], spec: ProductSpec | str) -> str:
    """How messages name an output: "tas CONUS ssp245 hybrid 2016", and its product where paths name it."""
    return " ".join(map(str, key)) + (product(spec) if isinstance(spec, str) else spec).label()


T_Output = OutputPlan | EnsemblePlan | ChangePlan
"""An output of the run: one member's normal, the ensemble's, or a member's change."""


def output_fingerprint(config: Config, member: Member, region: Region, spec: ProductSpec = DAILY) -> str:
    """Digest of every configuration field that shapes one output's content: what shapes every output, and the
    product's name and own fields where it has them (a daily normal's digest is as it was before products)."""
    shaping: dict[str, Any] = {
        "format": OUTPUT_FORMAT,
        "model": member.model,
        "variant": member.variant,
        "region": region.as_dict(),
        "window_years": config.window_years,
        "min_years_for_normal": config.min_years_for_normal,
        "historical_end": config.historical_end,
        "leap_day": config.leap_day,
        "lon_convention": config.lon_convention,
        "compression": config.compression.model_dump(),
    }
    if spec.named:
        shaping["product"] = spec.name
    if spec.version > 1:
        shaping["product_version"] = spec.version
    settings = config.product_settings()
    if extras := spec.window_extras(settings):
        shaping["window_statistics"] = list(extras)
    shaping.update(spec.fingerprint(settings))
    return digest(shaping)


def digest(shaping: dict[str, Any]) -> str:
    """A short digest of JSON-able settings."""
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


def chain_template(template: str) -> str:
    """The output template of a chain's store (the ``zarr`` layout): its file name without the target year and
    period, which the store's ``target_year`` dimension holds."""
    folder, slash, name = template.rpartition("/")
    for field in ("{period}", "{target}"):
        name = name.replace(f"_{field}", "").replace(f"{field}_", "").replace(field, "")
    return folder + slash + name


def output_path(template: str, config: Config, target: Target, region: Region, member: Member) -> str:
    return template.format(
        variable=target.variable,
        region=region.key,
        scenario=target.scenario,
        period=target.period,
        target=target.year,
        window=config.window_years,
        model=member.model,
        variant=member.variant,
    )
