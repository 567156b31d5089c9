"""What PlexSync wrote to the Plex collection of each Stash group, per library: the collection's
rating key, the summary and poster it set, and the group's ``updated_at`` it wrote them from.

A collection is one Plex item shared by every scene of the group, so it is written once per group
(not per scene), and only again when the group changed in Stash or Plex made the collection anew.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Iterable

from sync import db

GROUP_COLLECTIONS = db.register(db.Table("group_collections", """
CREATE TABLE IF NOT EXISTS group_collections (
    group_id INTEGER NOT NULL,
    section_key INTEGER NOT NULL,
    collection_key INTEGER,
    name TEXT,
    summary TEXT,
    poster_sha1 TEXT,
    group_updated_at TEXT,
    PRIMARY KEY (group_id, section_key)
)
"""))

_CHUNK = 500
_COLUMNS = "group_id, section_key, collection_key, name, summary, poster_sha1, group_updated_at"

GroupCollection = namedtuple(
    "GroupCollection", "group_id section_key collection_key name summary poster_sha1 group_updated_at")


class GroupCollections:
    """The group_collections table over one connection (the caller owns it)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        db.ensure(conn, GROUP_COLLECTIONS)
        self.conn = conn

    def rows_for(self, group_ids: Iterable[int]) -> dict[tuple[int, int], GroupCollection]:
        """(group, library) -> its row, for these groups (reads in chunks)."""
        found: dict[tuple[int, int], GroupCollection] = {}
        ids = sorted({int(i) for i in group_ids})
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM group_collections WHERE group_id IN ({marks})", chunk  # noqa: S608 - placeholders only
            )
            for row in rows:
                entry = GroupCollection(*row)
                found[(int(entry.group_id), int(entry.section_key))] = entry
        return found

    def record(self, rows: Iterable[GroupCollection]) -> None:
        """Replace these rows; one transaction, idempotent for equal rows."""
        values = [tuple(row) for row in rows]
        if values:
            db.transaction(self.conn, lambda c: c.executemany(
                "INSERT OR REPLACE INTO group_collections (group_id, section_key, collection_key, name,"
                " summary, poster_sha1, group_updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", values,
            ))
