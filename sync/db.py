"""The plugin's SQLite database: where it lives, how it is opened, and its schema.

One file holds the sync state, the per-scene inbox and the drain lease, so that a hook's check and
its enqueue, and a worker's ack and its sync-state update, can each be one transaction. Every
process (hooks run many at once) opens it in WAL mode with a busy timeout, and retries the few
operations SQLite refuses to wait for (switching a fresh file to WAL needs an exclusive lock).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable

# The hook imports this module: `typing` and `pathlib` together cost more than the hook's own
# work, so neither is imported at run time here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import TypeVar

    T = TypeVar("T")

DB_NAME = "plexsync.db"
BUSY_TIMEOUT_S = 15.0
# Beyond the busy timeout, how long an operation keeps retrying "database is locked" before it
# gives up with an error that says what to do. The hook must never drop an edit silently.
RETRY_DEADLINE_S = 30.0

SCHEMA = """
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
);
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
    detail TEXT
);
CREATE INDEX IF NOT EXISTS inbox_due ON inbox(state, not_before);
CREATE TABLE IF NOT EXISTS drain (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    heartbeat REAL,
    expires REAL,
    wake_requested_at REAL
);
INSERT OR IGNORE INTO drain(id) VALUES (1);
CREATE TABLE IF NOT EXISTS error_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    scene_id INTEGER,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""


class DatabaseError(Exception):
    """The database cannot be used; the message names the file and the way back."""


def data_dir_path(server_connection: dict | None) -> str:
    """``$PLEXSYNC_DATA_DIR`` if set, else ``<PluginDir>/data`` (created on demand)."""
    path = os.environ.get("PLEXSYNC_DATA_DIR")
    if not path:
        plugin_dir = (server_connection or {}).get("PluginDir")
        base = plugin_dir or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.path.join(base, "data")
    os.makedirs(path, exist_ok=True)
    return path


def data_dir_for(server_connection: dict | None) -> Path:
    """The data directory as a Path, for tasks (the hook uses ``data_dir_path``)."""
    from pathlib import Path

    return Path(data_dir_path(server_connection))


def is_locked_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


def with_retry(operation: Callable[[], T], *, deadline_s: float = RETRY_DEADLINE_S) -> T:
    """Run ``operation``, retrying with jitter while SQLite says the database is locked.

    SQLite's busy handler polls unfairly, so under a burst a writer can be starved past its
    timeout; a retry with jitter gets it through instead of losing the write.
    """
    give_up = time.monotonic() + deadline_s
    delay = 0.005
    while True:
        try:
            return operation()
        except sqlite3.OperationalError as exc:
            if not is_locked_error(exc) or time.monotonic() >= give_up:
                raise
        time.sleep(delay * (0.5 + os.urandom(1)[0] / 255))  # jitter spreads retrying writers
        delay = min(delay * 2, 0.25)


def explain(exc: BaseException, path: str | os.PathLike[str]) -> DatabaseError:
    """The DatabaseError for an SQLite failure on ``path``: it names the file and the way back."""
    if isinstance(exc, DatabaseError):
        return exc
    if is_locked_error(exc):
        return DatabaseError(
            f"the PlexSync database {path} stayed locked by another process for "
            f"{RETRY_DEADLINE_S:.0f}s; close any tool that has it open and run the task again"
        )
    return DatabaseError(
        f"the PlexSync database {path} is unreadable ({exc}). Stop Stash's PlexSync tasks, "
        "move the file aside (keep it for a bug report) and run 'Sync all scenes': PlexSync "
        "rebuilds its state from Stash and Plex"
    )


# Written to the data folder only by drains (plex.index.INDEX_DB, queue.work.WORK_DIR): a new
# plexsync.db beside them means the old one was deleted, and the edits queued in it are gone.
_DRAIN_ARTIFACTS = ("plex_index.db", "work")
LOST_KEY = "database_lost_at"


def connect(path: str | os.PathLike[str], *, timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """Open the database in autocommit mode, WAL, FULL sync, with the schema in place."""
    existed = os.path.exists(path)
    try:
        conn = sqlite3.connect(
            os.fspath(path), timeout=timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open the PlexSync database {path}: {exc}") from None
    try:
        with_retry(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchall())
        # FULL: a queued edit survives a power cut as well as a crash. Hooks rarely contend
        # (Stash runs a bulk edit's hooks one after another), so the fsync is affordable.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")  # noqa: S608 - constant
        _ensure_schema(conn)
        if not existed:
            _note_if_lost(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise explain(exc, path) from None
    return conn


def _note_if_lost(conn: sqlite3.Connection, path: str | os.PathLike[str]) -> None:
    """A database created where a drain already worked replaces a lost one: say so, once."""
    folder = os.path.dirname(os.path.abspath(path))
    if any(os.path.exists(os.path.join(folder, name)) for name in _DRAIN_ARTIFACTS):
        transaction(conn, lambda c: c.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (LOST_KEY, repr(time.time()))
        ))


def lost_since(conn: sqlite3.Connection) -> float | None:
    """When a lost database was replaced by an empty one (until 'Sync all scenes' rebuilt it)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (LOST_KEY,)).fetchone()
    try:
        return float(row[0]) if row else None
    except (TypeError, ValueError):
        return 0.0


def forget_lost(conn: sqlite3.Connection) -> None:
    with_retry(lambda: conn.execute("DELETE FROM meta WHERE key = ?", (LOST_KEY,)))


def _ensure_schema(conn: sqlite3.Connection) -> None:
    def create(c: sqlite3.Connection) -> None:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                c.execute(statement)

    # Fast path: an existing database already has the tables; skip the write lock.
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
        "('sync_state','inbox','drain','error_log','meta')"
    ).fetchone()
    if row[0] < 5:
        transaction(conn, create)


def transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work`` inside BEGIN IMMEDIATE ... COMMIT, retried as a whole while locked."""

    def attempt() -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    return with_retry(attempt)
