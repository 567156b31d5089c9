"""The last errors, kept for the Status task (the ``error_log`` table).

Errors are also logged to Stash as they happen, but a user opens Status hours later; the table
keeps the newest few hundred so it can never grow without bound.
"""

from __future__ import annotations

import sqlite3
import time
from collections import namedtuple

from sync import db

ERROR_LOG = db.register(db.Table("error_log", """
CREATE TABLE IF NOT EXISTS error_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    scene_id INTEGER,
    message TEXT NOT NULL
)
"""))
KEEP = 200

LoggedError = namedtuple("LoggedError", "at scene_id message")


class ErrorLog:
    """Append and read the error log over one connection (the caller owns it)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        db.ensure(conn, ERROR_LOG)
        self.conn = conn

    def record(self, scene_id: int | None, message: str, *, keep: int = KEEP) -> None:
        """Append one error and trim to the newest ``keep`` rows, atomically.

        ``message`` must already be redacted (stash.protocol.redact): the table is a file on disk.
        """

        def work(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO error_log (at, scene_id, message) VALUES (?, ?, ?)",
                (time.time(), scene_id, message),
            )
            c.execute("DELETE FROM error_log WHERE id <= (SELECT max(id) FROM error_log) - ?", (keep,))

        db.transaction(self.conn, work)

    def recent(self, limit: int) -> list[LoggedError]:
        """The newest ``limit`` errors, newest first (a plain read)."""
        rows = self.conn.execute(
            "SELECT at, scene_id, message FROM error_log ORDER BY id DESC LIMIT ?", (int(limit),)
        )
        return [LoggedError(*row) for row in rows]
