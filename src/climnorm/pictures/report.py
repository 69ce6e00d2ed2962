"""A run report: one self-contained HTML file (no server, no network) about an output directory.

What was computed and from which inputs comes from the manifest; warnings and errors from the newest run log
(``logs/run-*.log``); the change plot of every variable × region is embedded as a base64 PNG; every output is
linked by a path relative to the report. No external CSS, scripts or fonts.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from climnorm import __version__
from climnorm._atomic import atomic_write_text
from climnorm._ranges import format_ranges
from climnorm.pictures._style import figure_png, require_matplotlib
from climnorm.pictures.normals import RegionSeries, Selection, load_index, region_series_many
from climnorm.pictures.plots import change_figure, map_figure
from climnorm.products import product_names
from climnorm.records import ENSEMBLE, OutputRecord
from climnorm.write.manifest import MANIFEST_NAME

log = logging.getLogger(__name__)

_LOG_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:,\d+)? (?P<level>[A-Z]+) (?P<logger>\S+): (?P<message>.*)$"
)
_FINISHED = re.compile(r"^run finished in ")
MAX_ROWS = 200  # rows of a warnings or short-window table; the rest are counted, not listed
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 1.5em auto;
       max-width: 1150px; padding: 0 1em; color: #222; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #555; } .ok { color: #1a7f37; } .warning { color: #9a6700; } .error { color: #cf222e; }
pre { background: #f6f8fa; padding: 0.6em; overflow-x: auto; font-size: 0.85em; white-space: pre-wrap; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 1em; }
figure { margin: 0; } figure img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; } details { margin: 0.3em 0; } summary { cursor: pointer; }
ul.files { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.85em; }
"""


@dataclass
class LogEntry:
    """One log record (continuation lines, e.g. a traceback, appended to its message)."""

    time: str
    level: str
    logger: str
    message: str


@dataclass
class RunLog:
    """What the newest run log says: its path, the final summary line, and its warnings and errors."""

    path: Path | None = None
    finished: str | None = None
    problems: list[LogEntry] = field(default_factory=list)


def parse_log(path: Path) -> RunLog:
    """Read a ``logs/run-*.log`` file written by `climnorm run`."""
    entries: list[LogEntry] = []
    for line in path.read_text(errors="replace").splitlines():
        match = _LOG_LINE.match(line)
        if match:
            entries.append(LogEntry(**match.groupdict()))
        elif entries and line.strip():
            entries[-1].message += "\n" + line
    finished = next((e.message for e in reversed(entries) if _FINISHED.match(e.message)), None)
    problems = [e for e in entries if e.level in ("WARNING", "ERROR", "CRITICAL")]
    return RunLog(path, finished, problems)


def newest_log(output_dir: Path) -> RunLog:
    """The newest run log of ``output_dir`` (names carry the start time), or an empty RunLog when none exists."""
    logs = sorted((Path(output_dir) / "logs").glob("run-*.log"))
    return parse_log(logs[-1]) if logs else RunLog()


# ---- HTML pieces -------------------------------------------------------------------------------------------
def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _href(target: Path, report_dir: Path) -> str:
    """A relative URL from the report's folder to ``target``."""
    rel = os.path.relpath(target.resolve(), report_dir.resolve())
    return quote(Path(rel).as_posix())


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], numeric: Iterable[int] = ()) -> str:
    right = set(numeric)
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if i in right else ''}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(rows: Iterable[Sequence[str]]) -> str:
    """A two-column table of (label, HTML value) rows."""
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _more(total: int, where: str) -> str:
    """A note when a table shows only the first MAX_ROWS of ``total`` rows."""
    if total <= MAX_ROWS:
        return ""
    return f'<p class="meta">… and {total - MAX_ROWS:,} more: see {_e(where)}.</p>'


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _periods_text(records: Sequence[OutputRecord]) -> str:
    by_period: dict[str, list[int]] = defaultdict(list)
    for r in records:
        by_period[str(r.period)].append(int(r.target_year))
    ordered = sorted(by_period.items(), key=lambda kv: min(kv[1]))
    return "; ".join(f"{p} {format_ranges(sorted(ys))}" for p, ys in ordered)


