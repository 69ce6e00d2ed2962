"""The first pass of the indicators that count days beyond day-of-year percentiles of a base period (tx90p, tn10p,
days_over_precip_doy_thresh, ...): each chain with such outputs to compute has its base years read once more, before
its own pass, and their thresholds computed per region as xclim's ``percentile_doy`` does
(`climnorm.numerics.percentiles`). The base period lies in the historical run (a configuration rule)."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from climnorm._ranges import format_ranges
from climnorm.catalog.filenames import ChainKey, FileEntry
from climnorm.engines import Engine
from climnorm.engines.tasks import read_batch
from climnorm.errors import InputFileError
from climnorm.numerics.indicators import year_days
from climnorm.numerics.percentiles import DoyPercentiles
from climnorm.plan.build import Plan
from climnorm.products.indicators import Indicator, kind_of, resolve
from climnorm.runner.accumulate import BaseThresholds, ChainAccumulator
from climnorm.runner.lineage import Problem
from climnorm.runner.scheduler import read_task
from climnorm.runner.summary import Reporter
from climnorm.types import HISTORICAL, FileResult, Member, Region
from climnorm.units import THRESHOLD_UNITS, converter

log = logging.getLogger(__name__)

T_Chain = tuple[Member, str]


@dataclass
class BasePass:
    """What the first pass read and how long it took (the run's summary reports it apart)."""

    files: int = 0
    years: int = 0
    seconds: float = 0.0
    thresholds: dict[T_Chain, BaseThresholds] = field(default_factory=dict)


def base_indicators(plan: Plan) -> dict[T_Chain, tuple[Indicator, ...]]:
    """Per chain, the indicators with base thresholds among its outputs to compute."""
    found: dict[T_Chain, dict[str, Indicator]] = defaultdict(dict)
    for out in plan.pending:
        entry = out.spec.entry
        if entry is not None:
            indicator = resolve(entry)
            if indicator.index.base:
                found[(out.target.member, out.target.variable)][indicator.id] = indicator
    return {chain: tuple(by_id.values()) for chain, by_id in found.items()}


def base_files(plan: Plan) -> dict[str, int]:
    """The files the first pass will read, by variable (what the progress display counts)."""
    files: dict[str, int] = defaultdict(int)
    for (member, variable), indicators in base_indicators(plan).items():
        for year in sorted({y for i in indicators for y in _years(i)}):
            if _complete(plan, member, variable, year):
                files[variable] += len(plan.files_for(member, variable, HISTORICAL, year))
    return dict(files)


def base_pass(plan: Plan, engine: Engine, reporter: Reporter) -> BasePass:
    """Read every base year of the chains that need thresholds, a few files ahead, and compute them."""
    start = time.perf_counter()
    result = BasePass()
    for chain, indicators in base_indicators(plan).items():
        result.thresholds[chain] = _chain_thresholds(plan, engine, reporter, chain, indicators, result)
    result.seconds = time.perf_counter() - start
    if result.thresholds:
        log.info(
            "percentile thresholds: %d base year(s) of %d chain(s) read (%d files) in %.1f s",
            result.years, len(result.thresholds), result.files, result.seconds,
        )  # fmt: skip
    return result


def _chain_thresholds(
    plan: Plan, engine: Engine, reporter: Reporter, chain: T_Chain, indicators: tuple[Indicator, ...], out: BasePass
) -> BaseThresholds:
    member, variable = chain
    years = sorted({y for i in indicators for y in _years(i)})
    regions = tuple(plan.regions)
    files = {y: plan.files_for(member, variable, HISTORICAL, y) for y in years}
    missing = [y for y in years if not _complete(plan, member, variable, y)]
    accumulator = ChainAccumulator(variable, plan.config)
    percentiles: dict[tuple[str, str], DoyPercentiles] = {}
    failed: set[int] = set(missing)
    scale, offset = 1.0, 0.0
    for year, results in _read_years(plan, engine, variable, regions, files, missing):
        problems: list[Problem] = []
        fields = accumulator.year_fields(HISTORICAL, year, results, problems)
        reporter.report(variable, problems)
        for _, read in results:
            if read is not None:
                out.files += 1
                reporter.summary.files_read += 1
                reporter.summary.fast_reads += int(read.fast_path)
                reporter.summary.bytes_read += read.bytes_read
        if fields is None:
            failed.add(year)
            continue
        out.years += 1
        scheme = accumulator.lineage.scheme
        assert scheme is not None
        scale, offset = converter(accumulator.lineage.units, THRESHOLD_UNITS[kind_of(variable)]) or (1.0, 0.0)
        for region, values in fields.fields.items():
            days = year_days(values, scheme, year)  # in the chain's units: the files' float32 values, exactly
            for indicator in indicators:
                first, last = _years(indicator)[0], _years(indicator)[-1]
                if not first <= year <= last:
                    continue
                key = (region, indicator.id)
                if key not in percentiles:
                    per = float(dict(indicator.values)["per"])
                    percentiles[key] = DoyPercentiles(scheme.calendar, per, years=last - first + 1)
                sample = days.values
                if kind_of(variable) == "precipitation":  # the wet days, by the threshold in mm/day
                    wet = days.values * scale + offset >= float(dict(indicator.values)["thresh"])
                    sample = np.where(wet, days.values, np.nan)
                percentiles[key].add(year, sample, days.doy)
    by_region: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    unavailable: dict[str, str] = {}
    for indicator in indicators:
        lost = sorted(failed & set(_years(indicator)))
        if lost:
            first, last = _years(indicator)[0], _years(indicator)[-1]
            unavailable[indicator.id] = (
                f"its base period {first}-{last} is incomplete (years {format_ranges(lost)} missing or unreadable)"
            )
            continue
        for (region, ident), pct in percentiles.items():
            if ident == indicator.id:  # converted as the days are, so that a day equal to its threshold stays equal
                by_region[region][ident] = pct.thresholds() * scale + offset
    return BaseThresholds(dict(by_region), unavailable)


def _years(indicator: Indicator) -> list[int]:
    period = indicator.base_period
    assert period is not None
    return list(range(period[0], period[1] + 1))


def _complete(plan: Plan, member: Member, variable: str, year: int) -> bool:
    chain = plan.catalog.chains.get(_key(member, variable))
    return chain is not None and year in chain.complete_years


def _key(member: Member, variable: str) -> ChainKey:
    return ChainKey(member.model, member.variant, variable, HISTORICAL)


def _read_years(
    plan: Plan,
    engine: Engine,
    variable: str,
    regions: tuple[Region, ...],
    files: dict[int, list[FileEntry]],
    missing: list[int],
) -> Iterator[tuple[int, list[tuple[FileEntry, FileResult | None]]]]:
    """Each available base year with its files' reads, in year order, a bounded number of reads ahead."""
    years = [y for y in sorted(files) if y not in missing]
    budget = max(2, 2 * engine.workers)
    futures: dict[int, list[tuple[FileEntry, Future[list[Any]]]]] = {}
    ahead = iter(years)

    def submit() -> None:
        year = next(ahead, None)
        if year is not None:
            futures[year] = [
                (e, engine.run(read_batch, (read_task(plan, e, variable, regions, (year,)),))) for e in files[year]
            ]

    for _ in range(budget):
        submit()
    for year in years:
        results: list[tuple[FileEntry, FileResult | None]] = []
        for entry, future in futures.pop(year):
            try:
                (outcome,) = future.result()
            except Exception as err:  # the read task itself failed (a crashed worker): the year is lost
                outcome = InputFileError(str(entry.path), f"{type(err).__name__}: {err}")
            if isinstance(outcome, InputFileError):  # the run's own pass reads it again and reports it
                log.info("base period: %s: %s", outcome.path, outcome.problem)
                outcome = None
            results.append((entry, outcome))
        submit()
        yield year, results
