"""Task progress as a callback: each stage of a task reports 0..1 of its own share of the bar.

A sync task scans Stash first and drains second; the drain reports its own 0..1, which the task
maps into the rest of the bar, so the bar never jumps back to 0 after the scan.
"""

from __future__ import annotations

from collections.abc import Callable

from stash import protocol

Progress = Callable[[float], None]


def band(low: float, high: float, report: Progress | None = None) -> Progress:
    """A reporter that maps 0..1 into ``low..high`` of ``report`` (Stash's bar by default)."""
    target = report or protocol.progress

    def scaled(fraction: float) -> None:
        target(low + (high - low) * min(1.0, max(0.0, float(fraction))))

    return scaled
