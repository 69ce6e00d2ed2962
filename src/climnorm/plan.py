"""The plan: from config and catalog, every normal to compute, the years its window needs and where they come from.

Planning reads no data. It decides which run supplies each window year (historical up to `historical_end`,
the scenario after), which years are missing, which targets cannot be computed, and which outputs are
already up to date in the manifest (resume).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from climnorm._ranges import format_ranges
from climnorm.catalog import Catalog
from climnorm.config import Config
from climnorm.errors import ConfigError
from climnorm.filenames import ChainKey, FileEntry
from climnorm.types import HISTORICAL, Region, Target

log = logging.getLogger(__name__)

OUTPUT_FORMAT = 1  # bump when the output layout changes, so resume recomputes


@dataclass(frozen=True)
class OutputPlan:
    """One output file: a target cut to one region, with the inputs of its window and its up-to-date status."""

    target: Target
    region: Region
    path: str
    inputs: tuple[FileEntry, ...]
    fingerprint: str
    up_to_date: bool


@dataclass
class Stream:
    """The ordered years one rolling window walks through: a variable under one scenario."""

    variable: str
    scenario: str
    targets: list[Target] = field(default_factory=list)


@dataclass
class Plan:
    """Everything a run will do, decided before any data is read."""

    config: Config
    catalog: Catalog
    model: str
    variant: str
    regions: list[Region]
    streams: list[Stream]
    outputs: list[OutputPlan]
    problems: list[str]

    def chain(self, variable: str, scenario: str) -> ChainKey:
        return ChainKey(self.model, self.variant, variable, scenario)

    def source_scenario(self, scenario: str, year: int) -> str:
        """The run a window year comes from: historical up to `historical_end`, the scenario's own after."""
        return HISTORICAL if year <= self.config.historical_end or scenario == HISTORICAL else scenario

    def files_for(self, variable: str, scenario: str, year: int) -> list[FileEntry]:
        chain = self.catalog.chains.get(self.chain(variable, self.source_scenario(scenario, year)))
        return chain.files_for_year(year) if chain else []

    def window_inputs(self, target: Target, years: tuple[int, ...] | list[int]) -> list[FileEntry]:
        """The input files of the given window years, in year order, each once."""
        inputs: dict[Path, FileEntry] = {}
        for y in years:
            for entry in self.files_for(target.variable, target.scenario, y):
                inputs.setdefault(entry.path, entry)
        return list(inputs.values())

    @property
    def pending(self) -> list[OutputPlan]:
        return [o for o in self.outputs if o.target.computable and not o.up_to_date]

    def summary_rows(self) -> list[PlanRow]:
        """Counts per variable × region × scenario × period, for `climnorm plan`."""
        counts: Counter[tuple[str, str, str, str, str]] = Counter()
        for out in self.outputs:
            t = out.target
            state = "skip" if not t.computable else ("done" if out.up_to_date else "todo")
            counts[(t.variable, out.region.key, t.scenario, t.period, state)] += 1
        groups = sorted({k[:4] for k in counts})
        return [PlanRow(*g, counts[(*g, "todo")], counts[(*g, "done")], counts[(*g, "skip")]) for g in groups]


@dataclass(frozen=True)
class PlanRow:
    """How many normals of one variable × region × scenario × period are to compute, up to date, impossible."""

    variable: str
    region: str
    scenario: str
    period: str
    todo: int
    done: int
    skip: int


def _pick(kind: str, wanted: str | None, found: set[str], key: str) -> str:
    if wanted is not None:
        if wanted not in found:
            raise ConfigError(
                f"{key}: {wanted!r} has no files in the input directories "
                f"(found: {', '.join(sorted(found)) or 'nothing'})"
            )
        return wanted
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise ConfigError(
            "no input files for the requested variables and scenarios; check input_dirs (`climnorm catalog` lists "
            "what is there)"
        )
    raise ConfigError(f"the archive holds several {kind}s ({', '.join(sorted(found))}); choose one with `{key}:`")


T_Records = Mapping[str, Mapping[str, Any]]
"""A previous run's manifest records, by output path."""


