"""Tests of runner.lineage: a chain's files agree on calendar, units and grids, and checks return their problems."""

from __future__ import annotations

import numpy as np

from climnorm.runner.lineage import Lineage
from climnorm.types import Coord, FileResult, RegionCut


def _cut(lats: list[float]) -> RegionCut:
    lat = np.array(lats)
    coords = (Coord("lat", ("lat",), lat), Coord("lon", ("lon",), np.array([10.0, 11.0])))
    return RegionCut("R", (np.arange(lat.size), np.arange(2)), None, ("lat", "lon"), coords)


def _result(
    calendar: str = "noleap", units: str = "K", lats: tuple[float, ...] = (1.0, 2.0), **more: object
) -> FileResult:
    return FileResult(path="f.nc", calendar=calendar, units=units, attrs={}, grids={"R": _cut(list(lats))}, **more)


def test_the_first_file_sets_the_reference() -> None:
    lineage = Lineage("tas", "calendar_day")
    verdict = lineage.check("a.nc", _result())
    assert verdict.usable and verdict.conversion == (1.0, 0.0) and verdict.problems == ()
    assert lineage.scheme is not None and lineage.scheme.nslots == 365 and lineage.units == "K"


def test_another_calendar_is_refused_with_one_failure() -> None:
    lineage = Lineage("tas", "calendar_day")
    lineage.check("a.nc", _result())
    verdict = lineage.check("b.nc", _result(calendar="360_day"))
    assert not verdict.usable
    [problem] = verdict.problems
    assert problem.severity == "failure" and problem.what == "b.nc"
    assert problem.text == "b.nc: calendar 360_day differs from the chain's noleap; file refused"


def test_convertible_units_convert_and_are_noticed_once() -> None:
    lineage = Lineage("tas", "calendar_day")
    lineage.check("a.nc", _result(units="K"))
    first = lineage.check("b.nc", _result(units="degC"))
    assert first.usable and first.conversion == (1.0, 273.15)
    assert [p.severity for p in first.problems] == ["notice"] and "converting tas from 'degC'" in first.problems[0].text
    again = lineage.check("c.nc", _result(units="degC"))
    assert again.usable and again.conversion == (1.0, 273.15) and again.problems == ()
    refused = lineage.check("d.nc", _result(units="m s-1"))
    assert not refused.usable and "cannot be converted unambiguously" in refused.problems[0].message


def test_a_different_grid_is_refused_and_impossible_values_are_a_problem() -> None:
    lineage = Lineage("pr", "calendar_day", mask_impossible=True)
    lineage.check("a.nc", _result(units="kg m-2 s-1"))
    moved = lineage.check("b.nc", _result(units="kg m-2 s-1", lats=(1.5, 2.5)))
    assert not moved.usable and "grid of region R (lat=2 x lon=2) differs" in moved.problems[0].message
    odd = lineage.check("c.nc", _result(units="kg m-2 s-1", impossible=3, impossible_rule="negative precipitation"))
    assert odd.usable and [(p.severity, p.message) for p in odd.problems] == [
        ("problem", "3 value(s) with negative precipitation (masked)")
    ]
