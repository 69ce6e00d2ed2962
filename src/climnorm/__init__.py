"""climnorm: rolling daily climate normals from daily climate-model archives."""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("climnorm")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "open_normals"]


def __getattr__(name: str) -> Any:
    """``climnorm.open_normals``, imported on first use (xarray is not needed to run the job)."""
    if name == "open_normals":
        from climnorm.datasets import open_normals

        return open_normals
    raise AttributeError(f"module 'climnorm' has no attribute {name!r}")
