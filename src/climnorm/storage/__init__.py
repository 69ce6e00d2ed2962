"""Object storage for climnorm: list and read NetCDF inputs on S3-compatible stores (or local disk) alike.

    options = StorageOptions.from_config({"anon": True, "region": "us-west-2"})
    for info in list_objects("s3://nex-gddp-cmip6/NEX-GDDP-CMIP6", options, depth=4,
                             descend=layout_filter(NEX_LAYOUT, {"variable": {"tas"}}), suffixes=NETCDF_SUFFIXES):
        source = open_source(info.url, options, info)
        data = source.read_ranges([(0, 8), (4096, 1024)])

Needs the `s3` extra (obstore) for S3 URLs; local paths need nothing more.
"""

from climnorm.storage.errors import InputFileError, StorageError
from climnorm.storage.listing import (
    NETCDF_SUFFIXES,
    Descend,
    ObjectInfo,
    iter_objects,
    layout_filter,
    list_folders,
    list_objects,
)
from climnorm.storage.options import ReadPolicy, RetryPolicy, StorageOptions
from climnorm.storage.source import ByteSource, LocalSource, ReadStats, S3Source, SourceIdentity, open_source
from climnorm.storage.urls import ObjectPath, S3Url, is_s3_url
from climnorm.storage.view import BlockReader

NEX_LAYOUT = ("model", "scenario", "variant", "variable")
"""The folder levels under `s3://nex-gddp-cmip6/NEX-GDDP-CMIP6/`."""

__all__ = [
    "NETCDF_SUFFIXES",
    "NEX_LAYOUT",
    "BlockReader",
    "ByteSource",
    "Descend",
    "InputFileError",
    "LocalSource",
    "ObjectInfo",
    "ObjectPath",
    "ReadPolicy",
    "ReadStats",
    "RetryPolicy",
    "S3Source",
    "S3Url",
    "SourceIdentity",
    "StorageError",
    "StorageOptions",
    "is_s3_url",
    "iter_objects",
    "layout_filter",
    "list_folders",
    "list_objects",
    "open_source",
]
