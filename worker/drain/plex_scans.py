"""Partial scans: asking Plex to scan the folders of files it has not got, and waiting for them
without blocking Stash.

Stash runs one job at a time, so a drain that waits holds up every scan and identify queued
behind it. The wait is therefore bounded (``MAX_WAIT_S`` per drain in all) and lasts only while
Plex reports the scans running (``/activities``). One request per folder per drain: a hundred new
files in one folder cost one scan. Each folder's state decides how its scenes' attempts count:
a scene is charged an attempt only once a scan of its folder was asked for and finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from plex.errors import PlexAuthError, PlexError
from plex.session import PlexSession
from stash import protocol

MAX_WAIT_S = 60.0
POLL_S = 1.0
# A scan Plex has not shown as running this long after the request is taken as done already.
START_GRACE_S = 3.0

ASKED, FINISHED, UNFINISHED, REFUSED = "asked", "finished", "unfinished", "refused"


class PlexScans:
    """The scans one drain asked for, and the scenes waiting on each (section, folder)."""

    def __init__(self, plex: PlexSession, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.plex = plex
        self.clock = clock
        self.sleep = sleep
        self.waiting: dict[tuple[int, str], set[int]] = {}
        self.state: dict[tuple[int, str], str] = {}
        self.waited_s = 0.0

    def status(self, section_key: int, folder: str) -> str | None:
        """None (not asked in this drain), ASKED, FINISHED, UNFINISHED or REFUSED."""
        return self.state.get((section_key, folder))

    def wait_for(self, section_key: int, folder: str, scene_id: int) -> None:
        self.waiting.setdefault((section_key, folder), set()).add(scene_id)

    def has_new(self) -> bool:
        """Folders with waiting scenes that this drain has not asked Plex to scan yet."""
        return any(key not in self.state for key in self.waiting)

    def run(self) -> list[int]:
        """Ask for every new folder's scan, wait while Plex runs them (bounded), and return the
        scenes whose folder was scanned, to be tried again in this drain."""
        asked = [key for key in self.waiting if key not in self.state]
        for section_key, folder in asked:
            try:
                self.plex.request_scan(section_key, folder)
                self.state[(section_key, folder)] = ASKED
            except PlexAuthError:
                raise
            except PlexError as exc:
                # The scenes stay queued with their retry time; nothing is lost.
                self.state[(section_key, folder)] = REFUSED
                protocol.warning(f"Plex did not take the request to scan {folder} ({exc}); "
                                 "the scenes waiting for it stay queued")
        requested = [key for key in asked if self.state[key] == ASKED]
        if not requested:
            return []
        files = sum(len(self.waiting[key]) for key in requested)
        protocol.info(f"asked Plex to scan {len(requested)} folder(s) for {files} new file(s)")
        finished = self._wait({section for section, _ in requested}, files)
        self.plex.check_changes()  # the new items, without a full listing
        due: list[int] = []
        for key in requested:
            if key[0] in finished:
                self.state[key] = FINISHED
                due.extend(sorted(self.waiting[key]))
            else:
                self.state[key] = UNFINISHED
        return due

    def _wait(self, sections: set[int], files: int) -> set[int]:
        """Wait while Plex reports scans of these sections running; the sections that finished."""
        started = self.clock()
        seen_running: set[int] = set()
        told = False
        while True:
            running = self.plex.scanning_sections() & sections
            seen_running |= running
            elapsed = self.clock() - started
            if not running and (seen_running or elapsed >= START_GRACE_S):
                break
            if self.waited_s + elapsed >= MAX_WAIT_S:
                protocol.info(f"Plex is still scanning after {self.waited_s + elapsed:.0f}s; the "
                              "remaining new files are tried again by a later drain")
                break
            if not told:
                protocol.info(f"waiting for Plex to scan {files} new file(s)")
                told = True
            self.sleep(POLL_S)
        self.waited_s += self.clock() - started
        return sections - running
