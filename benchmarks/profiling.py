"""Where climnorm's time goes: sort py-spy samples (``--format raw``, collapsed stacks) into pipeline stages.

A sample is attributed to the innermost frame that a rule recognises; rules look at the function, the file and
the text of the source line the frame is on (so a C call such as ``deflate.zlib_decompress`` is recognised by
the Python line that makes it). py-spy samples every thread that is not idle, so the stage shares are shares of
busy CPU, the main process's waiting excluded.

    python benchmarks/profiling.py profile.txt
"""

from __future__ import annotations

import linecache
import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?):(?P<line>\d+)\)$")

# (category, file suffix or "", function name or "", text in the source line or "")
WAITING = "waiting (blocked, not CPU)"
RULES: list[tuple[str, str, str, str]] = [
    (WAITING, "threading.py", "wait", ""),
    (WAITING, "selectors.py", "select", ""),
    (WAITING, "multiprocessing/connection.py", "wait", ""),
    (WAITING, "multiprocessing/connection.py", "_recv", ""),
    (WAITING, "multiprocessing/connection.py", "_recv_bytes", ""),
    (WAITING, "multiprocessing/connection.py", "_poll", ""),
    (WAITING, "queue.py", "get", ""),
    ("inflate (libdeflate, fast path)", "fastread.py", "_decode", "zlib_decompress"),
    ("raw chunk reads (pread, fast path)", "fastread.py", "_decode", "pread"),
    ("unshuffle / copy into block (fast path)", "fastread.py", "_unshuffle_into", ""),
    ("unshuffle / copy into block (fast path)", "fastread.py", "_decode", "copyto"),
    ("fast path: chunk index (h5py)", "fastread.py", "reader_for", ""),
    ("fast path: other", "fastread.py", "", ""),
    ("netCDF4/HDF5 read (inflate + unshuffle in HDF5)", "extract.py", "_read_block", "var[index]"),
    ("netCDF4/HDF5 read (inflate + unshuffle in HDF5)", "extract.py", "_read_raw", "var[index]"),
    ("fill values -> NaN (decoding)", "extract.py", "_read_block", ""),
    ("fill values -> NaN (decoding)", "extract.py", "_as_float32", ""),
    ("plausibility check", "extract.py", "<lambda>", ""),
    ("plausibility check", "extract.py", "_collect", "check[1]"),
    ("plausibility check", "extract.py", "_collect", "count_nonzero"),
    ("region extraction", "grids.py", "cut", ""),
    ("region extraction", "extract.py", "_region", ""),
    ("region extraction", "extract.py", "_collect", ""),
    ("day slots (reduce.day_means)", "reduce.py", "day_means", ""),
    ("day slots (reduce.day_means)", "extract.py", "_read_open_dataset", "concatenate"),
    ("window sums (main process)", "reduce.py", "", ""),
    ("writing outputs", "write.py", "", ""),
    ("writing outputs", "worker.py", "write_output", ""),
    ("time decoding", "timeaxis.py", "", ""),
    ("time decoding", "calendars.py", "whole_day_dates", ""),
    ("hand-off to main (spill/unspill via /dev/shm)", "extract.py", "spill_to", ""),
    ("hand-off to main (spill/unspill via /dev/shm)", "extract.py", "unspill", ""),
    ("open/close files, metadata", "extract.py", "read_file", ""),
    ("open/close files, metadata", "extract.py", "read_object", ""),
    ("open/close files, metadata", "ncobject.py", "", ""),
    ("open/close files, metadata", "grids.py", "", ""),
    ("open/close files, metadata", "extract.py", "_read_open_dataset", ""),
    ("catalog, plan, manifest", "catalog.py", "", ""),
    ("catalog, plan, manifest", "plan.py", "", ""),
    ("catalog, plan, manifest", "manifest.py", "", ""),
    ("scheduling (main process)", "pipeline.py", "", ""),
    ("process pool, events", "engines.py", "", ""),
    ("process pool, events", "progress.py", "", ""),
    ("process pool, events", "concurrent/futures", "", ""),
    ("process pool, events", "multiprocessing", "", ""),
    ("interpreter start-up, imports", "<frozen importlib._bootstrap>", "", ""),
    ("interpreter start-up, imports", "importlib", "", ""),
]


# the stages: decompression, decoding, extraction, reduction, writing (+ everything else)
STAGES: dict[str, str] = {
    "inflate (libdeflate, fast path)": "decompression",
    "raw chunk reads (pread, fast path)": "decompression",
    "unshuffle / copy into block (fast path)": "decompression",
    "fast path: chunk index (h5py)": "decompression",
    "fast path: other": "decompression",
    "netCDF4/HDF5 read (inflate + unshuffle in HDF5)": "decompression",
    "fill values -> NaN (decoding)": "decoding",
    "time decoding": "decoding",
    "plausibility check": "decoding",
    "region extraction": "extraction",
    "day slots (reduce.day_means)": "reduction",
    "window sums (main process)": "reduction",
    "writing outputs": "writing",
}


def stages(categories: dict[str, int]) -> dict[str, int]:
    """Roll categories up into the pipeline's stages (the rest is 'overhead')."""
    out: Counter[str] = Counter()
    for cat, n in categories.items():
        out[STAGES.get(cat, "overhead (start-up, open, catalog, pool, hand-off)")] += n
    return dict(out)


def _source(file: str, line: int) -> str:
    text = linecache.getline(file, line)
    if not text and not file.startswith("/"):
        for root in sys.path:
            candidate = Path(root) / file
            if candidate.exists():
                text = linecache.getline(str(candidate), line)
                break
    return text


def classify(stack: list[str]) -> str:
    """The stage of one sample (frames root first)."""
    for frame in reversed(stack):
        m = _FRAME.match(frame.strip())
        if not m:
            continue
        func, file, line = m["func"], m["file"], int(m["line"])
        for category, suffix, fname, text in RULES:
            if suffix and suffix not in file:
                continue
            if fname and func != fname and not func.endswith("." + fname):
                continue
            if text and text not in _source(file, line):
                continue
            return category
    return "other"


def categorise(raw: Path) -> dict[str, int]:
    """Samples per stage in a py-spy raw (collapsed) file."""
    counts: Counter[str] = Counter()
    for line in Path(raw).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        counts[classify(stack.split(";"))] += int(n)
    return dict(counts)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    for path in args:
        cats = categorise(Path(path))
        waiting = cats.pop(WAITING, 0)
        total = sum(cats.values()) or 1
        print(f"{path}: {total} busy samples ({waiting} more waiting, left out)")
        for cat, n in sorted(cats.items(), key=lambda kv: -kv[1]):
            print(f"  {cat:<48} {100 * n / total:5.1f} %")
        print("  by stage:")
        for stage, n in sorted(stages(cats).items(), key=lambda kv: -kv[1]):
            print(f"    {stage:<46} {100 * n / total:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