def _summary_section(records: Sequence[OutputRecord]) -> str:
    def values(key: str) -> str:
        """The record's distinct values of ``key`` (an ensemble's empty variant is no value)."""
        return ", ".join(sorted({str(v) for r in records if (v := r.value(key)) not in (None, "")}))

    groups: dict[tuple[str, str, str, str], list[OutputRecord]] = defaultdict(list)
    for r in records:
        groups[(r.variable, r.region, r.scenario, r.product)].append(r)
    rows = []
    for (variable, region, scenario, product), own in sorted(groups.items()):
        years = sorted({int(y) for r in own for y in r.years})
        short = sum(1 for r in own if r.missing_years)
        rows.append(
            [
                _e(variable),
                _e(region),
                _e(scenario),
                _e(product),
                _e(_periods_text(own)),
                str(len(own)),
                _e(format_ranges(years)),
                f'<span class="warning">{short}</span>' if short else "0",
            ]
        )
    products = [p for p in product_names() if any(r.product == p for r in records)]
    listed = [["products", _e(", ".join(products))]] if products != ["daily"] else []  # said when there are others
    entries = {r.product: r.indicator for r in records if r.indicator is not None}
    if entries:
        listed.append(["indicators", _e("; ".join(_indicator_text(e) for _, e in sorted(entries.items())))])
    facts = _facts(
        [
            *listed,
            ["normals", f"{len(records):,}"],
            ["model", _e(values("model"))],
            ["variant", _e(values("variant"))],
            ["window (years)", _e(values("window_years"))],
            ["calendar", _e(values("calendar"))],
            ["day slots (leap_day)", _e(values("leap_day"))],
            ["variables", _e(values("variable"))],
            ["regions", _e(values("region"))],
            ["scenarios", _e(values("scenario"))],
        ],
    )
    header = ["variable", "region", "scenario", "product", "target years by period", "normals", "years used"]
    detail = _table([*header, "from fewer years than the window"], rows, numeric=(5, 7))
    return (
        "<h2>What was computed</h2>"
        + facts
        + f"<details><summary>per variable, region and scenario ({len(rows)} rows)</summary>{detail}</details>"
    )


def _indicator_text(entry: Mapping[str, Any]) -> str:
    """An indicator as its configuration entry gives it: "tx_ge_90F: tx_days_above YS, thresh=90 degF, op=>="."""
    params = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("index", "id", "freq"))
    return f"{entry['id']}: {entry['index']} {entry['freq']}" + (f", {params}" if params else "")


def _short_windows(records: Sequence[OutputRecord]) -> str:
    short = [r for r in records if r.missing_years]
    if not short:
        return ""
    rows = [
        [_e(r.path), str(len(r.years)), _e(format_ranges(sorted(int(y) for y in r.missing_years)))]
        for r in short[:MAX_ROWS]
    ]
    return (
        "<h3>Normals computed from fewer years than the window</h3>"
        + _table(["output", "years used", "missing years"], rows, numeric=(1,))
        + _more(len(short), f"{MANIFEST_NAME} (missing_years)")
    )


def _inputs_section(records: Sequence[OutputRecord]) -> str:
    inputs: dict[str, Mapping[str, Any]] = {}
    for r in records:
        for item in r.inputs:
            inputs[str(item["path"])] = item
    folders: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for path, item in inputs.items():
        folders[str(Path(path).parent)].append(item)
    total = sum(int(i.get("size", 0)) for i in inputs.values())
    rows = [
        [_e(folder), str(len(items)), _size(sum(int(i.get("size", 0)) for i in items))]
        for folder, items in sorted(folders.items())
    ]
    return (
        "<h2>Inputs</h2>"
        f"<p>{len(inputs):,} input files ({_size(total)}) in {len(folders)} folder(s), as recorded in "
        f"{MANIFEST_NAME}.</p>" + _table(["folder", "files", "size"], rows, numeric=(1, 2))
    )


