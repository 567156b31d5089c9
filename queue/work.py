"""The drain's work queue: persist-queue's SQLiteAckQueue, opened only by the lease holder.

The inbox (``queue.inbox``) is the cross-process queue; this is the hand-over between the
drain's feeding thread and its worker thread, persisted so that a kill -9 mid-job loses nothing.
persist-queue is safe here because exactly one process ever opens it (the lease holder), which
is what makes ``auto_resume=True`` correct: every row left "unacked" belongs to a dead drain and
is handed out again. A row lost anyway (power cut before an fsync, a deleted file) is recovered
from the inbox: its scene is still ``queued`` there and ``Inbox.release_orphans`` sets it back.

Jobs are JSON (never pickle), and never contain a key named ``pqid`` (persist-queue would take
it for its own row id). Acked rows are deleted as the drain goes, so the file stays small.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

WORK_DIR = "work"


class WorkQueue:
    """A thin wrapper with explicit ids: ack/nack by row id, never by object identity."""

    def __init__(self, data_dir: Path | str) -> None:
        from persistqueue.serializers import json as json_serializer
        from persistqueue.sqlackqueue import SQLiteAckQueue

        self.path = Path(data_dir) / WORK_DIR
        # Created here, not by persist-queue (its exists-then-makedirs races).
        os.makedirs(self.path, exist_ok=True)
        self._queue = SQLiteAckQueue(
            str(self.path),
            serializer=json_serializer,
            multithreading=True,
            auto_resume=True,
            timeout=30.0,
        )
        # The inbox is the durable record; this file is a hand-over that release_orphans can
        # rebuild, so it does not need an fsync per put/ack.
        for conn in {id(c): c for c in (self._queue._getter, self._queue._putter)}.values():
            if conn is not None:
                conn.execute("PRAGMA synchronous=NORMAL")
        self._acked_since_clear = 0

    def put(self, job: dict[str, Any]) -> int:
        if "pqid" in job:
            raise ValueError("a job may not carry a 'pqid' key (persist-queue reserves it)")
        row_id = self._queue.put(job)
        assert row_id is not None  # SQLiteAckQueue always returns the new row's id
        return int(row_id)

    def get(self, timeout: float = 0.5) -> tuple[int, dict[str, Any]] | None:
        """The next job as (row id, job), waiting up to ``timeout``; None when there is none."""
        from persistqueue.exceptions import Empty

        try:
            raw = self._queue.get(block=timeout > 0, timeout=timeout if timeout > 0 else None, raw=True)
        except Empty:
            return None
        return int(raw["pqid"]), raw["data"]

    def ack(self, row_id: int) -> None:
        self._queue.ack(id=row_id)
        self._acked_since_clear += 1
        if self._acked_since_clear >= 200:
            self.clear_acked()

    def pending(self) -> int:
        """Jobs not yet handed to the worker (a real COUNT, not persist-queue's counter)."""
        with self._queue.action_lock:  # the getter connection is shared with the worker's get
            return self._queue._count()

    def scene_ids(self) -> set[int]:
        """Scenes with a job that is pending or handed out but not acknowledged."""
        result = set()
        with self._queue.action_lock:
            rows = self._queue.queue()
        for row in rows:
            if int(row["status"]) < 5:
                data = row["data"]
                if isinstance(data, dict) and data.get("scene_id") is not None:
                    result.add(int(data["scene_id"]))
        return result

    def drain_pending(self) -> list[tuple[int, dict[str, Any]]]:
        """Take every pending job out (stopping early: they go back to the inbox)."""
        taken: list[tuple[int, dict[str, Any]]] = []
        while True:
            item = self.get(timeout=0)
            if item is None:
                return taken
            taken.append(item)

    def clear_acked(self) -> None:
        """Delete acknowledged rows (and failed ones) so the file does not grow."""
        self._queue.clear_acked_data(max_delete=0, keep_latest=0, clear_ack_failed=True)
        self._acked_since_clear = 0

    def close(self) -> None:
        try:
            self.clear_acked()
        finally:
            self._queue.close()
