"""Who drains, and whether someone must ask Stash for a drain: one row in the ``drain`` table,
and ``enqueue_scenes``, the one way into the queue, which decides that with every enqueue.

Stash runs plugin tasks one at a time, but a user can still start a second drain by hand, and a
killed drain leaves no one to say it stopped. The lease (holder, heartbeat, expiry) makes draining
single-holder across processes without fcntl (Stash runs on Windows too); a holder that stops
renewing loses it when it expires, and on POSIX a holder whose process is gone loses it at once.

The wake-up rule has to survive a drain that finishes just as a hook enqueues. Both sides decide
inside BEGIN IMMEDIATE transactions on this row, so they are ordered: a hook that commits before
the drain's final check is seen by that check; a hook that commits after it sees no holder and
asks Stash for a new drain.
"""

from __future__ import annotations

import os
import time
from _socket import gethostname  # what socket.gethostname is, without the socket module's imports
from collections import namedtuple

from queue.inbox import Inbox
from sync import db

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

DRAIN = db.register(db.Table("drain", """
CREATE TABLE IF NOT EXISTS drain (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    heartbeat REAL,
    expires REAL,
    wake_requested_at REAL
);
INSERT OR IGNORE INTO drain(id) VALUES (1)
"""))

LEASE_TTL_S = 30.0
# A drain asked for but not yet started (Stash's job queue may be busy with a scan) is trusted
# for this long; after that the next hook asks again, in case the request was lost.
WAKE_TRUST_S = 120.0


LeaseInfo = namedtuple("LeaseInfo", "holder heartbeat expires wake_requested_at")


def new_holder_id() -> str:
    return f"{gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def _holder_is_dead(holder: str) -> bool:
    """True only when certain: same host, POSIX, and the process no longer exists."""
    if os.name != "posix":
        return False  # os.kill(pid, 0) would terminate the process on Windows.
    try:
        host, pid_text, _ = holder.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def read(conn: sqlite3.Connection) -> LeaseInfo:
    """The lease row as it is now (a read; the caller's transaction makes it consistent)."""
    db.ensure(conn, DRAIN)
    row = conn.execute(
        "SELECT holder, heartbeat, expires, wake_requested_at FROM drain WHERE id = 1"
    ).fetchone()
    return LeaseInfo(*row) if row else LeaseInfo(None, None, None, None)


def _held_by_other(info: LeaseInfo, holder: str, now: float) -> bool:
    if not info.holder or info.holder == holder:
        return False
    if (info.expires or 0) <= now:
        return False
    return not _holder_is_dead(info.holder)


def acquire(conn: sqlite3.Connection, holder: str, *, ttl: float = LEASE_TTL_S) -> LeaseInfo | None:
    """Take the lease; returns None when another live drain holds it (the current info else).

    Atomic (one BEGIN IMMEDIATE transaction); taking a lease this holder already has renews it.
    """
    db.ensure(conn, DRAIN)

    def work(c: sqlite3.Connection) -> LeaseInfo | None:
        now = time.time()
        info = read(c)
        if _held_by_other(info, holder, now):
            return None
        # Starting consumes the pending wake request: edits from now on are this drain's.
        c.execute(
            "UPDATE drain SET holder = ?, heartbeat = ?, expires = ?, wake_requested_at = NULL"
            " WHERE id = 1",
            (holder, now, now + ttl),
        )
        return info

    return db.transaction(conn, work)


def renew(conn: sqlite3.Connection, holder: str, *, ttl: float = LEASE_TTL_S) -> bool:
    """Extend the lease; False means it was lost (expired and taken) and work must stop.

    One statement, atomic alone, retried while the database is locked.
    """
    db.ensure(conn, DRAIN)
    now = time.time()
    changed = db.with_retry(
        lambda: conn.execute(
            "UPDATE drain SET heartbeat = ?, expires = ? WHERE id = 1 AND holder = ?",
            (now, now + ttl, holder),
        ).rowcount
    )
    return bool(changed)


def release_if_idle(conn: sqlite3.Connection, holder: str) -> bool:
    """Release the lease unless due work remains; True when released (the drain may end).

    Atomic with the "anything due?" check, which is what orders it against a hook's enqueue.
    """
    db.ensure(conn, DRAIN)

    def work(c: sqlite3.Connection) -> bool:
        if Inbox(c).has_due():
            return False
        c.execute(
            "UPDATE drain SET holder = NULL, heartbeat = NULL, expires = NULL WHERE id = 1"
            " AND holder = ?",
            (holder,),
        )
        return True

    return db.transaction(conn, work)


def release(conn: sqlite3.Connection, holder: str) -> None:
    """Release unconditionally (stopping early: Plex down, wrong token, cancelled).

    Idempotent; a lease another holder took meanwhile is left alone.
    """
    db.ensure(conn, DRAIN)
    db.with_retry(
        lambda: conn.execute(
            "UPDATE drain SET holder = NULL, heartbeat = NULL, expires = NULL WHERE id = 1"
            " AND holder = ?",
            (holder,),
        )
    )


def enqueue_scenes(
    conn: sqlite3.Connection, scene_ids: list[tuple[int, str | None]], *, reason: str, force: bool = False
) -> bool:
    """Upsert the scenes (id, Stash ``updated_at``) and decide, in the same transaction, whether
    the caller must ask Stash for a drain (True). Atomic: all rows and the wake decision or none.

    The hook, the rename hooks, the sync tasks and a drain's own catch-up all queue work through
    here, so the wake-up rule below is always decided with the enqueue it belongs to.
    """

    def work(c: sqlite3.Connection) -> bool:
        inbox = Inbox(c)
        now = time.time()
        for scene_id, stamp in scene_ids:
            inbox.upsert(scene_id, stash_updated_at=stamp, reason=reason, force=force, now=now)
        return claim_wake(c, now)

    return db.transaction(conn, work)


def claim_wake(conn: sqlite3.Connection, now: float | None = None) -> bool:
    """Call inside the hook's transaction, after its upsert: must this hook ask for a drain?

    No if a live drain holds the lease (it will see the row before it ends), or a drain was
    asked for recently and has not started yet. Otherwise the request is recorded and the
    caller asks Stash.
    """
    db.ensure(conn, DRAIN)
    now = now if now is not None else time.time()
    info = read(conn)
    if info.holder and (info.expires or 0) > now and not _holder_is_dead(info.holder):
        return False
    if info.wake_requested_at and now - info.wake_requested_at < WAKE_TRUST_S:
        return False
    conn.execute("UPDATE drain SET wake_requested_at = ? WHERE id = 1", (now,))
    return True


def forget_wake(conn: sqlite3.Connection) -> None:
    """Asking Stash failed: clear the request so the next hook asks again (idempotent)."""
    db.ensure(conn, DRAIN)
    db.with_retry(lambda: conn.execute("UPDATE drain SET wake_requested_at = NULL WHERE id = 1"))
