"""Rich tables for the terminal: catalogs, plans and run summaries."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from climnorm._ranges import format_range, format_ranges
from climnorm.catalog.scan import Catalog
from climnorm.plan.build import Plan
from climnorm.plan.ensembles import min_members
from climnorm.plan.members import Coverage
from climnorm.products import product
from climnorm.read.headers import FileProblem
from climnorm.records import ENSEMBLE
from climnorm.runner.summary import RunSummary
from climnorm.types import HISTORICAL, Member


def catalog_table(catalog: Catalog, console: Console, problems: list[FileProblem] | None = None) -> None:
    """One row per chain: files, complete years, gaps, partial years, shadowed versions, duplicates."""
    table = Table(title=catalog.summary_line(), title_justify="left")
    for col in ("model", "variant", "variable", "scenario", "files", "complete years", "n", "gaps", "notes"):
        table.add_column(col, justify="right" if col in ("files", "n") else "left")
    for chain in catalog.chains.values():
        k = chain.key
        notes = []
        if chain.partial_years:
            notes.append("partial " + ", ".join(f"{y} ({d})" for y, d in sorted(chain.partial_years.items())))
        if chain.shadowed:
            notes.append(f"{len(chain.shadowed)} shadowed by newer versions")
        if chain.duplicates:
            notes.append(f"{len(chain.duplicates)} duplicate(s): years {format_ranges(chain.duplicate_years)} refused")
        table.add_row(
            k.model,
            k.variant,
            k.variable,
            k.scenario,
            str(len(chain.files)),
            format_ranges(chain.complete_years) or "-",
            str(len(chain.complete_years)),
            ", ".join(format_range(g) for g in chain.gaps) or "-",
            "; ".join(notes),
        )
    console.print(table)
    if (coverage := catalog_members(catalog)) is not None:
        members_table(coverage, console, "members (complete years per variable and scenario)")
    for chain in catalog.chains.values():
        for old, new in chain.shadowed:
            console.print(f"[dim]shadowed:[/] {old.path} (by {new.path.name})")
        for a, b in chain.duplicates:
            console.print(f"[yellow]duplicate:[/] {a.path} and {b.path} cover the same days; both refused")
    for path in catalog.unparsed:
        console.print(f"[yellow]unrecognised name:[/] {path}: {catalog.unparsed_reasons.get(path, '')}")
    for path, reason in sorted(catalog.skipped.items()):
        console.print(f"[yellow]skipped:[/] {path}: {reason}")
    for problem in problems or []:
        console.print(f"[red]unreadable:[/] {problem}")


def members_table(coverage: Coverage, console: Console, title: str = "members") -> None:
    """Which member has which variable under which scenario: complete years, or "-" for no files."""
    table = Table(title=title, title_justify="left")
    table.add_column("model")
    table.add_column("variant")
    combos = [(v, s) for v in coverage.variables for s in coverage.scenarios]
    for variable, scenario in combos:
        table.add_column(f"{variable} {scenario}", justify="right")
    for m in coverage.members:
        cells = [str(coverage.years[(m, v, s)]) if coverage.has(m, v, s) else "-" for v, s in combos]
        table.add_row(m.model, m.variant, *cells)
    console.print(table)


def catalog_members(catalog: Catalog) -> Coverage | None:
    """The coverage of every member of a catalog, or None when it holds one member."""
    members = sorted({Member(k.model, k.variant) for k in catalog.chains})
    if len(members) < 2:
        return None
    variables = tuple(sorted({k.variable for k in catalog.chains}))
    scenarios = tuple(sorted({k.scenario for k in catalog.chains}, key=lambda s: (s != HISTORICAL, s)))
    years = {
        (Member(k.model, k.variant), k.variable, k.scenario): len(c.complete_years) for k, c in catalog.chains.items()
    }
    return Coverage(tuple(members), variables, scenarios, years)


def plan_table(plan: Plan, console: Console) -> None:
    """Members, then counts of normals per variable × region × scenario × period, then what cannot be computed."""
    config = plan.config
    who = plan.members[0].label if len(plan.members) == 1 else f"{len(plan.members)} members"
    named = any(product(n).named for n in config.products)  # said when there are others than the daily normal
    console.print(
        f"[bold]model[/] {who}   [bold]window[/] {config.window_years} years "
        f"(minimum {config.min_years_for_normal})   [bold]leap_day[/] {config.leap_day}   "
        f"[bold]output[/] {config.output_dir}" + (f"   [bold]products[/] {', '.join(config.products)}" if named else "")
    )
    if len(plan.members) > 1:
        members_table(plan.coverage, console, "members (complete years per variable and scenario)")
    table = Table(title="normals", title_justify="left")
    for col in ("variable", "region", "scenario", "period", "to compute", "up to date", "cannot compute"):
        table.add_column(col, justify="right" if col[0] in "tuc" and col != "cannot" else "left")
    totals = [0, 0, 0]
    for row in plan.summary_rows():
        counts = [row.todo, row.done, row.skip]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        table.add_row(row.variable, row.region, row.scenario, row.period, *map(str, counts))
    table.add_section()
    table.add_row("total", "", "", "", *map(str, totals))
    console.print(table)
    files = {e.path for out in plan.pending for e in out.inputs}
    console.print(f"{len(files)} input files to read for {totals[0]} normals")
    if config.ensemble is not None:
        todo = sum(not e.up_to_date for e in plan.ensembles)
        skip = sum(s.member == ENSEMBLE for s in plan.skips)
        console.print(
            f"ensemble outputs: {todo} to compute, {len(plan.ensembles) - todo} up to date, {skip} cannot be computed "
            f"({', '.join(config.ensemble.statistics)}; at least {min_members(plan)} valid members per cell-slot), "
            "written as their members land"
        )
    for problem in plan.problems + plan.skip_lines():
        console.print(f"[yellow]![/] {problem}")


def summary_table(summary: RunSummary, console: Console) -> None:
    """Counts per variable × region × scenario (or, for many members, per member × variable), then totals and
    every problem once."""
    if summary.members > 1:
        _members_summary(summary, console)
    else:
        _outputs_summary(summary, console)
    _totals(summary, console)


def _outputs_summary(summary: RunSummary, console: Console) -> None:
    keys = sorted({k[1:4] for k in summary.per_output})
    if not keys:
        return
    table = Table(title="run summary", title_justify="left")
    for col in ("variable", "region", "scenario", "written", "skipped", "failed", "done at"):
        table.add_column(col, justify="left" if col in ("variable", "region", "scenario") else "right")
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for (_, *group, state), n in summary.per_output.items():
        counts[(group[0], group[1], group[2], state)] += n
    for var, region, scen in keys:
        done_at = summary.finished_at.get((var, region, scen))
        table.add_row(
            var,
            region,
            scen,
            *(str(counts[(var, region, scen, s)]) for s in ("written", "skipped", "failed")),
            f"{done_at:.1f} s" if done_at is not None else "-",
        )
    console.print(table)


def _members_summary(summary: RunSummary, console: Console) -> None:
    """Written/skipped/failed outputs per member and variable (the ensemble last)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for (member, var, _, _, state), n in summary.per_output.items():
        counts[(member, var, state)] += n
    members = sorted({k[0] for k in counts}, key=lambda m: (m == ENSEMBLE, m))
    variables = sorted({k[1] for k in counts})
    table = Table(title="run summary: outputs written / skipped / failed", title_justify="left")
    table.add_column("member")
    for var in variables:
        table.add_column(var, justify="right")
    for member in members:
        cells = ["/".join(str(counts[(member, v, s)]) for s in ("written", "skipped", "failed")) for v in variables]
        table.add_row(member, *cells)
    console.print(table)


