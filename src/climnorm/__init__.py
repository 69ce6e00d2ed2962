"""climnorm: rolling daily climate normals from daily climate-model archives."""

from typing import Any

from climnorm._version import __version__

__all__ = ["__version__", "open_normals"]


def __getattr__(name: str) -> Any:
    """``climnorm.open_normals``, imported on first use (xarray is not needed to run the job)."""
    if name == "open_normals":
        from climnorm.outputs.datasets import open_normals

        return open_normals
    raise AttributeError(f"module 'climnorm' has no attribute {name!r}")
