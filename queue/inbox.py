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
single statements that are atomic on their own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import namedtuple

from sync import db

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
# Placeholders for an IN (...) list are built per chunk; SQLite allows 999 variables per statement.
_CHUNK = 500


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
    """Operations on the inbox table over one connection (the caller owns the connection)."""

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

    # -- drain side ------------------------------------------------------------------------

    def due(self, limit: int, now: float | None = None) -> list[InboxEntry]:
        """Up to ``limit`` pending jobs whose retry time has come, oldest first (a read)."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM inbox WHERE state = ? AND not_before <= ?"  # noqa: S608 - constant column list
            " ORDER BY queued_at, scene_id LIMIT ?",
            (PENDING, now if now is not None else time.time(), int(limit)),
        ).fetchall()
        return [_entry(r) for r in rows]

    def due_count(self, now: float | None = None) -> int:
        """How many pending jobs are due now (for the progress bar)."""
        return self.conn.execute(
            "SELECT count(*) FROM inbox WHERE state = ? AND not_before <= ?",
            (PENDING, now if now is not None else time.time()),
        ).fetchone()[0]

    def mark_queued(self, scene_id: int, generation: int) -> None:
        """Pending → queued for exactly this generation; call inside the feeding transaction.

        A newer edit (another generation) leaves the row pending, to be fed again.
        """
        self.conn.execute(
            "UPDATE inbox SET state = ? WHERE scene_id = ? AND state = ? AND generation = ?",
            (QUEUED, int(scene_id), PENDING, int(generation)),
        )

    def get(self, scene_id: int) -> InboxEntry | None:
        """The scene's row, or None (a read)."""
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM inbox WHERE scene_id = ?",  # noqa: S608 - constant column list
            (int(scene_id),),
        ).fetchone()
        return _entry(row) if row else None

    def rows_for(self, scene_ids: list[int]) -> dict[int, InboxEntry]:
        """The rows of these scenes, by scene id (reads in chunks; absent scenes are left out)."""
        found: dict[int, InboxEntry] = {}
        for start in range(0, len(scene_ids), _CHUNK):
            chunk = [int(i) for i in scene_ids[start : start + _CHUNK]]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT {_COLUMNS} FROM inbox WHERE scene_id IN ({marks})",  # noqa: S608 - placeholders only
                chunk,
            ):
                found[int(row[0])] = _entry(row)
        return found

    def complete(self, scene_id: int, generation: int) -> bool:
        """Acknowledge the job; a newer edit that arrived meanwhile goes back to pending.

        Call inside the transaction that records the result. Returns False when a newer
        generation was waiting (the scene will be processed again). The row keeps its ``force``
        flag: a "Sync to Plex" that arrived while this job was in flight must not be dropped (at
        worst one forced write more than needed).
        """
        gone = self.conn.execute(
            "DELETE FROM inbox WHERE scene_id = ? AND generation = ?",
            (int(scene_id), int(generation)),
        ).rowcount
        if gone:
            return True
        self.conn.execute(
            "UPDATE inbox SET state = ? WHERE scene_id = ? AND state = ?",
            (PENDING, int(scene_id), QUEUED),
        )
        return False

    def retry_later(self, scene_id: int, not_before: float, error: str, *, count_attempt: bool = True,
                    plex_wait: str | None = None) -> None:
        """Back to pending until ``not_before`` with the reason; one statement (atomic alone).

        ``count_attempt`` False is for delays that are not the scene's fault (Plex down, the
        drain stopping, a scan Plex has not finished): they never bring a scene closer to being
        given up. ``plex_wait`` is the folder the scene waits for Plex to scan.
        """
        self.conn.execute(
            "UPDATE inbox SET state = ?, not_before = ?, last_error = ?,"
            " attempts = attempts + ?, plex_wait = ? WHERE scene_id = ?",
            (PENDING, float(not_before), error, 1 if count_attempt else 0, plex_wait, int(scene_id)),
        )

    def waiting_for_plex(self, limit: int = 50) -> list[InboxEntry]:
        """Pending rows waiting for Plex to scan their folder, next try first (a read)."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM inbox WHERE state = ? AND plex_wait IS NOT NULL"  # noqa: S608 - constant column list
            " ORDER BY not_before LIMIT ?",
            (PENDING, int(limit)),
        ).fetchall()
        return [_entry(r) for r in rows]

    def return_unprocessed(self, scene_ids: list[int], not_before: float, reason: str) -> None:
        """Jobs the drain took but will not process wait again, no attempt counted.

        Only rows still ``queued`` are touched (one that a hook re-queued meanwhile is already
        pending). Call inside a transaction so that all of them go back together.
        """
        for scene_id in scene_ids:
            self.conn.execute(
                "UPDATE inbox SET state = ?, not_before = ?, last_error = ?"
                " WHERE scene_id = ? AND state = ?",
                (PENDING, float(not_before), reason, int(scene_id), QUEUED),
            )

    def make_due(self, scene_ids: list[int]) -> None:
        """Pending jobs of these scenes are due now (a user asked for them); call inside a
        transaction or alone: each chunk is one statement, idempotent."""
        for start in range(0, len(scene_ids), _CHUNK):
            chunk = [int(i) for i in scene_ids[start : start + _CHUNK]]
            marks = ",".join("?" * len(chunk))
            self.conn.execute(
                f"UPDATE inbox SET not_before = 0 WHERE state = ? AND scene_id IN ({marks})",  # noqa: S608 - placeholders only
                (PENDING, *chunk),
            )

    def park(self, scene_id: int, generation: int, state: str, error: str, detail: object = None) -> None:
        """Move the job to ``FAILED`` or ``REVIEW`` with its reason, unless a newer edit came
        (then it stays pending for that edit). One statement, atomic alone."""
        if state not in PARKED_STATES:
            raise ValueError(f"cannot park a job as {state!r}")
        self.conn.execute(
            "UPDATE inbox SET state = CASE WHEN generation = ? THEN ? ELSE ? END,"
            " last_error = ?, detail = ?, attempts = attempts + 1, not_before = 0"
            " WHERE scene_id = ?",
            (
                int(generation),
                state,
                PENDING,
                error,
                json.dumps(detail) if detail is not None else None,
                int(scene_id),
            ),
        )

    def requeue_parked(self) -> int:
        """Put failed and needs-review jobs back (the ``retry_failed`` task); one statement."""
        return self.conn.execute(
            "UPDATE inbox SET state = ?, attempts = 0, not_before = 0 WHERE state IN (?, ?)",
            (PENDING, *PARKED_STATES),
        ).rowcount

    def release_orphans(self, in_work_queue: set[int]) -> int:
        """Rows marked queued whose job is not in the work queue go back to pending.

        That happens only if the drain died between marking and handing over, or the work queue
        file was lost; without this the scene would never be synced again. Call inside a
        transaction (the drain's start).
        """
        queued = [r[0] for r in self.conn.execute("SELECT scene_id FROM inbox WHERE state = ?", (QUEUED,))]
        orphans = [sid for sid in queued if sid not in in_work_queue]
        for sid in orphans:
            self.conn.execute(
                "UPDATE inbox SET state = ? WHERE scene_id = ? AND state = ?", (PENDING, sid, QUEUED)
            )
        return len(orphans)

    def scene_ids_not_in_hand(self) -> set[int]:
        """Scenes with a row that no drain holds (every state but ``QUEUED``)."""
        return {int(r[0]) for r in self.conn.execute("SELECT scene_id FROM inbox WHERE state != ?", (QUEUED,))}

    def remove_not_in_hand(self, scene_id: int) -> None:
        """Forget the scene's row unless a drain holds it (that drain drops deleted scenes
        itself); call inside a transaction."""
        self.conn.execute("DELETE FROM inbox WHERE scene_id = ? AND state != ?", (int(scene_id), QUEUED))

    def counts(self) -> dict[str, int]:
        """Rows per state, plus pending rows still waiting for their retry time (reads)."""
        result = {PENDING: 0, QUEUED: 0, FAILED: 0, REVIEW: 0, "waiting_retry": 0}
        for state, count in self.conn.execute("SELECT state, count(*) FROM inbox GROUP BY state"):
            result[state] = count
        result["waiting_retry"] = self.conn.execute(
            "SELECT count(*) FROM inbox WHERE state = ? AND not_before > ?", (PENDING, time.time())
        ).fetchone()[0]
        return result

    def entries(self, state: str, limit: int = 50) -> list[InboxEntry]:
        """Up to ``limit`` rows in ``state``, oldest first (a read)."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM inbox WHERE state = ? ORDER BY queued_at LIMIT ?",  # noqa: S608 - constant column list
            (state, int(limit)),
        ).fetchall()
        return [_entry(r) for r in rows]
