"""The performer images PlexSync has read (the ``performer_images`` table): per performer, the
digest of its Stash image and the ``t=`` of the ``image_path`` it was read at.

Stash's ``image_path`` (``/performer/<id>/image?t=<updated_at>``) changes with every edit of the
performer, the image rarely does; the photo URL PlexSync gives Plex carries the digest instead
(``worker.drain.photo_versions``). A row stays right while the performer's ``t=`` is the same,
so an image is read once per edit of its performer, not once per scene or per run. A row is a
cache: losing it costs one more read of the image, never a wrong photo.

The Performer hook imports this module (standard library only).
"""

from __future__ import annotations

import sqlite3

from sync import db

PERFORMER_IMAGES = db.register(db.Table("performer_images", """
CREATE TABLE IF NOT EXISTS performer_images (
    performer_id INTEGER PRIMARY KEY,
    stamp TEXT NOT NULL,
    digest TEXT NOT NULL
)
"""))


class PerformerImages:
    """The table over one connection (the caller owns it)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        db.ensure(conn, PERFORMER_IMAGES)
        self.conn = conn

    def get(self, performer_id: int) -> tuple[str, str] | None:
        """(stamp, digest) last read for this performer, or None (a read)."""
        row = self.conn.execute(
            "SELECT stamp, digest FROM performer_images WHERE performer_id = ?", (int(performer_id),)
        ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def remember(self, performer_id: int, stamp: str, digest: str) -> None:
        """Record what the image read at ``stamp`` hashes to; one statement, atomic alone,
        idempotent."""
        db.with_retry(lambda: self.conn.execute(
            "INSERT INTO performer_images (performer_id, stamp, digest) VALUES (?, ?, ?)"
            " ON CONFLICT(performer_id) DO UPDATE SET stamp = excluded.stamp, digest = excluded.digest",
            (int(performer_id), str(stamp), str(digest)),
        ))

    def forget(self, performer_id: int) -> None:
        """The image just changed (the Performer hook saw ``image`` in the edit): read it again
        next time even if ``t=`` did not move (Stash stamps whole seconds). One statement,
        idempotent."""
        db.with_retry(lambda: self.conn.execute(
            "DELETE FROM performer_images WHERE performer_id = ?", (int(performer_id),)
        ))
