"""Progress of a run: events into a tracker (`tracker`), shown live (`live`) through the run's event channel
(`channel`), with the process tree's CPU and memory (`monitor`)."""

from climnorm.progress.channel import ProgressChannel, T_Mode
from climnorm.progress.live import render
from climnorm.progress.monitor import MemoryMonitor, TreeStats
from climnorm.progress.tracker import Tracker

__all__ = ["MemoryMonitor", "ProgressChannel", "T_Mode", "Tracker", "TreeStats", "render"]
