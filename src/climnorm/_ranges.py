"""Years as compact text: [1950, 1951, 1952, 1960] -> "1950-1952, 1960" (messages, attributes, tables)."""

from __future__ import annotations

from collections.abc import Iterable


def year_ranges(years: Iterable[int]) -> list[tuple[int, int]]:
    """Compress years into sorted inclusive ranges: [1950, 1951, 1952, 1960] -> [(1950, 1952), (1960, 1960)]."""
    ranges: list[tuple[int, int]] = []
    for y in sorted(set(years)):
        if ranges and y == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], y)
        else:
            ranges.append((y, y))
    return ranges


def format_range(r: tuple[int, int]) -> str:
    """(1950, 1979) -> "1950-1979"; (1980, 1980) -> "1980"."""
    return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"


def format_ranges(years: Iterable[int]) -> str:
    """Years as text: "1950-1979, 1981, 1983-2014"; "" when there are none."""
    return ", ".join(format_range(r) for r in year_ranges(years))
