"""How long a file must be: just enough of the NetCDF-3 (classic) header to know the size its variables need, and
the signatures that tell classic from HDF5 files. The reader checks every classic file with it (a truncated
file is one line, never a read error deep in netCDF-C); `climnorm catalog --check` does too."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_SIGNATURE_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)
_NC_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}
_CLASSIC_HEADER_READ = 1 << 16


class _ShortHeader(Exception):
    """The classic header runs past the bytes read so far."""


class _ClassicHeader:
    """Just enough of a CDF-1/2/5 header reader to know how long the file must be (truncation check)."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 4
        self.version = buf[3]
        self.count_fmt = ">Q" if self.version == 5 else ">I"

    def _take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise _ShortHeader
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return int(value)

    def count(self) -> int:
        return self._take(self.count_fmt)

    def skip(self, n: int) -> None:
        self.pos += (n + 3) // 4 * 4
        if self.pos > len(self.buf):
            raise _ShortHeader

    def attributes(self) -> None:
        self._take(">I")  # NC_ATTRIBUTE or ABSENT
        for _ in range(self.count()):
            self.skip(self.count())  # name
            nc_type = self._take(">I")
            self.skip(self.count() * _NC_TYPE_SIZES.get(nc_type, 1))

    def data_end(self) -> int:
        """Smallest file size that holds every variable's data."""
        numrecs = self.count()
        self._take(">I")  # NC_DIMENSION or ABSENT
        dims = []
        for _ in range(self.count()):
            self.skip(self.count())
            dims.append(self.count())
        self.attributes()
        self._take(">I")  # NC_VARIABLE or ABSENT
        variables: list[tuple[bool, int, int]] = []  # (is_record, bytes per record or in all, begin)
        for _ in range(self.count()):
            self.skip(self.count())
            dimids = [self.count() for _ in range(self.count())]
            self.attributes()
            nc_type = self._take(">I")
            self.count()  # vsize (wrong above 4 GiB in CDF-1/2: recomputed below)
            begin = self._take(">I" if self.version == 1 else ">Q")
            is_record = bool(dimids) and dims[dimids[0]] == 0
            n = _NC_TYPE_SIZES.get(nc_type, 1)
            for d in dimids[1:] if is_record else dimids:
                n *= dims[d]
            variables.append((is_record, n, begin))
        records = [v for v in variables if v[0]]
        recsize = records[0][1] if len(records) == 1 else sum((n + 3) // 4 * 4 for _, n, _ in records)
        end = 0
        for is_record, n, begin in variables:
            if not is_record:
                end = max(end, begin + n)
            elif 0 < numrecs < 0xFFFFFFFF:  # 0xFFFFFFFF: streaming, record count unknown
                end = max(end, begin + (numrecs - 1) * recsize + n)
        return end


def classic_problem(path: Path, size: int) -> str | None:
    """For a classic NetCDF file: 'truncated' when it is shorter than its header says, else None."""

    def head(n: int) -> bytes:
        with open(path, "rb") as fh:
            return fh.read(n)

    return classic_problem_of(head, size)


def classic_problem_of(head: Callable[[int], bytes], size: int) -> str | None:
    """`classic_problem` for any bytes: ``head(n)`` gives the first n bytes (fewer at the end)."""
    want = _CLASSIC_HEADER_READ
    while True:
        buf = head(want)
        try:
            needed = _ClassicHeader(buf).data_end()
        except _ShortHeader:
            if len(buf) < want:
                return f"truncated NetCDF classic header ({size} bytes)"
            want *= 4
            continue
        except (KeyError, IndexError, struct.error):
            return "corrupt NetCDF classic header"
        if size < needed:
            return f"truncated: {size} bytes, the header needs {needed}"
        return None
