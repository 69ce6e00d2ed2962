"""Turning many requested byte ranges into few requests (coalescing near ranges, splitting huge ones) and back."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """One request: bytes `[start, end)` of the object."""

    start: int
    end: int

    @property
    def length(self) -> int:
        """How many bytes the request asks for."""
        return self.end - self.start


def check_ranges(ranges: Sequence[tuple[int, int]]) -> None:
    """Raise `ValueError` for a negative offset or length (a caller's bug, not a file's problem)."""
    for offset, length in ranges:
        if offset < 0 or length < 0:
            raise ValueError(f"bad byte range (offset={offset}, length={length})")


def plan_requests(ranges: Sequence[tuple[int, int]], gap: int, max_request: int) -> list[Span]:
    """Sorted, disjoint requests that cover `ranges` (offset, length): ranges at most `gap` bytes apart share a
    request unless it would grow past `max_request`; a negative `gap` turns coalescing off (overlaps are still
    fetched once); no request exceeds `max_request`."""
    limit = max(1, max_request)
    merged: list[list[int]] = []
    for start, end in sorted({(o, o + n) for o, n in ranges if n > 0}):
        if merged:
            last = merged[-1]
            if end <= last[1]:
                continue  # already covered
            if gap >= 0 and start - last[1] <= gap and end - last[0] <= limit:
                last[1] = end
                continue
            start = max(start, last[1])
        merged.append([start, end])
    return [Span(s, min(s + limit, end)) for start, end in merged for s in range(start, end, limit)]


def cut(ranges: Sequence[tuple[int, int]], spans: Sequence[Span], data: Sequence[bytes]) -> list[bytes]:
    """The bytes of each requested range, cut out of the fetched `data` of `spans` (sorted by start)."""
    starts = [s.start for s in spans]
    views = [memoryview(d) for d in data]
    out: list[bytes] = []
    for offset, length in ranges:
        if length == 0:
            out.append(b"")
            continue
        end = offset + length
        i = bisect.bisect_right(starts, offset) - 1
        if spans[i].end >= end:  # the common case: one request holds the whole range
            out.append(bytes(views[i][offset - spans[i].start : end - spans[i].start]))
            continue
        pieces, pos = [], offset
        while pos < end:
            while spans[i].end <= pos:
                i += 1
            span = spans[i]
            stop = min(end, span.end)
            pieces.append(views[i][pos - span.start : stop - span.start])
            pos = stop
        out.append(b"".join(pieces))
    return out
