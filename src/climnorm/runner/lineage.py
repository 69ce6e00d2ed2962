"""A chain's consistency: every file of one variable must agree on calendar, units and each region's grid.

The first usable file sets the reference; later files are checked against it. Units that differ but convert
unambiguously (K and degC, kg m-2 s-1 and mm day-1) are converted to the chain's units. Checks return their
problems (:class:`Problem`) for the caller to report; nothing here logs or counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from climnorm.calendars import SlotScheme
from climnorm.types import FileResult, RegionCut, T_LeapDay
from climnorm.units import converter

T_Severity = Literal["failure", "problem", "notice"]
"""failure: the file (or year) is refused and the run fails; problem: listed once in the run's summary;
notice: a warning in the log only."""


@dataclass(frozen=True)
class Problem:
    """Something the run must report about one or more files of a chain."""

    severity: T_Severity
    what: str  # the file(s) at fault
    message: str

    @property
    def text(self) -> str:
        """The one line the run reports: what, then the problem."""
        what, message = self.what, self.message
        return f"{what}: {message}"


@dataclass(frozen=True)
class Verdict:
    """Whether a file may join its chain, the unit conversion its values need, and what to report."""

    usable: bool
    conversion: tuple[float, float] = (1.0, 0.0)  # (scale, offset) to the chain's units
    problems: tuple[Problem, ...] = ()


@dataclass
class Lineage:
    """What the files of one chain have agreed on so far."""

    variable: str
    leap_day: T_LeapDay
    mask_impossible: bool = False
    scheme: SlotScheme | None = None
    units: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    grids: dict[str, RegionCut | None] = field(default_factory=dict)
    converted_from: set[str] = field(default_factory=set)

    def check(self, path: str, result: FileResult) -> Verdict:
        """Check one file's result against the chain (the first file sets the reference)."""
        if self.scheme is None:
            self.scheme = SlotScheme(result.calendar, self.leap_day)
            self.units = result.units
            self.attrs = result.attrs
        if result.calendar != self.scheme.calendar:
            message = f"calendar {result.calendar} differs from the chain's {self.scheme.calendar}; file refused"
            return Verdict(False, problems=(Problem("failure", path, message),))
        conversion = converter(result.units, self.units)
        if conversion is None:
            message = (
                f"units {result.units!r} differ from the chain's {self.units!r} and cannot be converted "
                "unambiguously; file refused"
            )
            return Verdict(False, problems=(Problem("failure", path, message),))
        problems: list[Problem] = []
        if conversion != (1.0, 0.0) and str(result.units) not in self.converted_from:
            self.converted_from.add(str(result.units))
            message = f"converting {self.variable} from {result.units!r} to the chain's {self.units!r}"
            problems.append(Problem("notice", path, message))
        refused = self._check_grids(path, result)
        if refused is not None:
            return Verdict(False, problems=(*problems, refused))
        if result.impossible:
            masked = " (masked)" if self.mask_impossible else ""
            problems.append(
                Problem("problem", path, f"{result.impossible} value(s) with {result.impossible_rule}{masked}")
            )
        return Verdict(True, conversion, tuple(problems))

    def _check_grids(self, path: str, result: FileResult) -> Problem | None:
        """Register the file's region grids; a grid that differs from the chain's refuses the file."""
        for region in result.empty_regions:
            self.grids.setdefault(region, None)
        for region, cut in result.grids.items():
            known = self.grids.setdefault(region, cut)
            if known is None or not known.same_as(cut):
                have = known.describe() if known is not None else "no cells"
                return Problem(
                    "failure",
                    path,
                    f"grid of region {region} ({cut.describe()}) differs from the rest of the chain ({have}); "
                    "file refused",
                )
        return None
