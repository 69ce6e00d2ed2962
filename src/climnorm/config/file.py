"""A YAML configuration file read into plain data, not yet validated: cheap (no config models imported), so that
a run can start its worker server while the models load (``climnorm.config.model.load_config`` validates it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from climnorm.errors import ConfigError


@dataclass(frozen=True)
class ConfigFile:
    """A configuration file's data (overrides applied), the folder its relative paths start from, and its name."""

    data: Any
    base_dir: Path
    source: str

    @property
    def local_engine(self) -> bool:
        """Whether the run would use the local process pool (the default engine)."""
        return not isinstance(self.data, dict) or self.data.get("engine", "local") == "local"


def read_config_file(path: Path | str, **overrides: Any) -> ConfigFile:
    """Read a YAML config file and apply the ``overrides`` that are not None."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the configuration ({err.strerror or err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    data = {} if data is None else data
    if isinstance(data, dict):
        data.update({k: v for k, v in overrides.items() if v is not None})
    return ConfigFile(data, Path(os.path.abspath(path)).parent, str(path))
