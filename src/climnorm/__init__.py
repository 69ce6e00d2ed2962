"""climnorm: rolling daily climate normals from daily climate-model archives."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("climnorm")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
