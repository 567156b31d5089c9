"""The per-scene inbox: the cross-process entry point of the queue, and its dedupe index.

Hooks run as many short processes at once, so the place they write to must be atomic across
processes and cheap at any size. That is one SQLite row per scene (the primary key *is* the
dedupe index): a hook's enqueue is a single upsert, and a scene with an edit pending never gets a
second row however many hooks fire. Only the draining process moves rows on into persist-queue
(``queue.work``), where persist-queue's single-process guarantees hold.

Row states: ``pending`` (waiting, maybe until ``not_before``), ``queued`` (handed to the worker),
``failed`` (permanent error, kept with its reason), ``review`` (several Plex candidates under
strict matching). ``generation`` grows with every new edit, so a worker finishing an older
generation leaves the newer edit pending instead of acknowledging it away.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import namedtuple

from sync import db

ACTIVE_STATES = ("pending", "queued")


class InboxEntry(
    namedtuple(
        "InboxEntry",
        "scene_id state generation stash_updated_at queued_at reason force attempts"
        " not_before last_error detail",
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
    " not_before, last_error, detail"
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
    """Operations on the inbox table over one connection (the caller owns the connection)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- hook side -------------------------------------------------------------------------

    def pending_force(self, scene_id: int) -> bool | None:
        """The ``force`` flag of a pending row, or None when the scene has no pending row.

        A read, so duplicate hooks (a bulk edit fires one per scene, a UI save may fire twice)
        never take the write lock.
        """
        row = self.conn.execute(
            "SELECT force FROM inbox WHERE scene_id = ? AND state = 'pending'", (int(scene_id),)
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
        generation; a failed or needs-review row becomes pending again, because the new edit may
        be what fixes it.
        """
        self.conn.execute(
            "INSERT INTO inbox (scene_id, stash_updated_at, queued_at, reason, force)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(scene_id) DO UPDATE SET"
            " generation = generation + 1,"
            " stash_updated_at = COALESCE(excluded.stash_updated_at, stash_updated_at),"
            " force = MAX(force, excluded.force),"
            " reason = CASE WHEN state = 'pending' THEN reason ELSE excluded.reason END,"
            " attempts = CASE WHEN state IN ('failed', 'review') THEN 0 ELSE attempts END,"
            " not_before = CASE WHEN state IN ('failed', 'review') THEN 0 ELSE not_before END,"
            " last_error = CASE WHEN state IN ('failed', 'review') THEN NULL ELSE last_error END,"
            " detail = CASE WHEN state IN ('failed', 'review') THEN NULL ELSE detail END,"
            " state = CASE WHEN state IN ('failed', 'review') THEN 'pending' ELSE state END",
            (int(scene_id), stash_updated_at, now if now is not None else time.time(), reason, int(force)),
        )

    def is_active(self, scene_id: int) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM inbox WHERE scene_id = ? AND state IN ('pending', 'queued')",
            (int(scene_id),),
        ).fetchone()
        return row is not None

    def has_due(self, now: float | None = None) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM inbox WHERE state = 'pending' AND not_before <= ? LIMIT 1",
            (now if now is not None else time.time(),),
        ).fetchone()
        return row is not None

    def remove(self, scene_id: int) -> None:
        """Forget the scene's job (the scene was deleted in Stash)."""
        self.conn.execute("DELETE FROM inbox WHERE scene_id = ?", (int(scene_id),))

    # -- drain side ------------------------------------------------------------------------

    def due(self, limit: int, now: float | None = None) -> list[InboxEntry]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM inbox WHERE state = 'pending' AND not_before <= ?"  # noqa: S608 - constant column list
            " ORDER BY queued_at, scene_id LIMIT ?",
            (now if now is not None else time.time(), int(limit)),
        ).fetchall()
        return [_entry(r) for r in rows]

    def mark_queued(self, scene_id: int, generation: int) -> None:
        self.conn.execute(
            "UPDATE inbox SET state = 'queued' WHERE scene_id = ? AND state = 'pending'"
            " AND generation = ?",
            (int(scene_id), int(generation)),
        )

    def get(self, scene_id: int) -> InboxEntry | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM inbox WHERE scene_id = ?",  # noqa: S608 - constant column list
            (int(scene_id),),
        ).fetchone()
        return _entry(row) if row else None

    def complete(self, scene_id: int, generation: int) -> bool:
        """Acknowledge the job; a newer edit that arrived meanwhile goes back to pending.

        Returns False when a newer generation was waiting (the scene will be processed again).
        The row keeps its ``force`` flag: a "Sync to Plex" that arrived while this job was in
        flight must not be dropped (at worst one forced write more than needed).
        """
        gone = self.conn.execute(
            "DELETE FROM inbox WHERE scene_id = ? AND generation = ?",
            (int(scene_id), int(generation)),
        ).rowcount
        if gone:
            return True
        self.conn.execute(
            "UPDATE inbox SET state = 'pending' WHERE scene_id = ? AND state = 'queued'",
            (int(scene_id),),
        )
        return False

    def retry_later(self, scene_id: int, not_before: float, error: str, *, count_attempt: bool = True) -> None:
        self.conn.execute(
            "UPDATE inbox SET state = 'pending', not_before = ?, last_error = ?,"
            " attempts = attempts + ? WHERE scene_id = ?",
            (float(not_before), error, 1 if count_attempt else 0, int(scene_id)),
        )

    def park(self, scene_id: int, generation: int, state: str, error: str, detail: object = None) -> None:
        """Move the job to ``failed`` or ``review`` with its reason, unless a newer edit came."""
        if state not in ("failed", "review"):
            raise ValueError(f"cannot park a job as {state!r}")
        self.conn.execute(
            "UPDATE inbox SET state = CASE WHEN generation = ? THEN ? ELSE 'pending' END,"
            " last_error = ?, detail = ?, attempts = attempts + 1, not_before = 0"
            " WHERE scene_id = ?",
            (
                int(generation),
                state,
                error,
                json.dumps(detail) if detail is not None else None,
                int(scene_id),
            ),
        )

    def requeue_parked(self) -> int:
        """Put failed and needs-review jobs back (the ``retry_failed`` task)."""
        return self.conn.execute(
            "UPDATE inbox SET state = 'pending', attempts = 0, not_before = 0"
            " WHERE state IN ('failed', 'review')"
        ).rowcount

    def release_orphans(self, in_work_queue: set[int]) -> int:
        """Rows marked queued whose job is not in the work queue go back to pending.

        That happens only if the drain died between marking and handing over, or the work queue
        file was lost; without this the scene would never be synced again.
        """
        queued = [r[0] for r in self.conn.execute("SELECT scene_id FROM inbox WHERE state = 'queued'")]
        orphans = [sid for sid in queued if sid not in in_work_queue]
        for sid in orphans:
            self.conn.execute(
                "UPDATE inbox SET state = 'pending' WHERE scene_id = ? AND state = 'queued'", (sid,)
            )
        return len(orphans)

    def counts(self) -> dict[str, int]:
        result = {"pending": 0, "queued": 0, "failed": 0, "review": 0, "waiting_retry": 0}
        for state, count in self.conn.execute("SELECT state, count(*) FROM inbox GROUP BY state"):
            result[state] = count
        result["waiting_retry"] = self.conn.execute(
            "SELECT count(*) FROM inbox WHERE state = 'pending' AND not_before > ?", (time.time(),)
        ).fetchone()[0]
        return result

    def entries(self, state: str, limit: int = 50) -> list[InboxEntry]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM inbox WHERE state = ? ORDER BY queued_at LIMIT ?",  # noqa: S608 - constant column list
            (state, int(limit)),
        ).fetchall()
        return [_entry(r) for r in rows]
