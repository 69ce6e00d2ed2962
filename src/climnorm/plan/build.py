"""The plan: from config and catalog, every normal to compute, the years its window needs and where they come from.

Planning reads no data. It chooses the members (`climnorm.plan.members`), decides which run supplies each window
year (historical up to `historical_end`, the scenario after), which years are missing, which targets cannot be
computed, which outputs are already up to date in the manifest (resume), and which ensemble outputs combine
which member outputs.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from climnorm._ranges import format_ranges
from climnorm.catalog.filenames import ChainKey, FileEntry, InputPath
from climnorm.catalog.scan import Catalog, gc_paused
from climnorm.config.model import (
    DEFAULT_OUTPUT_TEMPLATE,
    MEMBER_VARIANTS_TEMPLATE,
    MEMBERS_OUTPUT_TEMPLATE,
    Config,
)
from climnorm.errors import ConfigError
from climnorm.plan.changes import BASELINE_PERIOD, baseline_extras, baseline_scenario, baseline_year, change_plans
from climnorm.plan.ensembles import ensemble_plans
from climnorm.plan.members import Coverage, select_members
from climnorm.plan.notices import Skip, grouped, unavailable
from climnorm.plan.planned import (
    ChangePlan,
    EnsemblePlan,
    OutputPlan,
    T_Output,
    chain_template,
    digest,
    output_fingerprint,
    output_path,
)
from climnorm.plan.resume import LocalFolders, Present, ResumeCheck, T_Records
from climnorm.products import ProductSettings, ProductSpec, product_paths
from climnorm.records import target_in_store
from climnorm.storage.options import StorageOptions
from climnorm.types import HISTORICAL, Member, Region, Target

log = logging.getLogger(__name__)


@dataclass
class Stream:
    """The ordered years one rolling window walks through: a member's variable under one scenario."""

    member: Member
    variable: str
    scenario: str
    targets: list[Target] = field(default_factory=list)


