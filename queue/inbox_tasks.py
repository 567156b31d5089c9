"""The inbox as the drain and the tasks use it: feeding the work queue, acknowledging, retry
times, parking, and the reads behind Status and the sync tasks.

Kept apart from ``queue.inbox`` only so that a hook process, which Stash waits for, does not
compile it; the contracts are the same (see ``queue.inbox``).
"""

from __future__ import annotations

import json
import time

from queue.inbox import (
    _COLUMNS,
    FAILED,
    PARKED_STATES,
    PENDING,
    QUEUED,
    REVIEW,
    Inbox,
    InboxEntry,
    _entry,
)

# Placeholders for an IN (...) list are built per chunk; SQLite allows 999 variables per statement.
_CHUNK = 500

class TaskInbox(Inbox):
    """Every inbox operation: the hook's (inherited) and the drain's and the tasks'."""


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

    def return_unprocessed(self, scene_ids: list[int], reason: str, *, last: bool = False) -> None:
        """Jobs the drain took but will not process are pending and due again, no attempt counted;
        ``last`` puts them behind every job queued so far (their ``queued_at`` becomes now).

        Only rows still ``queued`` are touched (one that a hook re-queued meanwhile is already
        pending). Call inside a transaction so that all of them go back together.
        """
        now = time.time()
        for scene_id in scene_ids:
            self.conn.execute(
                "UPDATE inbox SET state = ?, not_before = 0, last_error = ?,"
                " queued_at = CASE WHEN ? THEN ? ELSE queued_at END"
                " WHERE scene_id = ? AND state = ?",
                (PENDING, reason, 1 if last else 0, now, int(scene_id), QUEUED),
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

    def make_all_due(self, now: float) -> int:
        """Every pending job waiting for a retry time after ``now`` is due now (a person asked
        for a run); how many. One statement, atomic alone or inside a transaction."""
        return self.conn.execute(
            "UPDATE inbox SET not_before = 0 WHERE state = ? AND not_before > ?", (PENDING, float(now))
        ).rowcount

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
