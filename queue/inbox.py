"""The per-scene inbox: the cross-process entry point of the queue, and its dedupe index.

Hooks run as many short processes at once, so the place they write to must be atomic across
processes and cheap at any size. That is one SQLite row per scene (the primary key *is* the
dedupe index): a hook's enqueue is a single upsert, and a scene with an edit pending never gets a
second row however many hooks fire. Only the draining process moves rows on into persist-queue
(``queue.work``), where persist-queue's single-process guarantees hold.

Row states: ``PENDING`` (waiting, maybe until ``not_before``), ``QUEUED`` (handed to the worker),
``FAILED`` (permanent error, kept with its reason), ``REVIEW`` (several Plex candidates under
strict matching). ``generation`` grows with every new edit, so a worker finishing an older
generation leaves the newer edit pending instead of acknowledging it away.

Every method runs on the caller's connection. Methods documented "call inside a transaction" are
single statements meant to join one (``sync.db.transaction``); the others are plain reads, or
single statements that are atomic on their own. ``Inbox`` holds what a hook and the lease need;
the drain's and the tasks' operations are in ``queue.inbox_tasks.TaskInbox`` (a hook process
compiles only this module: Stash waits for it).
"""

from __future__ import annotations

import os
import time
from collections import namedtuple

from sync import db

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

PENDING = "pending"
QUEUED = "queued"
FAILED = "failed"
REVIEW = "review"
ACTIVE_STATES = (PENDING, QUEUED)
PARKED_STATES = (FAILED, REVIEW)

INBOX = db.register(db.Table("inbox", """
CREATE TABLE IF NOT EXISTS inbox (
    scene_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'pending',
    generation INTEGER NOT NULL DEFAULT 1,
    stash_updated_at TEXT,
    queued_at REAL NOT NULL,
    reason TEXT NOT NULL DEFAULT 'hook',
    force INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    detail TEXT,
    plex_wait TEXT
);
CREATE INDEX IF NOT EXISTS inbox_due ON inbox(state, not_before)
""", (
    # Added after the first release: the folder a scene waits for Plex to scan (None: not waiting).
    ("plex_wait", "ALTER TABLE inbox ADD COLUMN plex_wait TEXT"),
)))


class InboxEntry(
    namedtuple(
        "InboxEntry",
        "scene_id state generation stash_updated_at queued_at reason force attempts"
        " not_before last_error detail plex_wait",
        defaults=(None,),
    )
):
    """One scene's row (a namedtuple: the hook imports this module, dataclasses is slow to load)."""

    __slots__ = ()

    def job(self) -> dict:
        """The JSON-serialisable job handed to persist-queue (never a key named ``pqid``)."""
        return {
            "scene_id": self.scene_id,
            "generation": self.generation,
            "stash_updated_at": self.stash_updated_at,
            "queued_at": self.queued_at,
            "reason": self.reason,
            "force": self.force,
        }


_COLUMNS = (
    "scene_id, state, generation, stash_updated_at, queued_at, reason, force, attempts,"
    " not_before, last_error, detail, plex_wait"
)


def _entry(row: tuple) -> InboxEntry:
    values = list(row)
    values[6] = bool(values[6])
    return InboxEntry(*values)


def database_path(queue_path: str | os.PathLike[str]) -> str:
    """Accept the data directory or the database file itself."""
    path = os.fspath(queue_path)
    return os.path.join(path, db.DB_NAME) if os.path.isdir(path) else path


def is_scene_in_queue(queue_path: str | os.PathLike[str], scene_id: int) -> bool:
    """Whether the scene already has a pending or in-progress job (an indexed lookup)."""
    path = database_path(queue_path)
    if not os.path.exists(path):
        return False
    conn = db.connect(path)
    try:
        return Inbox(conn).is_active(scene_id)
    finally:
        conn.close()


class Inbox:
    """The inbox table as hooks and the lease use it, over one connection (the caller owns it)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        db.ensure(conn, INBOX)
        self.conn = conn

    # -- hook side -------------------------------------------------------------------------

    def pending_force(self, scene_id: int, now: float | None = None) -> bool | None:
        """The ``force`` flag of a pending row that is due, or None when the scene has none.

        A read, so duplicate hooks (a bulk edit fires one per scene, a UI save may fire twice)
        never take the write lock. A row waiting for a retry time does not count: a new edit
        makes it due (and may need a drain to be asked for).
        """
        row = self.conn.execute(
            "SELECT force FROM inbox WHERE scene_id = ? AND state = ? AND not_before <= ?",
            (int(scene_id), PENDING, now if now is not None else time.time()),
        ).fetchone()
        return None if row is None else bool(row[0])

    def upsert(
        self,
        scene_id: int,
        *,
        stash_updated_at: str | None,
        reason: str,
        force: bool = False,
        now: float | None = None,
    ) -> None:
        """Record that the scene has an edit for Plex; call inside a transaction.

        A new row is pending. An existing row keeps its place (``queued_at``) and gets a new
        generation (so an in-flight job for the older one cannot acknowledge it away); a failed
        or needs-review row becomes pending again, and a pending one waiting for a retry time is
        due at once, because the new edit may be what fixes it.
        Not idempotent by design: every call is one more generation.
        """
        self.conn.execute(
            # ?6 = pending, ?7 = failed, ?8 = review (numbered, each used several times).
            "INSERT INTO inbox (scene_id, stash_updated_at, queued_at, reason, force, state)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            " ON CONFLICT(scene_id) DO UPDATE SET"
            " generation = generation + 1,"
            " stash_updated_at = COALESCE(excluded.stash_updated_at, stash_updated_at),"
            " force = MAX(force, excluded.force),"
            " reason = CASE WHEN state = ?6 THEN reason ELSE excluded.reason END,"
            " attempts = CASE WHEN state IN (?7, ?8) THEN 0 ELSE attempts END,"
            " not_before = CASE WHEN state IN (?6, ?7, ?8) THEN 0 ELSE not_before END,"
            " plex_wait = NULL,"
            " last_error = CASE WHEN state IN (?7, ?8) THEN NULL ELSE last_error END,"
            " detail = CASE WHEN state IN (?7, ?8) THEN NULL ELSE detail END,"
            " state = CASE WHEN state IN (?7, ?8) THEN ?6 ELSE state END",
            (int(scene_id), stash_updated_at, now if now is not None else time.time(), reason,
             int(force), PENDING, FAILED, REVIEW),
        )

    def is_active(self, scene_id: int) -> bool:
        """Whether the scene has a pending or in-progress job (an indexed read)."""
        row = self.conn.execute(
            "SELECT 1 FROM inbox WHERE scene_id = ? AND state IN (?, ?)", (int(scene_id), *ACTIVE_STATES)
        ).fetchone()
        return row is not None

    def has_due(self, now: float | None = None) -> bool:
        """Whether any pending job's retry time has come (a read; the drain's "anything left?")."""
        row = self.conn.execute(
            "SELECT 1 FROM inbox WHERE state = ? AND not_before <= ? LIMIT 1",
            (PENDING, now if now is not None else time.time()),
        ).fetchone()
        return row is not None

    def remove(self, scene_id: int) -> None:
        """Forget the scene's job, whatever its state (the scene was deleted in Stash); one
        statement, idempotent."""
        self.conn.execute("DELETE FROM inbox WHERE scene_id = ?", (int(scene_id),))

    def get(self, scene_id: int) -> InboxEntry | None:
        """The scene's row, or None (a read)."""
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM inbox WHERE scene_id = ?",  # noqa: S608 - constant column list
            (int(scene_id),),
        ).fetchone()
        return _entry(row) if row else None