def _totals(summary: RunSummary, console: Console) -> None:
    mb = summary.bytes_read / 2**20
    rate = mb / summary.seconds if summary.seconds > 0 else 0.0
    console.print(
        f"written {summary.written}, up to date {summary.up_to_date}, skipped {len(summary.skipped)}, "
        f"failed {len(summary.failures)}; read {summary.files_read} files ({mb:,.0f} MiB decompressed, "
        f"{rate:,.0f} MiB/s) in {summary.seconds:,.1f} s with {summary.workers} worker(s); "
        f"peak memory {summary.peak_memory / 2**30:.2f} GiB"
    )
    if summary.base_files:
        console.print(
            f"percentile thresholds: first pass over their base periods read {summary.base_files} files in "
            f"{summary.base_seconds:,.1f} s (included above)"
        )
    if summary.files_read:
        console.print(f"fast read path: {summary.fast_reads} of {summary.files_read} files (the rest through netCDF4)")
    if summary.worker_crashes:
        console.print(f"[yellow]{summary.worker_crashes} worker process(es) died; their tasks were retried[/]")
    if summary.log_file is not None:
        console.print(f"log: {summary.log_file}", highlight=False)
    for message in summary.failure_lines():
        console.print(f"[red]failed:[/] {message}", highlight=False)
