"""Outputs a run will not write, told to people: one line per group that shares a reason (members, variables,
regions and products merged, target years as ranges), and every one in full in the run log and `plan --json`.

A person reads warnings: 828 lines, one per member, variable, product and target, say nothing more than "the
archive ends in 2049" said once per scenario and period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from climnorm._ranges import format_ranges


@dataclass(frozen=True)
class Skip:
    """One output that will not be written: whose and which (``label`` as messages name it), ``reason`` (what a
    line of merged outputs says: the same for every output it merges) and ``detail`` (this output's own)."""

    member: str  # "ACCESS-CM2 r1i1p1f1", or "ensemble"
    variable: str
    region: str
    scenario: str
    period: str
    year: int
    product: str
    label: str
    reason: str
    detail: str = ""
    named: bool = True  # whether messages name its product (the daily normal's are not named)

    def line(self, *, show_member: bool = True) -> str:
        """The output and its own reason, in one line (the run log, `plan --json`, the run's summary)."""
        who = f"{self.member} " if show_member else ""
        return f"{who}{self.label}: skipped: {self.detail or self.reason}"


def unavailable(window: tuple[int, ...], missing: tuple[int, ...], archive: Iterable[int], min_years: int) -> str:
    """Why a window cannot make a normal, in words that hold for every target of a chain with the same cause: the
    archive ends (or begins) inside it, or years are missing from it."""
    have = sorted(archive)
    if not have:
        where = "the archive has no complete year"
    elif min(missing) > have[-1]:
        where = f"the archive ends in {have[-1]}"
    elif max(missing) < have[0]:
        where = f"the archive begins in {have[0]}"
    else:
        where = "years are missing from the archive"
    return f"{where}; a window needs {min_years} of {len(window)} years"


def _names(values: Iterable[str]) -> str:
    return ", ".join(sorted(set(values)))


def _members(labels: Iterable[str]) -> str:
    """Member labels, shortened to model names where each model has one variant among them."""
    labels = sorted(set(labels))
    models = [label.split(" ")[0] for label in labels]
    return ", ".join(models if len(set(models)) == len(models) else labels)


def grouped(skips: Iterable[Skip], *, show_members: bool = True) -> list[str]:
    """One line per scenario, period and reason: the members, variables and regions merged, the target years as
    ranges, and how many products when there are several (the product when it is one other than the daily
    normal)."""
    groups: dict[tuple[str, str, str], list[Skip]] = defaultdict(list)
    for skip in skips:
        groups[(skip.scenario, skip.period, skip.reason)].append(skip)
    lines = []
    for (scenario, period, reason), own in sorted(groups.items(), key=lambda g: (min(s.year for s in g[1]), g[0])):
        who = f"{_members(s.member for s in own)} " if show_members else ""
        products = {s.product for s in own}
        times = f" (×{len(products)} products)" if len(products) > 1 else ""
        if len(products) == 1 and own[0].named:
            times = f" {own[0].product}"
        years = format_ranges(s.year for s in own)
        lines.append(
            f"{who}{_names(s.variable for s in own)} {_names(s.region for s in own)} {scenario} {period} "
            f"{years}{times}: {reason}"
        )
    return lines
