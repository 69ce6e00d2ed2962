"""How climnorm's figures look: an Agg figure of a given size in pixels, readable defaults, colours per scenario,
latitude/longitude labels and cell edges; matplotlib is imported only when a figure is drawn."""

from __future__ import annotations

import functools
import io
import logging
import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from climnorm.errors import PlotError
from climnorm.records import OutputRecord
from climnorm.types import HISTORICAL

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

PLOT_EXTRA_HINT = "pip install 'climnorm[plot]'"
SEASONS: dict[str, tuple[int, ...]] = {
    "DJF": (12, 1, 2),
    "MAM": (3, 4, 5),
    "JJA": (6, 7, 8),
    "SON": (9, 10, 11),
    "annual": tuple(range(1, 13)),
}
MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PERIOD_COLOURS = {"historical": "#e8e8e8", "hybrid": "#fbeccb", "future": "#fbdcd6"}
SCENARIO_COLOURS = {
    "historical": ("black", "Greys"),
    "ssp119": ("#1e9583", "BuGn"),
    "ssp126": ("#1d3354", "Blues"),
    "ssp245": ("#2c7bb6", "Blues"),
    "ssp370": ("#e66101", "Oranges"),
    "ssp434": ("#8c6bb1", "Purples"),
    "ssp460": ("#b35806", "Oranges"),
    "ssp585": ("#c0152a", "Reds"),
}
EXTRA_COLOURS = (("#1b9e77", "Greens"), ("#7570b3", "Purples"), ("#d95f02", "Oranges"), ("#e7298a", "RdPu"))
#: Line style and marker of each future scenario in turn, so lines that coincide stay visible.
LINE_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))
STYLE: dict[Any, Any] = {  # matplotlib rcParams
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "savefig.facecolor": "white",
}
F = TypeVar("F", bound=Callable[..., Any])


def require_matplotlib() -> None:
    """Raise PlotError naming the ``plot`` extra when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotError(f"pictures need matplotlib, which is not installed: {PLOT_EXTRA_HINT}") from None


def new_figure(size: tuple[int, int], dpi: int) -> Figure:
    """A figure of ``size`` pixels on an Agg canvas (no pyplot state, no display)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = size
    if width < 100 or height < 100 or dpi < 10:
        raise PlotError(f"picture size {width}x{height} at {dpi} dpi is too small")
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def styled(draw: F) -> F:
    """Run a figure-drawing function under climnorm's readable defaults without touching global rcParams."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        require_matplotlib()
        import matplotlib

        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    return cast(F, wrapper)


def save_figure(fig: Figure, out: Path) -> Path:
    """Write the figure (format from the suffix, PNG by default) and return its path."""
    import matplotlib

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fmt = out.suffix.lstrip(".").lower() or "png"
    with matplotlib.rc_context(STYLE):
        fig.savefig(
            out, format=fmt, dpi=fig.dpi, metadata={"Software": "climnorm (matplotlib)"} if fmt == "png" else None
        )
    log.debug("wrote %s", out)
    return out


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buffer, format="png", dpi=fig.dpi)
    return buffer.getvalue()


def short_name(variable: str, long_name: str, width: int = 70) -> str:
    """A title's name: the long name with the variable, the long name wrapped onto a line of its own when long
    (an indicator's)."""
    if not long_name or long_name == variable:
        return variable
    name = f"{long_name} ({variable})"
    return name if len(name) <= width else "\n".join(textwrap.wrap(name, width))


def scenario_text(record: OutputRecord, attrs: dict[str, Any] | None = None) -> str:
    scenarios = str((attrs or {}).get("scenarios", record.scenario)).split()
    return " + ".join(scenarios) if scenarios else record.scenario


def window_text(record: OutputRecord) -> str:
    target, width = int(record.target_year), int(record.window_years)
    return f"{target - width + 1}-{target}"


def lon_label(x: float, _pos: object = None) -> str:
    v = (x + 180.0) % 360.0 - 180.0
    if math.isclose(v, 0.0, abs_tol=1e-9) or math.isclose(abs(v), 180.0, abs_tol=1e-9):
        return f"{abs(v):g}°"
    return f"{abs(v):g}°{'E' if v > 0 else 'W'}"


def lat_label(y: float, _pos: object = None) -> str:
    if math.isclose(y, 0.0, abs_tol=1e-9):
        return "0°"
    return f"{abs(y):g}°{'N' if y > 0 else 'S'}"


def cell_edges(centres: np.ndarray, fallback: float) -> np.ndarray:
    """Cell edges from increasing cell centres (half-way between centres, extended at both ends)."""
    if centres.size == 1:
        return np.array([centres[0] - fallback / 2, centres[0] + fallback / 2])
    mid = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[centres[0] - (mid[0] - centres[0])], mid, [centres[-1] + (centres[-1] - mid[-1])]])


def grid_spacing(*axes: np.ndarray) -> float:
    for a in axes:
        if a.size > 1:
            return float(np.median(np.diff(a)))
    return 1.0


def colour_map(variable: str) -> str:
    if variable.startswith("pr"):
        return "YlGnBu"
    if variable.startswith("tas") or variable.startswith("ts"):
        return "RdYlBu_r"
    return "viridis"


def month_axis(ax: Axes, month: np.ndarray) -> None:
    """Ticks on the first slot of each month, labelled with the month's name."""
    starts = [i + 1 for i in range(month.size) if i == 0 or month[i] != month[i - 1]]
    ax.set_xticks(starts, [MONTH_ABBR[int(month[s - 1]) - 1] for s in starts])
    ax.set_xlim(1, month.size)


def scenario_colours(scenarios: Sequence[str]) -> dict[str, tuple[str, str]]:
    extra = iter(EXTRA_COLOURS * (1 + len(scenarios)))
    return {s: SCENARIO_COLOURS.get(s) or next(extra) for s in scenarios}


def scenario_order(scenarios: Iterable[str]) -> list[str]:
    return sorted(set(scenarios), key=lambda s: (s != HISTORICAL, s))
