"""The local engine's process context: a forkserver preloaded with the workers' modules, startable ahead of the pool
so that its imports (about half a second) overlap the run's own start-up instead of delaying the first task."""

from __future__ import annotations

import logging
import multiprocessing as mp
from multiprocessing import forkserver

from climnorm.engines.worker import STAGE_MODULES

log = logging.getLogger(__name__)

#: Imported once, in the server: the worker function's module, the task functions and the stage modules they run.
PRELOAD = ["climnorm.engines.local", "climnorm.engines.tasks", *STAGE_MODULES, "netCDF4", "numpy"]


def context() -> mp.context.BaseContext:
    """forkserver: workers start from a clean, preloaded server rather than a fork of a threaded parent."""
    try:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    except ValueError:  # pragma: no cover - platforms without forkserver
        return mp.get_context("spawn")


def start_early() -> None:
    """Start the server now (it then imports while this process goes on); a no-op if it runs already."""
    if context().get_start_method() != "forkserver":  # pragma: no cover - platforms without forkserver
        return
    try:
        forkserver.ensure_running()
    except OSError as err:  # the pool starts it again, and reports the error, when it needs it
        log.debug("could not start the forkserver early: %s", err)
