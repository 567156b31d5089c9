"""Small values PlexSync keeps between runs (the ``meta`` table): the *Sync recent* cursor with
the renames already handled, the note that the database was lost and created anew, the last *Sync
all*'s figures, and whether performer photos were on when a task last read the settings.

Each value has one owner class here, so the keys and their formats live in one place and a
value that cannot be read (hand-edited, truncated) is treated as absent instead of crashing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import namedtuple
from collections.abc import Mapping

from sync import db

META = db.register(db.Table("meta", "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)"))


class Meta:
    """Raw key/value access over one connection (the caller owns the connection)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        db.ensure(conn, META)
        self.conn = conn

    def get(self, key: str) -> str | None:
        """The stored text, or None when the key is absent (a plain read, no lock)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_many(self, values: dict[str, str]) -> None:
        """Store all ``values`` atomically (one transaction; readers see all or none)."""

        def work(c: sqlite3.Connection) -> None:
            c.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

        db.transaction(self.conn, work)

    def delete(self, key: str) -> None:
        """Remove the key (idempotent)."""
        db.with_retry(lambda: self.conn.execute("DELETE FROM meta WHERE key = ?", (key,)))


CursorState = namedtuple("CursorState", "cursor zones handled")


class RecentCursor:
    """Where *Sync recent changes* (and every drain's catch-up) continues from.

    ``cursor`` is an ``updated_at`` Stash itself returned (None before the first run), ``zones``
    the UTC offsets Stash has used, ``handled`` the performers/tags/studios/groups whose change
    was already acted on (``"tag:12" -> updated_at``), so the overlap margin does not redo them.
    """

    CURSOR_KEY = "sync_recent.cursor"
    ZONES_KEY = "sync_recent.zones"
    HANDLED_KEY = "sync_recent.related_handled"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.meta = Meta(conn)

    def load(self) -> CursorState:
        """The stored state; an unreadable part reads as empty (a full re-check, never a crash)."""
        cursor = self.meta.get(self.CURSOR_KEY)
        zones = _json(self.meta.get(self.ZONES_KEY))
        handled = _json(self.meta.get(self.HANDLED_KEY))
        return CursorState(
            cursor,
            [z for z in zones if isinstance(z, str)] if isinstance(zones, list) else [],
            {str(k): v for k, v in handled.items() if isinstance(v, str)} if isinstance(handled, dict) else {},
        )

    def save(self, cursor: str, zones: list[str], handled: dict[str, str]) -> None:
        """Store all three atomically: a cursor never moves without its handled renames."""
        self.meta.set_many({
            self.CURSOR_KEY: cursor,
            self.ZONES_KEY: json.dumps(sorted(zones)),
            self.HANDLED_KEY: json.dumps(handled, sort_keys=True),
        })


def _json(text: str | None) -> object:
    """The decoded value, or None when absent or not JSON (the caller checks the shape)."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


# Written to the data folder only by drains (plex.index.INDEX_DB, queue.work.WORK_DIR): a new
# plexsync.db beside them means the old one was deleted, and the edits queued in it are gone.
_DRAIN_ARTIFACTS = ("plex_index.db", "work")


class DatabaseLoss:
    """The note that the plugin database was deleted and created anew (queued edits are lost).

    Every task reports it until *Sync all scenes* has rebuilt the state.
    """

    KEY = "database_lost_at"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.meta = Meta(conn)

    def note_if_replaced(self, db_path: str | os.PathLike[str]) -> None:
        """Call right after creating the file: if drains had worked in this folder, record the
        loss (once; a second call keeps the first time)."""
        folder = os.path.dirname(os.path.abspath(db_path))
        if not any(os.path.exists(os.path.join(folder, name)) for name in _DRAIN_ARTIFACTS):
            return
        db.transaction(self.meta.conn, lambda c: c.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (self.KEY, repr(time.time()))
        ))

    def since(self) -> float | None:
        """When the lost database was replaced (0.0 if unreadable), or None when nothing was lost."""
        value = self.meta.get(self.KEY)
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            return 0.0

    def forget(self) -> None:
        """The state was rebuilt: stop reporting the loss."""
        self.meta.delete(self.KEY)