def _problems_section(run_log: RunLog, report_dir: Path) -> str:
    parts = ["<h2>Warnings and failures</h2>"]
    if run_log.path is None:
        parts.append('<p class="meta">No run log found (logs/run-*.log).</p>')
        return "".join(parts)
    parts.append(f'<p>Newest run log: <a href="{_href(run_log.path, report_dir)}">{_e(run_log.path.name)}</a>')
    if run_log.finished:
        parts.append(f" — {_e(run_log.finished)}")
    parts.append("</p>")
    if not run_log.problems:
        parts.append('<p class="ok">No warnings or errors in this log.</p>')
        return "".join(parts)
    counts = Counter(e.level for e in run_log.problems)
    parts.append(
        "<p>"
        + ", ".join(f'<span class="{_e(k.lower())}">{n} {_e(k.lower())}(s)</span>' for k, n in sorted(counts.items()))
        + "</p>"
    )
    rows = [
        [
            _e(e.time),
            f'<span class="{_e(e.level.lower())}">{_e(e.level)}</span>',
            f"<pre>{_e(e.message)}</pre>" if "\n" in e.message else _e(e.message),
        ]
        for e in sorted(run_log.problems, key=lambda e: e.level == "WARNING")[:MAX_ROWS]  # errors first
    ]
    parts.append(_table(["time", "level", "message"], rows))
    parts.append(_more(len(run_log.problems), "the log"))
    return "".join(parts)


def _plots_section(
    figures: Sequence[tuple[str, str, bytes]],
    title: str = "Change of the normals",
    text: str = "Region-mean annual normal against target year, one line per scenario, the periods shaded; region "
    "means are area-weighted by cos(latitude) and skip missing cells.",
    anchor: str = "change",
) -> str:
    parts = [f"<h2>{_e(title)}</h2>", f'<p class="meta">{_e(text)}</p>']
    for variable in sorted({v for v, _, _ in figures}):
        parts.append(f'<h3 id="{anchor}-{_e(variable)}">{_e(variable)}</h3><div class="plots">')
        for _, region, png in (f for f in figures if f[0] == variable):
            data = base64.b64encode(png).decode("ascii")
            parts.append(
                f'<figure id="{anchor}-{_e(variable)}-{_e(region)}"><img alt="{_e(variable)} {_e(region)} {anchor} '
                f'plot" src="data:image/png;base64,{data}"><figcaption>{_e(variable)} · {_e(region)}</figcaption>'
                "</figure>"
            )
        parts.append("</div>")
    return "".join(parts)


def _files_section(records: Sequence[OutputRecord], output_dir: Path, report_dir: Path) -> str:
    parts = [
        "<h2>Files</h2>",
        f'<p><a href="{_href(output_dir / MANIFEST_NAME, report_dir)}">{MANIFEST_NAME}</a> lists every output '
        "with its inputs and data checksum (<code>climnorm manifest --json</code> writes it as JSON).</p>",
    ]
    groups: dict[tuple[str, str], list[OutputRecord]] = defaultdict(list)
    for r in records:
        groups[(r.variable, r.region)].append(r)
    for (variable, region), own in sorted(groups.items()):
        items = "".join(
            f'<li><a href="{_href(output_dir / r.path, report_dir)}">{_e(r.path)}</a></li>'
            for r in sorted(own, key=lambda r: (r.scenario != "historical", r.scenario, r.target_year))
        )
        parts.append(
            f"<details><summary>{_e(variable)} · {_e(region)} ({len(own)} files)</summary>"
            f'<ul class="files">{items}</ul></details>'
        )
    return "".join(parts)


