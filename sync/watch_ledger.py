"""What PlexSync exchanged of the play state (the ``watch_state`` setting), so that a play copied
one way never comes back the other way and is never counted twice, whatever crashes.

Its own tables, beside the ledger of metadata:

* ``watch_items``: per Plex item, the ``viewCount`` PlexSync has accounted for (plays it copied to
  Stash, plays its own scrobbles made, and the plays the item had when the exchange began) and the
  ``lastViewedAt`` seen with it (``own``: the count was last raised by PlexSync's own scrobble,
  whose ``lastViewedAt`` it has not seen yet). A listing's ``viewCount`` above it is that many new
  plays in Plex.
* ``watch_plays``: one row per play exchanged, per scene, at its time in Stash's history
  (``origin`` ``plex``: copied from Plex into Stash; ``stash``: a Stash play marked in Plex, with
  the ``viewCount`` the item reaches once the scrobble lands). A row is written BEFORE the write
  it stands for (``done`` 0) and marked done after it, so a crash between the two leaves a row the
  next exchange settles by looking at the other side, never a lost or doubled play. A Stash play
  whose time has a row is not new: that is what stops the echo.
* ``watch_resume``: per scene, the resume point (seconds) last exchanged, either way.
* ``watch_marks``: where the next look starts (``section:<key>``: the newest ``lastViewedAt``
  listed in that Plex library; ``stash``: PlexSync's clock when it last asked Stash, and
  ``stash_from``: when it first did).
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter, namedtuple
from collections.abc import Iterable

from sync import db

WATCH = db.register(db.Table("watch_items", """
CREATE TABLE IF NOT EXISTS watch_items (
    rating_key INTEGER PRIMARY KEY,
    views INTEGER NOT NULL,
    viewed_at INTEGER,
    own INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS watch_plays (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scene_id INTEGER NOT NULL,
    rating_key INTEGER NOT NULL,
    played_at INTEGER NOT NULL,
    origin TEXT NOT NULL,
    plex_views INTEGER,
    done INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS watch_plays_scene ON watch_plays(scene_id);
CREATE INDEX IF NOT EXISTS watch_plays_pending ON watch_plays(done) WHERE done = 0;
CREATE TABLE IF NOT EXISTS watch_resume (
    scene_id INTEGER PRIMARY KEY,
    resume_s REAL NOT NULL,
    exchanged_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS watch_marks (name TEXT PRIMARY KEY, value TEXT NOT NULL)
"""))

PLEX = "plex"  # copied from Plex into Stash
STASH = "stash"  # a Stash play marked in Plex
_CHUNK = 500

Play = namedtuple("Play", "id scene_id rating_key played_at origin plex_views done")
# A play about to be written: (scene, item, unix time) and, for a scrobble, Plex's count after it.
NewPlay = namedtuple("NewPlay", "scene_id rating_key played_at plex_views", defaults=(None,))
# An item as a listing showed it: its count and the time of its last play (``own``: see above).
Seen = namedtuple("Seen", "views viewed_at own", defaults=(False,))


def _chunks(values: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class WatchLedger:
    """The watch tables over one connection (the caller owns it)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        db.ensure(conn, WATCH)
        self.conn = conn

    # -- marks ----------------------------------------------------------------------------------

    def marks(self) -> dict[str, str]:
        """Every mark (a read)."""
        return {str(k): str(v) for k, v in self.conn.execute("SELECT name, value FROM watch_marks")}

    def set_marks(self, values: dict[str, str | None]) -> None:
        """Set marks (None drops one) in one transaction; idempotent."""
        db.transaction(self.conn, lambda c: self._write_marks(c, values))

    @staticmethod
    def _write_marks(c: sqlite3.Connection, values: dict[str, str | None]) -> None:
        for name, value in values.items():
            if value is None:
                c.execute("DELETE FROM watch_marks WHERE name = ?", (name,))
            else:
                c.execute("INSERT INTO watch_marks (name, value) VALUES (?, ?)"
                          " ON CONFLICT(name) DO UPDATE SET value = excluded.value", (name, value))

    # -- Plex items -----------------------------------------------------------------------------

    def seen(self, rating_keys: Iterable[int]) -> dict[int, Seen]:
        """Item → what PlexSync accounted for (an item never listed with plays is absent)."""
        found: dict[int, Seen] = {}
        for chunk in _chunks(sorted({int(k) for k in rating_keys})):
            marks = ",".join("?" * len(chunk))
            for key, views, viewed_at, own in self.conn.execute(
                f"SELECT rating_key, views, viewed_at, own FROM watch_items WHERE rating_key IN ({marks})",  # noqa: S608 - placeholders only
                chunk,
            ):
                found[int(key)] = Seen(int(views), viewed_at, bool(own))
        return found

    def record_plex_look(self, items: dict[int, Seen], plays: list[NewPlay],
                         marks: dict[str, str | None]) -> list[Play]:
        """After a look at Plex, in ONE transaction: the items' counts as listed, a pending row
        per new play (written to Stash next) and the libraries' marks. Returns the rows."""

        def work(c: sqlite3.Connection) -> list[Play]:
            c.executemany(
                "INSERT INTO watch_items (rating_key, views, viewed_at, own) VALUES (?, ?, ?, 0)"
                " ON CONFLICT(rating_key) DO UPDATE SET views = excluded.views, viewed_at = excluded.viewed_at,"
                " own = 0",
                [(int(k), int(s.views), s.viewed_at) for k, s in items.items()],
            )
            self._write_marks(c, marks)
            return self._insert(c, plays, PLEX)

        return db.transaction(self.conn, work)

    def record_stash_look(self, plays: list[NewPlay], marks: dict[str, str | None]) -> list[Play]:
        """After a look at Stash, in ONE transaction: a pending row per new Stash play (each to be
        scrobbled next) and the Stash marks. Returns the rows."""

        def work(c: sqlite3.Connection) -> list[Play]:
            self._write_marks(c, marks)
            return self._insert(c, plays, STASH)

        return db.transaction(self.conn, work)

    @staticmethod
    def _insert(c: sqlite3.Connection, plays: list[NewPlay], origin: str) -> list[Play]:
        rows = []
        now = time.time()
        for play in plays:
            cursor = c.execute(
                "INSERT INTO watch_plays (scene_id, rating_key, played_at, origin, plex_views, done, created)"
                " VALUES (?, ?, ?, ?, ?, 0, ?)",
                (int(play.scene_id), int(play.rating_key), int(play.played_at), origin, play.plex_views, now),
            )
            rows.append(Play(int(cursor.lastrowid or 0), int(play.scene_id), int(play.rating_key),
                             int(play.played_at), origin, play.plex_views, 0))
        return rows

    # -- plays ----------------------------------------------------------------------------------

    def pending(self) -> list[Play]:
        """Rows whose write was not confirmed (a crash, or a side that failed), oldest first."""
        rows = self.conn.execute(
            "SELECT id, scene_id, rating_key, played_at, origin, plex_views, done FROM watch_plays"
            " WHERE done = 0 ORDER BY id"
        )
        return [Play(*row) for row in rows]

    def known_times(self, scene_ids: Iterable[int], *, settled_only: bool = False) -> dict[int, Counter[int]]:
        """Scene → the times of the plays exchanged for it, counted (a read). ``settled_only``
        leaves out the copies from Plex not confirmed yet: what Stash surely holds."""
        found: dict[int, Counter[int]] = {}
        for chunk in _chunks(sorted({int(s) for s in scene_ids})):
            marks = ",".join("?" * len(chunk))
            for scene, played_at in self.conn.execute(
                f"SELECT scene_id, played_at FROM watch_plays WHERE scene_id IN ({marks})"  # noqa: S608 - placeholders only
                " AND NOT (? AND done = 0 AND origin = 'plex')",
                [*chunk, 1 if settled_only else 0],
            ):
                found.setdefault(int(scene), Counter())[int(played_at)] += 1
        return found

    def settle(self, play_ids: Iterable[int], views: dict[int, int] | None = None) -> None:
        """The writes of these rows landed: mark them done and raise the items' accounted counts
        to at least ``views`` (a scrobble's own play, marked ``own``), in one transaction;
        idempotent."""
        ids = [(int(i),) for i in play_ids]

        def work(c: sqlite3.Connection) -> None:
            c.executemany("UPDATE watch_plays SET done = 1 WHERE id = ?", ids)
            for key, count in (views or {}).items():
                c.execute(
                    "INSERT INTO watch_items (rating_key, views, own) VALUES (?, ?, 1) ON CONFLICT(rating_key)"
                    " DO UPDATE SET views = max(views, excluded.views), own = 1", (int(key), int(count)),
                )

        if ids or views:
            db.transaction(self.conn, work)

    # -- resume points --------------------------------------------------------------------------

    def resumes(self, scene_ids: Iterable[int]) -> dict[int, float]:
        """Scene → the resume point last exchanged, in seconds (absent: none yet)."""
        found: dict[int, float] = {}
        for chunk in _chunks(sorted({int(s) for s in scene_ids})):
            marks = ",".join("?" * len(chunk))
            for scene, value in self.conn.execute(
                f"SELECT scene_id, resume_s FROM watch_resume WHERE scene_id IN ({marks})",  # noqa: S608 - placeholders only
                chunk,
            ):
                found[int(scene)] = float(value)
        return found

    def set_resumes(self, values: dict[int, float]) -> None:
        """Scene → the resume point just exchanged (seconds); one transaction, idempotent."""
        now = time.time()
        if values:
            db.transaction(self.conn, lambda c: c.executemany(
                "INSERT INTO watch_resume (scene_id, resume_s, exchanged_at) VALUES (?, ?, ?)"
                " ON CONFLICT(scene_id) DO UPDATE SET resume_s = excluded.resume_s,"
                " exchanged_at = excluded.exchanged_at",
                [(int(scene), float(value), now) for scene, value in values.items()],
            ))

    def counts(self) -> dict[str, int]:
        """Plays exchanged each way and plays not confirmed yet (a read, for Status)."""
        rows = self.conn.execute("SELECT origin, done, count(*) FROM watch_plays GROUP BY origin, done")
        result = {"from_plex": 0, "from_stash": 0, "unconfirmed": 0}
        for origin, done, count in rows:
            if not done:
                result["unconfirmed"] += int(count)
            result["from_plex" if origin == PLEX else "from_stash"] += int(count)
        return result
