"""The plugin's SQLite database: where it lives, how it is opened, and how tables come to exist.

One file holds the sync state, the per-scene inbox, the drain lease and the small meta values,
so that a hook's check and its enqueue, and a worker's ack and its sync-state update, can each be
one transaction. Every process (hooks run many at once) opens it in WAL mode with a busy
timeout, and retries the few operations SQLite refuses to wait for.

Each table is defined next to the class that owns it (``Table``); this module only knows how to
make a table exist on a connection, once, and how to upgrade one made by an older release (new
columns are added, nothing is ever dropped, so queued jobs survive an upgrade).
"""

from __future__ import annotations

# _sqlite3 is the C module the sqlite3 package re-exports: the same connect(), Connection and
# errors. The package adds only datetime adapters, and importing datetime costs a hook more than
# its SQL does.
import _sqlite3 as sqlite3
import os
import time
from collections import namedtuple

from sync.paths import data_dir_of

# The hook imports this module: `typing` and `pathlib` together cost more than the hook's own
# work, so neither is imported at run time here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Literal, TypeVar

    T = TypeVar("T")

DB_NAME = "plexsync.db"
BUSY_TIMEOUT_S = 15.0
# Beyond the busy timeout, how long an operation keeps retrying "database is locked" before it
# gives up with an error that says what to do. The hook must never drop an edit silently.
RETRY_DEADLINE_S = 30.0


# A process may exit without closing its connection (the hook does: sync.db.log_is_short). The
# next one to open the file then reads the write-ahead log back (SQLite's recovery, as after a
# crash), which costs about 7 µs a page; closing instead folds the log into the file, with two
# fsyncs, and deletes it. Past this size the hook closes.
WAL_LEAVE_BYTES = 256 * 1024


class Table(namedtuple("Table", "name create added_columns", defaults=((),))):
    """A table of the plugin database: its name, its ``CREATE ... IF NOT EXISTS`` statements
    (the table and its indexes), and the columns later releases added, as ``(column, ALTER TABLE
    statement)`` pairs, so that a database made by an older release is upgraded in place."""

    __slots__ = ()


_REGISTERED: dict[str, Table] = {}


def register(table: Table) -> Table:
    """Make every connection opened from now on create ``table`` (owners call this at import).

    Owners also call ``ensure`` before use, so a connection opened before the owner was imported
    still gets the table.
    """
    _REGISTERED[table.name] = table
    return table


class PluginConnection(sqlite3.Connection):
    """A connection that remembers which tables it has already checked (a set lookup per use)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.ensured: set[str] = set()
        self.created_file = False
        self.path = ""


class DatabaseError(Exception):
    """The database cannot be used; the message names the file and the way back."""


def data_dir_path(server_connection: dict | None) -> str:
    """``$PLEXSYNC_DATA_DIR`` if set, else ``<PluginDir>/data`` (created on demand)."""
    path = data_dir_of(server_connection)
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


def passes_check(path: str | os.PathLike[str]) -> bool:
    """Whether SQLite's own integrity check accepts the file (to tell which file is broken)."""
    try:
        probe = sqlite3.connect(os.fspath(path), timeout=5)
        try:
            return probe.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        finally:
            probe.close()
    except sqlite3.Error:
        return False


def connect(
    path: str | os.PathLike[str],
    *,
    timeout: float = BUSY_TIMEOUT_S,
    synchronous: Literal["FULL", "NORMAL"] = "FULL",
) -> PluginConnection:
    """Open the database in autocommit mode, WAL, with every registered table.

    ``synchronous``: FULL (every commit is on disk before it returns: survives a power cut) for
    everything PlexSync remembers; NORMAL (a commit survives the process being killed, and the
    last ones may be lost to a power cut, never corrupting the file) only for rows that can be
    found again, the hook's queued edits (the drain's catch-up finds an edit Stash holds and
    sync_state does not; README, Benchmarks). ``created_file`` on the connection tells whether
    this call created the file; ``path`` is the file's path.
    """
    existed = os.path.exists(path)
    try:
        conn = sqlite3.connect(
            os.fspath(path), timeout=timeout, isolation_level=None, check_same_thread=False,
            factory=PluginConnection,
        )
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open the PlexSync database {path}: {exc}") from None
    assert isinstance(conn, PluginConnection)
    conn.created_file = not existed
    conn.path = os.fspath(path)
    try:
        with_retry(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchall())
        # (the busy timeout is sqlite3.connect's timeout)
        if synchronous == "NORMAL":
            conn.execute("PRAGMA synchronous=NORMAL")
        else:
            conn.execute("PRAGMA synchronous=FULL")
        _ensure_tables(conn, list(_REGISTERED.values()))
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise explain(exc, path) from None
    return conn


def log_is_short(conn: PluginConnection) -> bool:
    """Whether the connection's write-ahead log is small enough to leave to the next process
    (WAL_LEAVE_BYTES). A log that is not there (or cannot be looked at) is short."""
    try:
        return os.stat(conn.path + "-wal").st_size <= WAL_LEAVE_BYTES
    except OSError:
        return True


def ensure(conn: sqlite3.Connection, table: Table) -> None:
    """Make sure ``table`` exists on this connection, with all its columns (idempotent).

    The first call per connection costs one small read; later calls cost a set lookup. Safe
    inside a caller's transaction (the statements then join it).
    """
    ensured = getattr(conn, "ensured", None)
    if ensured is not None and table.name in ensured:
        return
    _ensure_tables(conn, [table])


def _ensure_tables(conn: sqlite3.Connection, tables: list[Table]) -> None:
    ensured = getattr(conn, "ensured", None)
    wanted = [t for t in tables if ensured is None or t.name not in ensured]
    if not wanted:
        return
    # Fast path: one read of the schema tells which tables exist and which columns they have
    # (SQLite keeps each table's CREATE statement current, ALTERs included). An up-to-date
    # database needs no write lock and no further query.
    existing = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
    if any(t.name not in existing or _lacks_columns(existing[t.name], t) for t in wanted):

        def create(c: sqlite3.Connection) -> None:
            for table in wanted:
                for statement in table.create.split(";"):
                    if statement.strip():
                        c.execute(statement)
                # Re-read inside the lock: another process may have upgraded meanwhile.
                for _, alter in _missing_columns(c, table):
                    c.execute(alter)

        if conn.in_transaction:
            create(conn)
        else:
            transaction(conn, create)
    if ensured is not None:
        ensured.update(t.name for t in wanted)


def _lacks_columns(create_sql: str | None, table: Table) -> bool:
    """Whether the stored CREATE statement lacks a column a later release added (a quick look;
    the exact check runs under the write lock)."""
    text = (create_sql or "").lower()
    return any(f" {name.lower()} " not in text.replace("(", " ").replace(",", " ").replace("\n", " ")
               for name, _ in table.added_columns)


def _missing_columns(conn: sqlite3.Connection, table: Table) -> list[tuple[str, str]]:
    have = {row[0] for row in conn.execute("SELECT name FROM pragma_table_info(?)", (table.name,))}
    return [(name, alter) for name, alter in table.added_columns if name not in have]


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
