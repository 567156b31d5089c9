"""What a drain does once nothing is in hand, before it lets go of the queue.

1. The partial scans its jobs asked for: Plex is asked to scan each new folder once, the drain
   waits (bounded) while Plex scans, and the scenes whose folder was scanned are tried again in
   this same drain.
2. The Plex collections of the groups whose scenes it wrote get their group's synopsis and front
   image (``worker.drain.group_collections``), once per group.
3. Once per drain, convergence: what changed in Stash without a hook since the *Sync recent*
   cursor (one request when nothing did), and what changed in Plex since PlexSync wrote it (one
   listing per library), of which a bounded number of scenes is queued for a check.
3. Once per drain, with ``watch_state`` on, the play-state exchange (``watch_state.py``): plays
   and resume points made on one side since the last look are written to the other.

Every drain does this, whatever started it, so nothing waits for a manual task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plex.errors import PlexAuthError, PlexError
from plex.session import PlexSession
from queue.inbox_tasks import TaskInbox
from stash import protocol
from stash.graphql import StashError
from sync import db
from sync.ledger import Ledger
from worker.context import TaskContext
from worker.drain.drift import queue_drifted
from worker.drain.group_collections import GroupCollectionWriter
from worker.drain.plex_scans import PlexScans
from worker.drain.recent import catch_up
from worker.drain.watch_state import exchange


class DrainEnd:
    """The end-of-drain work of one drain."""

    def __init__(self, ctx: TaskContext, plex: PlexSession, scans: PlexScans, synced_now: dict[int, str], *,
                 groups: GroupCollectionWriter | None = None,
                 still_holding: Callable[[], bool] = lambda: True) -> None:
        """``synced_now``: scene → the updated_at this drain put in Plex (the catch-up skips those);
        ``groups``: the group collections noted by the drain's writes; ``still_holding`` renews the
        drain's lease, False once another drain took it over."""
        self.ctx = ctx
        self.groups = groups
        self.still_holding = still_holding
        self.synced_now = synced_now
        self.plex = plex
        self.scans = scans
        self.converged = False
        self.report: dict[str, Any] = {}

    def found_work(self) -> bool:
        """True when scans or the convergence check made work due (the drain goes on).

        Raises PlexAuthError (the token was refused): the drain stops with that error.
        """
        self._write_group_collections()
        if self.scans.has_new():
            due = self._run_scans()
            if due:
                db.transaction(self.ctx.conn, lambda c: TaskInbox(c).make_due(due))
                return True
        if self.converged:
            return False
        self.converged = True
        return self._converge() > 0

    def _write_group_collections(self) -> None:
        if self.groups is None:
            return
        try:
            written = self.groups.flush()
        except PlexAuthError:
            raise
        except (PlexError, StashError) as exc:
            protocol.warning(f"the Plex collections of this drain's groups were not written ({exc}); "
                             "the next write to one of their scenes, or Sync all, tries again")
            return
        if written:
            self.report["group_collection_writes"] = self.report.get("group_collection_writes", 0) + written

    def _run_scans(self) -> list[int]:
        try:
            return self.scans.run()
        except PlexAuthError:
            raise
        except PlexError as exc:
            protocol.warning(f"waiting for Plex's scans failed ({exc}); the new files are tried again later")
        return []

    def _converge(self) -> int:
        """Queue what changed in Stash without a hook and what drifted in Plex; how many."""
        queued = 0
        try:
            found = catch_up(self.ctx, self.synced_now)
            queued += int(found.get("queued") or 0)
            self.report["stash_changes"] = found.get("queued", 0)
        except StashError as exc:
            protocol.debug(f"catch-up skipped: {exc}")
        try:
            self.plex.check_changes()
        except PlexAuthError:
            raise
        except PlexError as exc:
            protocol.debug(f"the check for edits made in Plex was skipped: {exc}")
        drifted = queue_drifted(Ledger(self.ctx.conn), self.ctx.conn)
        if drifted:
            self.report["plex_drift"] = drifted
            protocol.info("changed in Plex since PlexSync wrote them: "
                          + ", ".join(f"{n} {kind}" for kind, n in drifted.items()) + "; checking them")
        self._exchange_watch_state()
        return queued + sum(drifted.values())

    def _exchange_watch_state(self) -> None:
        """Plays and resume points both ways (nothing at all with watch_state off)."""
        try:
            watched = exchange(self.ctx, self.plex, self.still_holding)
        except PlexAuthError:
            raise
        except (PlexError, StashError) as exc:
            protocol.warning(f"watch state: the exchange stopped ({exc}); the next drain continues it")
            return
        if watched:
            self.report["watch_state"] = watched