@dataclass
class Plan:
    """Everything a run will do, decided before any data is read."""

    config: Config
    catalog: Catalog
    members: list[Member]
    coverage: Coverage
    regions: list[Region]
    streams: list[Stream] = field(default_factory=list)
    outputs: list[OutputPlan] = field(default_factory=list)
    ensembles: list[EnsemblePlan] = field(default_factory=list)
    changes: list[ChangePlan] = field(default_factory=list)  # member outputs against their baseline's
    problems: list[str] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)  # outputs that cannot be computed, and why
    template: str = DEFAULT_OUTPUT_TEMPLATE
    storage: StorageOptions | None = None  # how workers reach the s3:// inputs (None: all inputs are local)
    _fingerprints: dict[tuple[Member, str, str], str] = field(default_factory=dict, repr=False)
    _inputs: dict[tuple[Any, ...], tuple[FileEntry, ...]] = field(default_factory=dict, repr=False)
    _files: dict[tuple[Member, str, str, int], list[FileEntry]] = field(default_factory=dict, repr=False)
    _complete: dict[tuple[Member, str, str], frozenset[int]] = field(default_factory=dict, repr=False)
    _store_years: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    _streams: dict[tuple[Member, str, str], tuple[dict[int, list[FileEntry]], bool]] = field(
        default_factory=dict, repr=False
    )
    resume: ResumeCheck = field(  # make_plan sets it
        default_factory=lambda: ResumeCheck({}, LocalFolders(Path())), repr=False
    )

    @functools.cached_property
    def settings(self) -> ProductSettings:
        """What the products' values depend on in the run's configuration."""
        return self.config.product_settings()

    def source_scenario(self, scenario: str, year: int) -> str:
        """The run a window year comes from: historical up to `historical_end`, the scenario's own after."""
        return HISTORICAL if year <= self.config.historical_end or scenario == HISTORICAL else scenario

    def files_for(self, member: Member, variable: str, scenario: str, year: int) -> list[FileEntry]:
        found = self._files.get((member, variable, scenario, year))
        if found is None:
            key = ChainKey(member.model, member.variant, variable, self.source_scenario(scenario, year))
            chain = self.catalog.chains.get(key)
            found = self._files[(member, variable, scenario, year)] = chain.files_for_year(year) if chain else []
        return found

    @functools.cached_property
    def specs(self) -> tuple[ProductSpec, ...]:
        """The run's products (`Config.product_specs`)."""
        return self.config.product_specs()

    def located(self, path: str, year: int) -> str:
        """An output's path in the configured layout: its file's, or its target's in its chain's store (``zarr``)."""
        return target_in_store(path, year) if self.config.output_layout == "zarr" else path

    def store_years(self, scenario: str) -> tuple[int, ...]:
        """The target years of a scenario's chains: the ``target_year`` of their stores in the ``zarr`` layout."""
        if scenario not in self._store_years:
            years = {t.year for s in self.streams if s.scenario == scenario for t in s.targets}
            self._store_years[scenario] = tuple(sorted(years))
        return self._store_years[scenario]

    def fingerprint(self, member: Member, region: Region, spec: ProductSpec) -> str:
        """The fingerprint of a member's output of a region and product (the same for all its targets)."""
        key = (member, region.key, spec.name)
        if key not in self._fingerprints:
            self._fingerprints[key] = output_fingerprint(self.config, member, region, spec)
        return self._fingerprints[key]

    def base_inputs(self, target: Target, spec: ProductSpec) -> list[FileEntry]:
        """The input files of a product's base period (the historical run's), in year order."""
        return [e for y in spec.base_years for e in self.files_for(target.member, target.variable, HISTORICAL, y)]

    def output_inputs(self, target: Target, spec: ProductSpec, years: tuple[int, ...]) -> tuple[FileEntry, ...]:
        """An output's input files: its years' and its base period's, each once, in that order (one tuple for
        every region and product of a target: found once)."""
        key = (target.member, target.variable, target.scenario, years, spec.base_years)
        found = self._inputs.get(key)
        if found is None:
            window, base = self.window_inputs(target, years), self.base_inputs(target, spec)
            if base:
                inputs = {e.path: e for e in window}
                for entry in base:
                    inputs.setdefault(entry.path, entry)
                window = list(inputs.values())
            found = self._inputs[key] = tuple(window)
        return found

    def window_inputs(self, target: Target, years: tuple[int, ...] | list[int]) -> list[FileEntry]:
        """The input files of the given window years, in year order, each once."""
        by_year, distinct = self._stream_files(target.member, target.variable, target.scenario)
        if distinct and len(set(years)) == len(years):  # no file listed twice: none to drop
            return [entry for y in years for entry in by_year.get(y, ())]
        inputs: dict[InputPath, FileEntry] = {}
        for y in years:
            for entry in self.files_for(target.member, target.variable, target.scenario, y):
                inputs.setdefault(entry.path, entry)
        return list(inputs.values())

    def _stream_files(self, member: Member, variable: str, scenario: str) -> tuple[dict[int, list[FileEntry]], bool]:
        """The files of a stream by year (as `files_for`), and whether no file is listed under two years (a window's
        inputs then need no check for repeats: ~30 path hashes per output spared)."""
        found = self._streams.get((member, variable, scenario))
        if found is None:
            years: set[int] = set()
            for source in (HISTORICAL, scenario):
                chain = self.catalog.chains.get(ChainKey(member.model, member.variant, variable, source))
                if chain is not None and chain.first_year is not None and chain.last_year is not None:
                    years.update(range(chain.first_year, chain.last_year + 1))
            by_year = {y: self.files_for(member, variable, scenario, y) for y in sorted(years)}
            entries = [e for files in by_year.values() for e in files]
            distinct = len({e.path for e in entries}) == len(entries)
            found = self._streams[(member, variable, scenario)] = (by_year, distinct)
        return found

    def skip_lines(self) -> list[str]:
        """What cannot be computed, one line per scenario, period and reason (`climnorm.plan.notices`)."""
        return grouped(self.skips, show_members=len(self.members) > 1)

    @property
    def pending(self) -> list[OutputPlan]:
        return [o for o in self.outputs if o.computable and not o.up_to_date]

    def summary_rows(self) -> list[PlanRow]:
        """Counts per variable × region × scenario × period (members together), for `climnorm plan`."""
        counts: Counter[tuple[str, str, str, str, str]] = Counter()
        for out in self.outputs:
            t = out.target
            state = "skip" if not out.computable else ("done" if out.up_to_date else "todo")
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


"""A previous run's manifest records, by output path."""


