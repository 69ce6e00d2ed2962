"""Which members (model × variant) a run takes from the catalog, and which variables and scenarios each one has.

``model:`` names one model, ``models:`` several (or ``all``); ``variant:`` one variant, ``variants:`` ``first``
(the default: per model the lowest variant, in natural order, that has the requested variables, so that each
model counts once), ``all`` or a list. A requested scenario that no member has is a configuration error; a
member that lacks a variable or a scenario is reported once and gets no outputs for it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from climnorm.catalog.filenames import ChainKey
from climnorm.catalog.scan import Catalog
from climnorm.config.model import Config
from climnorm.errors import ConfigError
from climnorm.types import HISTORICAL, Member


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key comparing digit runs as numbers: r2i1p1f1 before r10i1p1f1."""
    return tuple((0, int(t)) if t.isdigit() else (1, t) for t in re.findall(r"\d+|\D+", text))


@dataclass(frozen=True)
class Coverage:
    """Complete years per member, variable and scenario (a missing key: no files at all)."""

    members: tuple[Member, ...]
    variables: tuple[str, ...]
    scenarios: tuple[str, ...]
    years: dict[tuple[Member, str, str], int]

    def has(self, member: Member, variable: str, scenario: str) -> bool:
        return (member, variable, scenario) in self.years

    def problems(self) -> list[str]:
        """One line per member that lacks a variable or a scenario."""
        lines = []
        for m in self.members:
            absent = [v for v in self.variables if not any(self.has(m, v, s) for s in self.scenarios)]
            if absent:
                lines.append(f"{m.label}: no files for {', '.join(absent)}; no outputs for them")
            present = [v for v in self.variables if v not in absent]
            for s in self.scenarios:
                lacking = [v for v in present if not self.has(m, v, s)]
                if lacking and s != HISTORICAL:
                    lines.append(f"{m.label}: no {s} files for {', '.join(lacking)}; no {s} outputs for them")
                elif lacking:
                    lines.append(f"{m.label}: no historical files for {', '.join(lacking)}")
        return lines


def select_members(config: Config, catalog: Catalog) -> tuple[list[Member], Coverage, list[str]]:
    """The run's members, what each covers, and the problems to report (raises ConfigError for a bad choice)."""
    runs = tuple(dict.fromkeys([*config.scenarios, HISTORICAL]))
    keys = [k for k in catalog.chains if k.variable in config.variables and k.scenario in runs]
    if not keys:
        raise ConfigError(
            "no input files for the requested variables and scenarios; check input_dirs (`climnorm catalog` lists "
            "what is there)"
        )
    models = _models(config, {k.model for k in keys})
    members: list[Member] = []
    problems: list[str] = []
    for model in models:
        chosen, note = _variants(config, model, keys)
        members += [Member(model, v) for v in chosen]
        problems += [note] if note else []
    if not members:
        raise ConfigError(f"variants: none of the requested variants has files for the models {', '.join(models)}")
    coverage = _coverage(catalog, members, tuple(config.variables), runs)
    _check_scenarios(config, coverage, catalog)
    return members, coverage, problems + coverage.problems()


def _models(config: Config, found: set[str]) -> list[str]:
    listed = sorted(found, key=natural_key)
    if config.model is not None:
        if config.model not in found:
            raise ConfigError(
                f"model: {config.model!r} has no files in the input directories (found: {', '.join(listed)})"
            )
        return [config.model]
    if config.models == "all":
        return listed
    if isinstance(config.models, list):
        absent = [m for m in config.models if m not in found]
        if absent:
            raise ConfigError(
                f"models: {', '.join(absent)} {'has' if len(absent) == 1 else 'have'} no files in the input "
                f"directories (found: {', '.join(listed)})"
            )
        return list(config.models)
    if len(found) == 1:
        return listed
    raise ConfigError(
        f"the archive holds several models ({', '.join(listed)}); choose one with `model:`, several with "
        "`models: [...]`, or all of them with `models: all`"
    )


def _variants(config: Config, model: str, keys: list[ChainKey]) -> tuple[list[str], str | None]:
    """The variants taken for one model, and a note when a requested one is not there."""
    has: dict[str, set[str]] = defaultdict(set)
    for k in keys:
        if k.model == model:
            has[k.variant].add(k.variable)
    found = sorted(has, key=natural_key)
    wanted = [config.variant] if config.variant is not None else config.variants
    if isinstance(wanted, list):
        taken = [v for v in wanted if v in has]
        absent = [v for v in wanted if v not in has]
        if not absent:
            return taken, None
        note = f"{model}: no files for variant(s) {', '.join(absent)} (found: {', '.join(found)})"
        if config.models is None:  # one model asked for by name: its variants must be there
            raise ConfigError(f"{'variant' if config.variant is not None else 'variants'}: {note}")
        return taken, note
    if wanted == "all":
        return found, None
    complete = [v for v in found if has[v] >= set(config.variables)]
    return [complete[0] if complete else max(found, key=lambda v: len(has[v]))], None


def _coverage(catalog: Catalog, members: list[Member], variables: tuple[str, ...], runs: Iterable[str]) -> Coverage:
    runs = tuple(runs)
    years = {
        (m, v, s): len(chain.complete_years)
        for m in members
        for v in variables
        for s in runs
        if (chain := catalog.chains.get(ChainKey(m.model, m.variant, v, s))) is not None
    }
    return Coverage(tuple(members), variables, runs, years)


def _check_scenarios(config: Config, coverage: Coverage, catalog: Catalog) -> None:
    """A requested scenario that no member has is a configuration error (nothing could be computed for it)."""
    members = set(coverage.members)
    absent = [
        s for s in config.scenarios if not any(coverage.has(m, v, s) for m in members for v in coverage.variables)
    ]
    if absent:
        there = sorted(
            {
                k.scenario
                for k in catalog.chains
                if Member(k.model, k.variant) in members and k.variable in config.variables
            },
            key=lambda s: (s != HISTORICAL, s),
        )
        raise ConfigError(
            f"scenarios: {', '.join(absent)} {'has' if len(absent) == 1 else 'have'} no files for any member "
            f"(the archive has {', '.join(there) or 'none'} for the requested variables)"
        )
