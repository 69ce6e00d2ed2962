"""The numerical core: numpy in, numpy out, no files, no logging, no configuration. A year's day-slot field (`days`),
exact rolling window sums (`sums`, with compiled loops in `_kernels`), a year's monthly, seasonal and annual
values (`periods`), smoothing of a daily normal (`smoothing`), multi-model statistics (`ensemble`).
"""