def make_plan(
    config: Config, catalog: Catalog, previous: T_Records | None = None, present: Present | None = None
) -> Plan:
    """Build the plan; ``previous`` (a manifest's records) marks outputs that are already up to date, if they are
    ``present`` (the output store; by default, the local output directory's files)."""
    if present is None:
        assert isinstance(config.output_dir, Path), "outputs in a bucket: give their store"
        present = LocalFolders(config.output_dir)
    with gc_paused():  # ~10^6 outputs, none in a cycle: the collector would walk them again and again
        return _make_plan(config, catalog, previous, present)


def _make_plan(config: Config, catalog: Catalog, previous: T_Records | None, present: Present) -> Plan:
    records: T_Records = {} if previous is None else previous
    members, coverage, problems = select_members(config, catalog)
    plan = Plan(config, catalog, members, coverage, config.region_objects, problems=problems)
    plan.resume = ResumeCheck(records, present)
    plan.template = _template(config, members)
    if config.output_layout == "zarr":
        plan.template = chain_template(plan.template)
    _chain_problems(plan)
    for member in members:
        for variable in config.variables:
            for scenario in config.scenarios:
                if coverage.has(member, variable, scenario):
                    plan.streams.append(_stream(plan, member, variable, scenario))
    for stream in plan.streams:
        specs = [s for s in plan.specs if s.applies_to(stream.variable)]
        fingerprints = [[plan.fingerprint(stream.member, r, s) for s in specs] for r in plan.regions]
        for target in stream.targets:
            outputs = _outputs(plan, target, specs, fingerprints)
            plan.outputs += outputs
            if not target.computable:
                reason = unavailable(target.window, target.missing, _archive_years(plan, stream), target.min_years)
                plan.skips += [skip_of(out, reason, target.reason) for out in outputs]
            else:
                plan.skips += [skip_of(out, out.blocked) for out in outputs if out.blocked]
    plan.changes = change_plans(plan)
    if config.ensemble is not None:
        plan.ensembles = ensemble_plans(plan)
    return plan


def _archive_years(plan: Plan, stream: Stream) -> list[int]:
    """The complete years the archive has for a stream (the historical run's up to `historical_end`)."""
    years = set()
    for key, chain in plan.catalog.chains.items():
        if (key.model, key.variant, key.variable) != (stream.member.model, stream.member.variant, stream.variable):
            continue
        if key.scenario in (HISTORICAL, stream.scenario):
            years |= {y for y in chain.complete_years if plan.source_scenario(stream.scenario, y) == key.scenario}
    return sorted(years)


def skip_of(out: T_Output, reason: str, detail: str = "") -> Skip:
    """An output that will not be written, for the messages that tell people."""
    variable, region, scenario, period, year = out.key
    return Skip(
        out.member_label, variable, region, scenario, period, year, out.product, out.label, reason, detail,
        out.spec.named,
    )  # fmt: skip


def _template(config: Config, members: list[Member]) -> str:
    """The output path template: the configured one, or the default for one member or for several."""
    several_variants = len({m.model for m in members}) < len(members)
    if "output_template" not in config.model_fields_set:
        if len(members) == 1:
            return DEFAULT_OUTPUT_TEMPLATE
        return MEMBER_VARIANTS_TEMPLATE if several_variants else MEMBERS_OUTPUT_TEMPLATE
    template = config.output_template
    needed = ["model", "variant"] if several_variants else ["model"] if len(members) > 1 else []
    absent = [f"{{{f}}}" for f in needed if f"{{{f}}}" not in template]
    if absent:
        raise ConfigError(
            f"output_template: must contain {' and '.join(absent)} when a run has several members "
            f"({', '.join(m.label for m in members)}), so that each member's outputs get files of their own"
        )
    return template


def _chain_problems(plan: Plan) -> None:
    """What the run's chains say about themselves: duplicates (refused), shadowed versions, unknown names."""
    for key, chain in plan.catalog.chains.items():
        if Member(key.model, key.variant) not in plan.members or key.variable not in plan.config.variables:
            continue
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


def _stream(plan: Plan, member: Member, variable: str, scenario: str) -> Stream:
    """The targets of one member's variable under one scenario, in year order (targets up to `historical_end`
    belong to the historical scenario, later ones to each future scenario)."""
    config = plan.config
    stream = Stream(member, variable, scenario)
    for period, (first, last) in config.periods.items():
        for year in range(first, last + 1):
            if (year <= config.historical_end) == (scenario == HISTORICAL):
                stream.targets.append(_target(plan, member, variable, scenario, period, year))
    baseline = baseline_year(plan)  # the changes' baseline target: computed whether or not a period has it
    own = baseline is not None and baseline_scenario(plan, scenario) == scenario
    if own and all(t.year != baseline for t in stream.targets):
        assert baseline is not None
        stream.targets.append(_target(plan, member, variable, scenario, BASELINE_PERIOD, baseline))
    stream.targets.sort(key=lambda t: t.year)
    return stream


