"""Weights cached on disk per (polygon set, grid): ``{cache_dir}/weights-<fingerprint>.npz``, written atomically
(`climnorm._atomic`).

The fingerprint hashes the polygon file's bytes (with a shapefile's sidecars), its path, id field and layer,
and the grid's cell edges; any change to them gives a new name, so a stale cache is never read.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from climnorm._atomic import atomic_write_bytes
from climnorm.zonal.grid import Grid
from climnorm.zonal.polygons import PolygonSet
from climnorm.zonal.weights import Weights, compute_weights

log = logging.getLogger(__name__)

CACHE_DIR_NAME = "zonal-cache"
CACHE_VERSION = "zonal-weights-1"


def weights_key(polygons: PolygonSet, grid: Grid) -> str:
    """The fingerprint of the inputs of a weights matrix."""
    text = json.dumps([CACHE_VERSION, polygons.fingerprint, grid.fingerprint(), len(polygons)])
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"weights-{key}.npz"


def save_weights(path: Path, weights: Weights) -> None:
    """Write the weights beside their final name, then rename: readers never see half a file."""
    buffer = io.BytesIO()
    m = weights.matrix
    np.savez(
        buffer,
        data=m.data,
        indices=m.indices,
        indptr=m.indptr,
        shape=np.asarray(m.shape),
        polygon_area=weights.polygon_area,
        key=np.asarray(weights.key),
    )
    atomic_write_bytes(path, buffer.getvalue())


def load_weights(path: Path, key: str) -> Weights | None:
    """Cached weights, or None when the file is missing, unreadable or made for other inputs."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            shape = tuple(int(n) for n in z["shape"])
            matrix = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
            return Weights(matrix, z["polygon_area"], key, from_cache=True)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as err:
        log.warning("%s: unreadable weights cache (%s); recomputing", path, err)
        return None


def cached_weights(polygons: PolygonSet, grid: Grid, cache_dir: Path | None) -> Weights:
    """The weights of ``polygons`` on ``grid``: read from ``cache_dir`` when there, else computed and stored."""
    key = weights_key(polygons, grid)
    if cache_dir is None:
        return compute_weights(polygons, grid, key)
    path = cache_path(cache_dir, key)
    weights = load_weights(path, key)
    if weights is not None:
        log.debug("%s: reusing cached weights", path)
        return weights
    weights = compute_weights(polygons, grid, key)
    try:
        save_weights(path, weights)
    except OSError as err:
        log.warning("%s: cannot cache the weights (%s)", path, err.strerror or err)
    return weights