# ---- the report --------------------------------------------------------------------------------------------
def render_report(
    output_dir: Path,
    report_dir: Path,
    *,
    workers: int = 1,
    size: tuple[int, int] = (720, 450),
    dpi: int = 100,
) -> str:
    """The report's HTML, with links relative to ``report_dir`` (where the file will be written)."""
    require_matplotlib()
    output_dir = Path(output_dir)
    records = load_index(output_dir).records
    run_log = newest_log(output_dir)
    # the change pictures show the daily normals and the indicators
    shown = [r for r in records if r.product == "daily" or r.indicator is not None]
    series = region_series_many(output_dir, shown, workers=workers)
    by_pair: dict[tuple[str, str, str], list[RegionSeries]] = defaultdict(list)
    for s in series:
        by_pair[(s.record.variable, s.record.region, s.record.product)].append(s)
    figures: list[tuple[str, str, bytes]] = []
    for (variable, region, product), own in sorted(by_pair.items(), key=lambda kv: (kv[0][2] != "daily", kv[0])):
        windows = Counter(int(s.record.window_years) for s in own)
        width = max(windows, key=lambda w: (windows[w], w))
        own = [s for s in own if int(s.record.window_years) == width]
        selection = Selection(variable, region, product=product)
        fig = change_figure(output_dir, selection, series=own, size=size, dpi=dpi)
        figures.append((variable if product == "daily" else f"{variable} {product}", region, figure_png(fig)))
    signals = _signal_figures(output_dir, by_pair, size, dpi)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"climnorm run report: {output_dir.resolve()}"
    body = [
        "<h1>climnorm run report</h1>",
        f'<p class="meta">Output directory <code>{_e(output_dir.resolve())}</code> · made {_e(created)} by '
        f"climnorm {_e(__version__)}</p>",
        _summary_section(records),
        _short_windows(records),
        _problems_section(run_log, report_dir),
        _plots_section(figures),
        _plots_section(signals, *_SIGNALS) if signals else "",
        _inputs_section(records),
        _files_section(records, output_dir, report_dir),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


_SIGNALS = (
    "Changes against the baseline",
    "Each member's change of its region-mean annual normal against its baseline's (thin), their mean and range; "
    "and maps of the ensemble's change of the annual normal and of each indicator, hatched where the IPCC AR6 "
    "categories say no change or no robust signal (diagonal) or conflicting signals (crossed): docs/changes.md.",
    "signal",
)


def _signal_figures(
    output_dir: Path, by_pair: Mapping[tuple[str, str, str], list[RegionSeries]], size: tuple[int, int], dpi: int
) -> list[tuple[str, str, bytes]]:
    """With change files: the change lines of each variable and region, and a map of the ensemble's change of the
    last target of one-step products (annual, yearly indicators) over the first region."""
    changes = load_index(output_dir).changes
    if not changes:
        return []
    figures = []
    for (variable, region, product), own in sorted(by_pair.items(), key=lambda kv: (kv[0][2] != "daily", kv[0])):
        selection = Selection(variable, region, product=product, change=True)
        fig = change_figure(output_dir, selection, series=own, size=size, dpi=dpi)
        figures.append((variable if product == "daily" else f"{variable} {product}", region, figure_png(fig)))
    one_step = [r for r in changes if r.is_ensemble and (r.product == "annual" or r.indicator is not None)]
    for (variable, product), made in sorted(_by_key(one_step).items()):
        region = min(r.region for r in made)
        last = max((r for r in made if r.region == region), key=lambda r: (r.target_year, r.scenario))
        selection = Selection(variable, region, scenarios=(last.scenario,), target=last.target_year, model=ENSEMBLE,
                              product=product, change=True)  # fmt: skip
        fig = map_figure(output_dir, selection, size=size, dpi=dpi, outlines="none")
        figures.append((f"{variable} {product} map", region, figure_png(fig)))
    return figures


def _by_key(records: Sequence[OutputRecord]) -> dict[tuple[str, str], list[OutputRecord]]:
    groups: dict[tuple[str, str], list[OutputRecord]] = defaultdict(list)
    for r in records:
        groups[(r.variable, r.product)].append(r)
    return groups


def write_report(output_dir: Path, out: Path | None = None, *, workers: int = 1) -> Path:
    """Write the report of ``output_dir`` to ``out`` (default ``{output_dir}/report.html``) atomically."""
    output_dir = Path(output_dir)
    out = Path(out) if out is not None else output_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(output_dir, out.parent, workers=workers)
    atomic_write_text(out, text)
    log.debug("wrote %s (%d KiB)", out, len(text) // 1024)
    return out
