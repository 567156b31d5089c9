"""Per-scene record of the last successful sync to Plex (the ``sync_state`` table).

It answers "is this scene's latest Stash edit already in Plex?" and remembers the Plex item the
scene was written to. Each thread gets its own SQLite connection (a connection shared across
threads serialises them and breaks under concurrent use), and every process sees the same rows
through WAL.
"""

from __future__ import annotations

import time
from _thread import _local as thread_local  # what threading.local is, without importing threading
from _thread import allocate_lock
from collections import namedtuple

from sync import db
from sync.timestamps import parse_instant

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import Literal

SYNC_STATE = db.register(db.Table("sync_state", """
CREATE TABLE IF NOT EXISTS sync_state (
    scene_id INTEGER PRIMARY KEY,
    last_synced_at REAL NOT NULL,
    last_sync_status TEXT NOT NULL,
    plex_item_key TEXT,
    updated_at REAL NOT NULL,
    stash_updated_at TEXT,
    stash_updated_ts REAL,
    fetched_at REAL,
    payload_hash TEXT,
    poster_hash TEXT
)
"""))
SUCCESS = "success"

# A namedtuple, not a dataclass: the hook imports this module, and dataclasses pulls in inspect.
class SyncRecord(namedtuple(
    "SyncRecord",
    "scene_id last_synced_at status plex_item_key stash_updated_at stash_updated_ts"
    " fetched_at payload_hash poster_hash",
)):
    __slots__ = ()

    @property
    def rating_key(self) -> str:
        """The bound item's rating key: update_success takes any Plex item key, a full
        ``/library/metadata/<key>`` included, as the seed's callers pass it."""
        return str(self.plex_item_key).rsplit("/", 1)[-1]


class SyncState:
    """Sync records in the plugin database at ``db_path``.

    ``synchronous`` is the connections' (sync.db.connect): FULL for the tasks; the hook, which
    writes only queued edits the catch-up can find again, passes NORMAL.
    """

    def __init__(self, db_path: str, *, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> None:
        self.db_path = str(db_path)
        self.synchronous: Literal["FULL", "NORMAL"] = synchronous
        self._local = thread_local()
        self._all: list[db.PluginConnection] = []
        self._lock = allocate_lock()
        self._closed = False
        self._conn()  # fail early, with a clear error, if the file cannot be used

    def _conn(self) -> db.PluginConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise db.DatabaseError("SyncState is closed")
            conn = db.connect(self.db_path, synchronous=self.synchronous)
            db.ensure(conn, SYNC_STATE)
            if conn.created_file:
                from sync.meta import DatabaseLoss  # rare: only when the file is new

                DatabaseLoss(conn).note_if_replaced(self.db_path)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @property
    def connection(self) -> db.PluginConnection:
        """This thread's connection, for callers that combine sync state with the inbox."""
        return self._conn()

    def update_success(
        self,
        scene_id: int,
        plex_item_key: str,
        stash_updated_at: str | None = None,
        *,
        fetched_at: float | None = None,
        payload_hash: str | None = None,
        poster_hash: str | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """Record that the scene, as Stash had it at ``stash_updated_at``, is now in Plex.

        ``stash_updated_at`` is the Stash timestamp of the data that was written, not the time
        the job was queued; ``fetched_at`` is when that data was read (see sync.detector).
        Pass ``conn`` to make this part of a caller's transaction; without it the single upsert
        is retried while the database is locked. Idempotent: the row is replaced as a whole.
        """
        now = time.time()
        params = (
            int(scene_id),
            now,
            SUCCESS,
            str(plex_item_key) if plex_item_key is not None else None,
            now,
            stash_updated_at,
            parse_instant(stash_updated_at),
            fetched_at if fetched_at is not None else now,
            payload_hash,
            poster_hash,
        )
        sql = (
            "INSERT INTO sync_state (scene_id, last_synced_at, last_sync_status, plex_item_key,"
            " updated_at, stash_updated_at, stash_updated_ts, fetched_at, payload_hash, poster_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(scene_id) DO UPDATE SET last_synced_at=excluded.last_synced_at,"
            " last_sync_status=excluded.last_sync_status, plex_item_key=excluded.plex_item_key,"
            " updated_at=excluded.updated_at, stash_updated_at=excluded.stash_updated_at,"
            " stash_updated_ts=excluded.stash_updated_ts, fetched_at=excluded.fetched_at,"
            " payload_hash=excluded.payload_hash, poster_hash=excluded.poster_hash"
        )
        if conn is not None:
            conn.execute(sql, params)
        else:
            target = self._conn()
            db.with_retry(lambda: target.execute(sql, params))

    def get_last_synced_at(self, scene_id: int) -> float | None:
        """When the scene was last synced successfully (epoch seconds), or None."""
        row = self._conn().execute(
            "SELECT last_synced_at FROM sync_state WHERE scene_id = ? AND last_sync_status = ?",
            (int(scene_id), SUCCESS),
        ).fetchone()
        return row[0] if row else None

    def get(self, scene_id: int) -> SyncRecord | None:
        """The scene's record, or None (a plain read of this thread's connection)."""
        row = self._conn().execute(
            "SELECT scene_id, last_synced_at, last_sync_status, plex_item_key, stash_updated_at,"
            " stash_updated_ts, fetched_at, payload_hash, poster_hash"
            " FROM sync_state WHERE scene_id = ?",
            (int(scene_id),),
        ).fetchone()
        return SyncRecord(*row) if row else None

    def forget(self, scene_id: int, *, conn: sqlite3.Connection | None = None) -> None:
        """Drop the record (scene deleted in Stash, or a binding that no longer holds).

        Idempotent. With ``conn`` it joins the caller's transaction; without, it is retried
        while the database is locked.
        """
        if conn is not None:
            conn.execute("DELETE FROM sync_state WHERE scene_id = ?", (int(scene_id),))
            return
        target = self._conn()
        db.with_retry(lambda: target.execute("DELETE FROM sync_state WHERE scene_id = ?", (int(scene_id),)))

    def count(self) -> int:
        """How many scenes are recorded as synced."""
        return self._conn().execute(
            "SELECT count(*) FROM sync_state WHERE last_sync_status = ?", (SUCCESS,)
        ).fetchone()[0]

    def scene_ids(self) -> list[int]:
        """Every scene with a record (any status)."""
        return [r[0] for r in self._conn().execute("SELECT scene_id FROM sync_state")]

    def is_synced(self, scene_id: int) -> bool:
        """Whether the scene's last sync succeeded (a plain read)."""
        record = self.get(scene_id)
        return record is not None and record.status == SUCCESS

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = thread_local()