def _target(plan: Plan, member: Member, variable: str, scenario: str, period: str, year: int) -> Target:
    config = plan.config
    window = tuple(range(year - config.window_years + 1, year + 1))
    complete = _complete_set(plan, member, variable, scenario)
    available = [y for y in window if y in complete]
    missing = tuple(y for y in window if y not in available)
    return Target(
        member, variable, scenario, period, year, window, tuple(available), missing, config.min_years_for_normal
    )


def _complete(plan: Plan, member: Member, variable: str, scenario: str, year: int) -> bool:
    """Whether the archive has all of ``year`` for the member's variable under the scenario (or its source)."""
    return year in _complete_set(plan, member, variable, scenario)


def _complete_set(plan: Plan, member: Member, variable: str, scenario: str) -> frozenset[int]:
    years = plan._complete.get((member, variable, scenario))
    if years is None:
        years = plan._complete[(member, variable, scenario)] = frozenset(
            _complete_years(plan, member, variable, scenario)
        )
    return years


def _complete_years(plan: Plan, member: Member, variable: str, scenario: str) -> Iterator[int]:
    """The complete years of the member's variable under the scenario, each from the run that supplies it."""
    for source in dict.fromkeys((HISTORICAL, scenario)):
        chain = plan.catalog.chains.get(ChainKey(member.model, member.variant, variable, source))
        if chain is not None:
            yield from (y for y in chain.complete_years if plan.source_scenario(scenario, y) == source)


def _outputs(plan: Plan, target: Target, specs: list[ProductSpec], fingerprints: list[list[str]]) -> list[OutputPlan]:
    """A target's outputs, region by region and product by product: what its products share found once per
    target (their years, inputs and base period), the paths once per region (``fingerprints``: the stream's, by
    region and product)."""
    shared = [_shared(plan, target, spec) for spec in specs]
    inputs = [entries for _, entries, _ in shared]
    baseline = target.year == baseline_year(plan)
    outputs = []
    for region, own in zip(plan.regions, fingerprints, strict=True):
        daily = output_path(plan.template, plan.config, target, region, target.member)
        paths = product_paths(daily, specs)  # all in the daily normal's folder
        if plan.config.output_layout == "zarr":
            paths = [target_in_store(p, target.year) for p in paths]
        if baseline:  # the changes' baseline: its file carries the years' variability too
            own = [_baseline_fingerprint(f, spec) for f, spec in zip(own, specs, strict=True)]
        checksums = plan.resume.current_in(daily.rpartition("/")[0], paths, own, inputs)
        for spec, share, path, fingerprint, checksum in zip(specs, shared, paths, own, checksums, strict=True):
            reads, entries, blocked = share
            outputs.append(OutputPlan(target, region, path, entries, fingerprint, checksum is not None, spec, reads,
                                      blocked, checksum))  # fmt: skip
    return outputs


def _shared(plan: Plan, target: Target, spec: ProductSpec) -> tuple[tuple[int, ...], tuple[FileEntry, ...], str]:
    """What a product's outputs of a target share in every region: the years they read, their inputs, and why
    they cannot be computed though the target can (their base period is incomplete; empty if they can)."""
    reads = target.available
    before = target.window[0] - 1
    if spec.uses_previous_year and _complete(plan, target.member, target.variable, target.scenario, before):
        reads = (before, *reads)
    inputs = plan.output_inputs(target, spec, reads)
    absent = [y for y in spec.base_years if not _complete(plan, target.member, target.variable, HISTORICAL, y)]
    blocked = ""
    if absent:
        first, last = spec.base_years[0], spec.base_years[-1]
        blocked = f"its base period {first}-{last} is incomplete in the archive (missing {format_ranges(absent)})"
    return reads, inputs, blocked


def _baseline_fingerprint(fingerprint: str, spec: ProductSpec) -> str:
    """The fingerprint of a baseline normal of the changes (a daily baseline's digest is as it was before the
    years were kept)."""
    extras = baseline_extras(spec)
    return digest({"normal": fingerprint, "baseline_of_changes": extras[0] if len(extras) == 1 else extras})
