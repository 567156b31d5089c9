"""Putting scenes in the inbox and deciding whether Stash must start a drain: one transaction.

The hook, the rename hooks, the sync tasks and a drain's own catch-up all queue work through
this one function, so the wake-up rule (``queue.lease.claim_wake``) is always decided in the same
transaction as the enqueue it belongs to.
"""

from __future__ import annotations

import sqlite3
import time

from queue import lease
from queue.inbox import Inbox
from sync import db


def enqueue_scenes(
    conn: sqlite3.Connection, scene_ids: list[tuple[int, str | None]], *, reason: str, force: bool = False
) -> bool:
    """Upsert the scenes (id, Stash ``updated_at``) and decide, in the same transaction, whether
    the caller must ask Stash for a drain (True). Atomic: all rows and the wake decision or none.
    """

    def work(c: sqlite3.Connection) -> bool:
        inbox = Inbox(c)
        now = time.time()
        for scene_id, stamp in scene_ids:
            inbox.upsert(scene_id, stash_updated_at=stamp, reason=reason, force=force, now=now)
        return lease.claim_wake(c, now)

    return db.transaction(conn, work)