def make_plan(config: Config, catalog: Catalog, previous: T_Records | None = None) -> Plan:
    """Build the plan; ``previous`` (a manifest's records) marks outputs that are already up to date."""
    runs = set(config.scenarios) | {HISTORICAL}
    keys = [k for k in catalog.chains if k.variable in config.variables and k.scenario in runs]
    model = _pick("model", config.model, {k.model for k in keys}, "model")
    variant = _pick("variant", config.variant, {k.variant for k in keys if k.model == model}, "variant")
    plan = Plan(config, catalog, model, variant, config.region_objects, [], [], [])
    _chain_problems(plan, [k for k in keys if (k.model, k.variant) == (model, variant)])
    for variable in config.variables:
        for scenario in config.scenarios:
            if not any(k.variable == variable and k.scenario == scenario for k in keys):
                plan.problems.append(f"{variable}/{scenario}: no input files for model {model} {variant}")
            stream = _stream(plan, variable, scenario)
            if stream.targets:
                plan.streams.append(stream)
    for stream in plan.streams:
        for target in stream.targets:
            if not target.computable:
                plan.problems.append(
                    f"{target.variable} {target.scenario} {target.period} {target.year}: cannot be computed: "
                    f"{target.reason}"
                )
            for region in plan.regions:
                plan.outputs.append(_output(plan, target, region, previous or {}))
    return plan


def _chain_problems(plan: Plan, keys: list[ChainKey]) -> None:
    """What the chains of the run say about themselves: duplicates (refused), shadowed versions, unknown names."""
    for key in keys:
        chain = plan.catalog.chains[key]
        for a, b in chain.duplicates:
            plan.problems.append(
                f"{a.path} and {b.path} cover the same days with the same version: years "
                f"{format_ranges(sorted(set(a.years) & set(b.years)))} refused (never averaged)"
            )
        for old, new in chain.shadowed:
            log.info("%s is shadowed by the newer version %s", old.path, new.path.name)
    if plan.catalog.unparsed:
        log.warning(
            "%d file(s) under the input directories have names climnorm does not recognise and are not used "
            "(`climnorm catalog` lists them with the reason)",
            len(plan.catalog.unparsed),
        )


def _stream(plan: Plan, variable: str, scenario: str) -> Stream:
    """The targets of one variable under one scenario, in year order (targets up to `historical_end` belong to
    the historical scenario, later ones to each future scenario)."""
    config = plan.config
    stream = Stream(variable, scenario)
    for period, (first, last) in config.periods.items():
        for year in range(first, last + 1):
            if (year <= config.historical_end) == (scenario == HISTORICAL):
                stream.targets.append(_target(plan, variable, scenario, period, year))
    stream.targets.sort(key=lambda t: t.year)
    return stream


def _target(plan: Plan, variable: str, scenario: str, period: str, year: int) -> Target:
    config = plan.config
    window = tuple(range(year - config.window_years + 1, year + 1))
    available: list[int] = []
    for y in window:
        chain = plan.catalog.chains.get(plan.chain(variable, plan.source_scenario(scenario, y)))
        if chain is not None and y in set(chain.complete_years):
            available.append(y)
    missing = tuple(y for y in window if y not in available)
    return Target(variable, scenario, period, year, window, tuple(available), missing, config.min_years_for_normal)


def output_fingerprint(config: Config, plan_model: str, variant: str, region: Region) -> str:
    """Digest of every configuration field that shapes one output's content."""
    shaping = {
        "format": OUTPUT_FORMAT,
        "model": plan_model,
        "variant": variant,
        "region": region.as_dict(),
        "window_years": config.window_years,
        "min_years_for_normal": config.min_years_for_normal,
        "historical_end": config.historical_end,
        "leap_day": config.leap_day,
        "lon_convention": config.lon_convention,
        "compression": config.compression.model_dump(),
    }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


def output_path(config: Config, target: Target, region: Region, model: str) -> str:
    return config.output_template.format(
        variable=target.variable,
        region=region.key,
        scenario=target.scenario,
        period=target.period,
        target=target.year,
        window=config.window_years,
        model=model,
    )


def _output(plan: Plan, target: Target, region: Region, previous: T_Records) -> OutputPlan:
    inputs = plan.window_inputs(target, target.available)
    path = output_path(plan.config, target, region, plan.model)
    fingerprint = output_fingerprint(plan.config, plan.model, plan.variant, region)
    record = previous.get(path)
    up_to_date = (
        record is not None
        and record.get("fingerprint") == fingerprint
        and record.get("inputs") == [e.record for e in inputs]
        and _file_matches(plan.config.output_dir / path, record)
    )
    return OutputPlan(target, region, path, tuple(inputs), fingerprint, up_to_date)


def _file_matches(path: Path, record: Mapping[str, Any]) -> bool:
    try:
        return path.stat().st_size == record.get("size")
    except OSError:
        return False
