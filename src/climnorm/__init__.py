"""climnorm: rolling climate normals from daily climate-model archives, every file read once.

The public API (the ``climnorm`` command is a thin layer over it)::

    config = climnorm.load_config("job.yaml")
    plan, manifest = climnorm.prepare(config)      # catalog and plan, no data read
    summary = climnorm.run(config)                 # RunSummary: written, skipped, failures, files read, ...
    checked, problems = climnorm.verify_outputs(config.output_dir)
    ds = climnorm.open_normals(config.output_dir, variable="tas", region="CONUS", scenario="ssp245")

Names are imported on first use, so that ``import climnorm`` stays cheap (worker processes import it too).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from climnorm._version import __version__

if TYPE_CHECKING:
    from climnorm.catalog.scan import Catalog, build_catalog
    from climnorm.config.model import Config, load_config, parse_config
    from climnorm.errors import ClimnormError, ConfigError, OutputNotFound
    from climnorm.outputs.datasets import open_normals
    from climnorm.outputs.export import export
    from climnorm.outputs.index import OutputIndex
    from climnorm.outputs.verify import verify_outputs
    from climnorm.products import ProductSpec, product, product_names
    from climnorm.records import OutputRecord
    from climnorm.runner.pipeline import prepare, run
    from climnorm.runner.summary import RunSummary
    from climnorm.synth import SynthSpec, write_archive
    from climnorm.zonal import zonal_table

#: Each public name and the module it comes from.
_PUBLIC = {
    "Catalog": "climnorm.catalog.scan",
    "build_catalog": "climnorm.catalog.scan",
    "Config": "climnorm.config.model",
    "load_config": "climnorm.config.model",
    "parse_config": "climnorm.config.model",
    "ClimnormError": "climnorm.errors",
    "ConfigError": "climnorm.errors",
    "OutputNotFound": "climnorm.errors",
    "open_normals": "climnorm.outputs.datasets",
    "export": "climnorm.outputs.export",
    "OutputIndex": "climnorm.outputs.index",
    "verify_outputs": "climnorm.outputs.verify",
    "ProductSpec": "climnorm.products",
    "product": "climnorm.products",
    "product_names": "climnorm.products",
    "OutputRecord": "climnorm.records",
    "prepare": "climnorm.runner.pipeline",
    "run": "climnorm.runner.pipeline",
    "RunSummary": "climnorm.runner.summary",
    "SynthSpec": "climnorm.synth",
    "write_archive": "climnorm.synth",
    "zonal_table": "climnorm.zonal",
}

__all__ = [
    "Catalog",
    "ClimnormError",
    "Config",
    "ConfigError",
    "OutputIndex",
    "OutputNotFound",
    "OutputRecord",
    "ProductSpec",
    "RunSummary",
    "SynthSpec",
    "__version__",
    "build_catalog",
    "export",
    "load_config",
    "open_normals",
    "parse_config",
    "prepare",
    "product",
    "product_names",
    "run",
    "verify_outputs",
    "write_archive",
    "zonal_table",
]


def __getattr__(name: str) -> Any:
    """A public name, imported on first use."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'climnorm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
