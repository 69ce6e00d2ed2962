"""Lines against target year that the change pictures share: one per scenario, gaps where targets are missing,
the periods (historical, hybrid, future) shaded behind them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from climnorm.pictures._style import LINE_STYLES, PERIOD_COLOURS, scenario_colours, scenario_order
from climnorm.records import OutputRecord
from climnorm.types import HISTORICAL

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def gapped(points: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """x, y with a NaN between target years more than one year apart, so lines do not bridge gaps."""
    xs: list[float] = []
    ys: list[float] = []
    for i, (x, y) in enumerate(points):
        if i and x - points[i - 1][0] > 1:
            xs.append(np.nan)
            ys.append(np.nan)
        xs.append(x)
        ys.append(y)
    return np.array(xs, dtype=float), np.array(ys, dtype=float)


def shade_periods(ax: Axes, records: Sequence[OutputRecord]) -> None:
    from matplotlib.transforms import blended_transform_factory

    spans: dict[str, list[int]] = {}
    for r in records:
        spans.setdefault(str(r.period), []).append(int(r.target_year))
    text_at = blended_transform_factory(ax.transData, ax.transAxes)
    for period, years in sorted(spans.items(), key=lambda kv: min(kv[1])):
        lo, hi = min(years) - 0.5, max(years) + 0.5
        ax.axvspan(lo, hi, color=PERIOD_COLOURS.get(period, "#eef3f8"), zorder=0, lw=0)
        ax.text((lo + hi) / 2, 0.98, period, transform=text_at, ha="center", va="top", fontsize=9, color="#555555")


def scenario_lines(ax: Axes, points: dict[str, list[tuple[int, float]]], *, member: bool = False) -> None:
    """One line per scenario (thin and unlabelled for a member behind its ensemble); a future scenario's line
    starts at the last historical point."""
    order = scenario_order(points)
    colours = scenario_colours(order)
    history = sorted(points.get(HISTORICAL, []))
    futures = iter(LINE_STYLES * (1 + len(order)))
    for scenario in order:
        line = sorted(points[scenario])
        if scenario != HISTORICAL and history and line and line[0][0] == history[-1][0] + 1:
            line = [history[-1], *line]
        style, marker = ("-", "o") if scenario == HISTORICAL else next(futures)
        x, y = gapped(line)
        if member:
            ax.plot(x, y, color=colours[scenario][0], lw=0.7, ls=style, alpha=0.45, zorder=2)
            continue
        ax.plot(
            x,
            y,
            color=colours[scenario][0],
            lw=1.8,
            ls=style,
            marker=marker if len(line) <= 40 else None,
            ms=4,
            mfc="none" if style != "-" else None,
            label=scenario,
            zorder=3,
        )


# ---- one call per picture (what the CLI uses) --------------------------------------------------------------
