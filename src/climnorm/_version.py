"""The package's version, kept here so that importing climnorm does not read installed metadata (30 ms)."""

__version__ = "0.1.0"
