"""The run's event channel: a queue every worker can write to, and whoever consumes it (a display process, a
callback thread in this process, or nobody)."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
from collections.abc import Callable
from multiprocessing.managers import SyncManager
from typing import IO, Any, Literal

from climnorm.events import T_Event
from climnorm.progress.live import STOP, display_loop, ignore_sigint

T_Mode = Literal["auto", "rich", "plain", "none"]


class ProgressChannel:
    """The run's event queue and whoever consumes it: a display process, a callback thread, or nobody."""

    def __init__(
        self,
        mode: T_Mode = "auto",
        *,
        callback: Callable[[T_Event], None] | None = None,
        workers: int | None = None,
        interval: float = 5.0,
        stream: IO[str] | None = None,
    ) -> None:
        if mode == "auto":
            mode = "rich" if (stream or sys.stderr).isatty() else "plain"
        self.mode = mode
        self.ctx = mp.get_context("spawn")
        # a manager queue: each writer has its own connection, so a worker killed mid-write cannot leave a
        # shared lock held and block the other workers (a plain multiprocessing.Queue can)
        self._manager: Any = None
        self.queue: Any = None
        if callback is not None or mode in ("rich", "plain"):
            self._manager = SyncManager(ctx=self.ctx)
            self._manager.start(ignore_sigint)
            self.queue = self._manager.Queue()
        self._callback = callback
        self._process: Any = None
        self._thread: threading.Thread | None = None
        if callback is not None:
            self._thread = threading.Thread(target=self._forward, name="climnorm-events", daemon=True)
            self._thread.start()
        elif mode in ("rich", "plain"):
            self._process = self.ctx.Process(
                target=display_loop,
                args=(self.queue, mode, os.getpid(), workers, interval, stream if stream is not None else None),
                name="climnorm-progress",
                daemon=True,
            )
            self._process.start()

    @property
    def active(self) -> bool:
        return self._thread is not None or self._process is not None

    def send(self, event: T_Event) -> None:
        if self.active:
            self.queue.put(event)

    def _forward(self) -> None:
        assert self._callback is not None
        while True:
            event = self.queue.get()
            if isinstance(event, str) and event == STOP:
                return
            self._callback(event)

    def close(self) -> None:
        """Tell the consumer the run is over and wait for it to show the last state."""
        if not self.active:
            return
        self.queue.put(STOP)
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._process is not None:
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.terminate()
        self._manager.shutdown()
