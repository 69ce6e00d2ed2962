"""Rich tables for the terminal: catalogs, plans and run summaries."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from climnorm._ranges import format_range, format_ranges
from climnorm.catalog import Catalog
from climnorm.headers import FileProblem
from climnorm.plan import Plan
from climnorm.summary import RunSummary


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


def plan_table(plan: Plan, console: Console) -> None:
    """Counts of normals per variable × region × scenario × period, then missing years and impossible targets."""
    config = plan.config
    console.print(
        f"[bold]model[/] {plan.model} {plan.variant}   [bold]window[/] {config.window_years} years "
        f"(minimum {config.min_years_for_normal})   [bold]leap_day[/] {config.leap_day}   "
        f"[bold]output[/] {config.output_dir}"
    )
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
    for problem in plan.problems:
        console.print(f"[yellow]![/] {problem}")


def summary_table(summary: RunSummary, console: Console) -> None:
    """Per variable × region × scenario counts, then totals and every problem once."""
    keys = sorted({k[:3] for k in summary.per_output})
    if keys:
        table = Table(title="run summary", title_justify="left")
        for col in ("variable", "region", "scenario", "written", "skipped", "failed", "done at"):
            table.add_column(col, justify="left" if col in ("variable", "region", "scenario") else "right")
        for var, region, scen in keys:
            done_at = summary.finished_at.get((var, region, scen))
            table.add_row(
                var,
                region,
                scen,
                *(str(summary.per_output[(var, region, scen, s)]) for s in ("written", "skipped", "failed")),
                f"{done_at:.1f} s" if done_at is not None else "-",
            )
        console.print(table)
    mb = summary.bytes_read / 2**20
    rate = mb / summary.seconds if summary.seconds > 0 else 0.0
    console.print(
        f"written {summary.written}, up to date {summary.up_to_date}, skipped {len(summary.skipped)}, "
        f"failed {len(summary.failures)}; read {summary.files_read} files ({mb:,.0f} MiB decompressed, "
        f"{rate:,.0f} MiB/s) in {summary.seconds:,.1f} s with {summary.workers} worker(s); "
        f"peak memory {summary.peak_memory / 2**30:.2f} GiB"
    )
    if summary.files_read:
        console.print(f"fast read path: {summary.fast_reads} of {summary.files_read} files (the rest through netCDF4)")
    if summary.worker_crashes:
        console.print(f"[yellow]{summary.worker_crashes} worker process(es) died; their tasks were retried[/]")
    if summary.log_file is not None:
        console.print(f"log: {summary.log_file}", highlight=False)
    for message in summary.failures:
        console.print(f"[red]failed:[/] {message}", highlight=False)