class LastReport:
    """The figures of the last *Sync all* (what it checked, found and wrote), for Status."""

    KEY = "sync_all.report"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.meta = Meta(conn)

    def save(self, report: Mapping[str, object]) -> None:
        self.meta.set_many({self.KEY: json.dumps(report, sort_keys=True)})

    def load(self) -> dict[str, object] | None:
        """The stored report, or None (never run, or unreadable)."""
        value = _json(self.meta.get(self.KEY))
        return value if isinstance(value, dict) else None


class HookFlags:
    """Which of the user's choices make more Stash edits matter to Plex, as the last task read
    them from the settings, for the hooks that open the database anyway (which never read the
    settings themselves): ``tag_tree`` (excluded or label tags are named), ``studio_tree``
    (studios are collections, so a studio's parent shows in Plex) and ``photos`` (performer photos
    are on, so a performer's new image shows). Off until a task has run. (The organized label is
    a file instead, sync/paths.py: the scene hook must know it before it opens anything.)"""

    KEY = "hook_flags"
    NAMES = ("tag_tree", "studio_tree", "photos")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.meta = Meta(conn)

    def load(self) -> dict[str, bool]:
        """The stored flags; absent or unreadable ones read as off (a plain read, no lock)."""
        value = _json(self.meta.get(self.KEY))
        stored = value if isinstance(value, dict) else {}
        return {name: stored.get(name) is True for name in self.NAMES}

    def save(self, flags: Mapping[str, bool]) -> None:
        """Store the flags; a read first, so a task whose settings did not change writes nothing."""
        wanted = {name: bool(flags.get(name)) for name in self.NAMES}
        if self.load() != wanted or self.meta.get(self.KEY) is None:
            self.meta.set_many({self.KEY: json.dumps(wanted, sort_keys=True)})


class PlexServerIdentity:
    """The ``machineIdentifier`` of the Plex server PlexSync last connected to.

    Plex Web addresses an item by server and rating key (``app.plex.tv/desktop/#!/server/...``),
    so with the ledger's rating key this is all the scene page's *Open in Plex* link needs: the
    lookup that answers it never asks Plex. Recorded by tasks whenever plexapi connects.
    """

    KEY = "plex.machine_identifier"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.meta = Meta(conn)

    def remember(self, machine_identifier: str) -> None:
        """Store it if it is a plausible identifier and differs from the stored one (a read
        otherwise, so a drain does not write on every connection)."""
        if is_machine_identifier(machine_identifier) and self.get() != machine_identifier:
            self.meta.set_many({self.KEY: machine_identifier})

    def get(self) -> str | None:
        """The stored identifier, or None (never connected, or unreadable)."""
        value = self.meta.get(self.KEY)
        return value if value is not None and is_machine_identifier(value) else None


def is_machine_identifier(value: object) -> bool:
    """Plex's identifiers are 40 hex digits; allow any short run of URL-safe characters, since
    the value goes into a link unescaped."""
    return isinstance(value, str) and 0 < len(value) <= 128 and all(
        c.isascii() and (c.isalnum() or c in "-_") for c in value)


TagRoles = namedtuple("TagRoles", "names roles")


class TagRoleSnapshot:
    """The tag roles (Stash tag id -> "exclude" or "label") PlexSync last applied, with the tag
    names they were resolved from: a later resolution that differs names the tags whose scenes
    must be written again (a tag moved under an excluded parent, a sub-tag moved away)."""

    KEY = "tag_roles"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.meta = Meta(conn)

    def load(self) -> TagRoles | None:
        """The snapshot, or None when there is none (or it is unreadable)."""
        value = _json(self.meta.get(self.KEY))
        if not isinstance(value, dict) or not isinstance(value.get("roles"), dict):
            return None
        names = value.get("names")
        return TagRoles(str(names) if isinstance(names, str) else "",
                        {str(k): str(v) for k, v in value["roles"].items()})

    def save(self, names: str, roles: Mapping[str, str]) -> None:
        """Replace the snapshot (one statement)."""
        self.meta.set_many({self.KEY: json.dumps({"names": names, "roles": dict(roles)}, sort_keys=True)})
