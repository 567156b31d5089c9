"""The path index: which Plex item holds which file, for every section PlexSync writes to.

Plex has no "find the item for this file" call, and asking per scene would cost a full listing
(or a title search that misses) each time. So the drain lists each section once, reading only
rating keys, types and ``Part@file`` paths from the raw XML (plexapi objects for 50k items take
~30 s and ~630 MB), and keeps them in SQLite. A scene's match is then an indexed lookup.

The index lives in its own file (``plex_index.db``) so a 50k-row rebuild never holds a lock that
a Stash hook waits on. A section is listed again only when Plex's ``updatedAt`` for it changed
(one ``GET /library/sections`` per drain) or, at most once per drain, when a lookup missed
(Plex may have scanned the file after its section stamp was read). ``check_changes`` lists only
what changed since the last look, without the sections request: a drain's one-request check for
edits made in Plex. Every listed page is also handed to ``on_listed`` (the drift check compares
the items' ``updatedAt`` with what PlexSync last wrote).
"""

from __future__ import annotations

import ntpath
import os
import sqlite3
import time
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from plex.client import call
from plex.errors import PermanentSyncError
from plex.sections import LISTING_TYPE, Queryable, SectionInfo, list_sections, select_sections
from stash import protocol

INDEX_DB = "plex_index.db"
PAGE_SIZE = 1000
SCHEMA_VERSION = 3
# An incremental listing asks for items updated since the newest item stamp seen, minus this
# margin: item stamps come from Plex's clock, which need not be monotonic across items.
STAMP_MARGIN_S = 300
# Incremental listings cannot see removed items; a full listing now and then drops them.
FULL_RELIST_AFTER_S = 24 * 3600.0
ITEM_TYPES = {"1": "movie", "4": "episode"}
# Item attributes a listing carries that PlexSync also writes (compared by the drift check).
LISTED_SCALARS = ("title", "summary", "originallyAvailableAt", "studio", "userRating")

IndexedPart = namedtuple("IndexedPart", "rating_key section_key item_type file updated_at")
# One listed item: what the drift check needs, read from the same XML as the index rows, and
# when the listing page was asked for (this machine's clock; None: unknown).
ListedItem = namedtuple("ListedItem", "rating_key section_key item_type updated_at files scalars asked_at",
                        defaults=(None,))
OnListed = Callable[[list[ListedItem]], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sections (
    key INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    type TEXT NOT NULL,
    updated_at TEXT,
    item_stamp INTEGER,
    listed_at REAL,
    full_at REAL
);
CREATE TABLE IF NOT EXISTS parts (
    section_key INTEGER NOT NULL,
    rating_key INTEGER NOT NULL,
    item_type TEXT NOT NULL,
    file TEXT NOT NULL,
    norm TEXT NOT NULL,
    base TEXT NOT NULL,
    updated_at INTEGER
);
CREATE INDEX IF NOT EXISTS parts_item ON parts(rating_key);
CREATE INDEX IF NOT EXISTS parts_norm ON parts(norm);
CREATE INDEX IF NOT EXISTS parts_base ON parts(base);
CREATE INDEX IF NOT EXISTS parts_section ON parts(section_key);
"""


def is_windows_path(path: str) -> bool:
    """``C:\\x`` or ``\\\\server\\share``: Plex on Windows, where paths are case-insensitive."""
    return (len(path) >= 2 and path[1] == ":" and path[0].isalpha()) or path.startswith("\\\\")


def normalize_path(path: str) -> str:
    """The comparison form of a full path: exact on POSIX, case- and slash-folded on Windows."""
    if is_windows_path(path):
        return path.replace("/", "\\").lower()
    return path


def basename_key(path: str) -> str:
    """The lower-cased file name, whichever separator the path uses."""
    return ntpath.basename(path).lower() if ("\\" in path) else os.path.basename(path).lower()


class PlexIndex:
    """The index database; one instance per process, used by the draining thread."""

    def __init__(self, data_dir: Path | str, *, on_listed: OnListed | None = None) -> None:
        self.on_listed = on_listed
        self.path = Path(data_dir) / INDEX_DB
        self.conn = sqlite3.connect(
            os.fspath(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self.conn.execute("PRAGMA journal_mode=WAL")
        # A cache that can always be rebuilt from Plex: durability after power loss is not
        # worth an fsync per rebuild.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        if self.conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            # A cache: an older layout is dropped and rebuilt from Plex, never migrated.
            self.conn.executescript(
                "DROP TABLE IF EXISTS parts; DROP TABLE IF EXISTS sections;"
                f"PRAGMA user_version={SCHEMA_VERSION};"
            )
        self.conn.executescript(_SCHEMA)
        self._sections: list[SectionInfo] = []
        self._refreshed_on_miss = False
        self._relisted_full = False
        self.listing_requests = 0

    def close(self) -> None:
        self.conn.close()

    # -- which sections ---------------------------------------------------------------------

    # -- refreshing -------------------------------------------------------------------------

    def refresh(self, server: Queryable, libraries: list[str]) -> list[SectionInfo]:
        """Check the section stamps (one request) and bring every changed section up to date.

        Call once per drain. A section never listed (or not fully listed for a day) is listed in
        full; a section whose ``updatedAt`` moved gets an incremental listing of the items
        updated since the stamp seen last time. Returns the sections in use.
        """
        chosen = select_sections(list_sections(server), libraries)
        self._sections = chosen
        stored = {
            row[0]: (row[1], row[2], row[3])
            for row in self.conn.execute(
                "SELECT key, updated_at, full_at, item_stamp FROM sections WHERE listed_at IS NOT NULL"
            )
        }
        now = time.time()
        for section in chosen:
            previous = stored.get(section.key)
            if previous is None or (previous[1] or 0) < now - FULL_RELIST_AFTER_S:
                self.relist(server, section)
            elif previous[0] != section.updated_at:
                self.update_since(server, section, previous[2])
        wanted = {s.key for s in chosen}
        stale = [key for key in stored if key not in wanted]
        if stale:
            self._drop_sections(stale)
        return chosen

    def check_changes(self, server: Queryable) -> int:
        """List what Plex changed since the last look in every indexed section, with no sections
        request (one listing request per section when little changed). Returns the items seen.

        Edits made in Plex need not move a section's stamp, so a drain asks the items directly.
        """
        stored = self.conn.execute(
            "SELECT key, title, type, updated_at, item_stamp FROM sections WHERE listed_at IS NOT NULL"
        ).fetchall()
        seen = 0
        for key, title, kind, updated, stamp in stored:
            seen += self.update_since(server, SectionInfo(key, title, kind, updated), stamp)
        return seen

    def indexed_sections(self) -> list[SectionInfo]:
        """The libraries listed so far (those PlexSync writes to), without asking Plex."""
        rows = self.conn.execute("SELECT key, title, type, updated_at FROM sections WHERE listed_at IS NOT NULL")
        return [SectionInfo(key, title, kind, updated) for key, title, kind, updated in rows]

    def refresh_after_miss(self, server: Any) -> bool:
        """After a lookup found nothing: list what Plex added or changed, once per drain.

        Plex may have scanned the file after the section stamp was read. Returns False when
        that was already done in this drain (the caller then reports "not found").
        """
        if self._refreshed_on_miss or not self._sections:
            return False
        self._refreshed_on_miss = True
        for section in self._sections:
            stamp = self.conn.execute(
                "SELECT item_stamp FROM sections WHERE key = ?", (section.key,)
            ).fetchone()
            self.update_since(server, section, stamp[0] if stamp else None)
        return True

    def relist_all_once(self, server: Any) -> bool:
        """A full re-listing of every section, once per drain, when the index proved stale.

        A 404 on an indexed item, or two indexed items for one path, means items were removed
        or re-added, which an incremental listing cannot see.
        """
        if self._relisted_full or not self._sections:
            return False
        self._relisted_full = True
        for section in self._sections:
            self.relist(server, section)
        return True

    def relist(self, server: Any, section: SectionInfo) -> int:
        """Replace one section's rows with a fresh paged listing; returns the item count."""
        started = time.monotonic()
        listing_type = LISTING_TYPE.get(section.type)
        if listing_type is None:
            return 0
        counted = {"files": 0, "items": 0}
        newest: list[int | None] = [None]

        def counting(rows: Iterable[tuple]) -> Iterator[tuple]:
            for row in rows:
                counted["files"] += 1
                yield row

        def replace(c: sqlite3.Connection) -> None:
            # Streamed inside one transaction: a listing that fails half-way rolls back and
            # leaves the previous rows, and no page list is ever held in memory.
            c.execute("DELETE FROM parts WHERE section_key = ?", (section.key,))
            for page, stamp, items in self._pages(server, section, listing_type, ""):
                c.executemany(
                    "INSERT INTO parts (section_key, rating_key, item_type, file, norm, base, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    counting(page),
                )
                newest[0] = _newest(newest[0], stamp)
                self._listed(items)
            counted["items"] = c.execute(
                "SELECT count(DISTINCT rating_key) FROM parts WHERE section_key = ?", (section.key,)
            ).fetchone()[0]
            self._store_section(c, section, full=True, item_stamp=newest[0])

        self._transaction(replace)
        protocol.debug(
            f"indexed Plex library '{section.title}': {counted['items']} items, "
            f"{counted['files']} files in {time.monotonic() - started:.1f}s"
        )
        return counted["items"]

    def update_since(self, server: Any, section: SectionInfo, stamp: int | None) -> int:
        """Re-read only the items Plex updated since ``stamp`` (the newest item stamp seen).

        A change made after the last listing gives the item an ``updatedAt`` from Plex's clock
        later than what that listing saw, less any clock skew between items (the margin). A
        server that ignores the filter answers the whole section, which is still correct, only
        slower; one that refuses it gets a full listing.
        """
        listing_type = LISTING_TYPE.get(section.type)
        if listing_type is None:
            return 0
        if stamp is None:
            return self.relist(server, section)
        since = int(stamp) - STAMP_MARGIN_S
        counted = {"items": 0}
        newest: list[int | None] = [stamp]

        def update(c: sqlite3.Connection) -> None:
            for page, page_stamp, items in self._pages(server, section, listing_type, f"&updatedAt>>={since}"):
                newest[0] = _newest(newest[0], page_stamp)
                keys = sorted({row[1] for row in page})
                counted["items"] += len(items)
                c.executemany("DELETE FROM parts WHERE rating_key = ?", [(k,) for k in keys])
                c.executemany(
                    "INSERT INTO parts (section_key, rating_key, item_type, file, norm, base, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    page,
                )
                self._listed(items)
            self._store_section(c, section, full=False, item_stamp=newest[0])

        try:
            self._transaction(update)
        except PermanentSyncError:
            return self.relist(server, section)
        protocol.debug(f"Plex library '{section.title}': {counted['items']} item(s) changed since the last look")
        return counted["items"]

    def _store_section(self, c: sqlite3.Connection, section: SectionInfo, *, full: bool,
                       item_stamp: int | None) -> None:
        now = time.time()
        c.execute(
            "INSERT INTO sections (key, title, type, updated_at, item_stamp, listed_at, full_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET title=excluded.title,"
            " type=excluded.type, updated_at=excluded.updated_at, item_stamp=excluded.item_stamp,"
            " listed_at=excluded.listed_at, full_at=COALESCE(excluded.full_at, full_at)",
            (section.key, section.title, section.type, section.updated_at, item_stamp, now,
             now if full else None),
        )

    def _pages(self, server: Queryable, section: SectionInfo, listing_type: int,
               extra: str) -> Iterator[tuple[list[tuple], int | None, list[ListedItem]]]:
        """Pages of index rows (section, ratingKey, type, file, norm, base, updatedAt), one per
        Part, with the newest item ``updatedAt`` on the page and the page's items.

        Raw ``server.query`` pages: the ElementTree of one page is read and dropped, never
        turned into plexapi objects.
        """
        start = 0
        key = f"/library/sections/{section.key}/all?type={listing_type}&includeGuids=0{extra}"
        default_type = ITEM_TYPES.get(str(listing_type), "movie")
        while True:
            headers = {"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": str(PAGE_SIZE)}
            asked_at = time.time()
            container = call(
                f"listing Plex library '{section.title}'", server.query, key, headers=headers
            )
            self.listing_requests += 1
            if container is None:
                return
            rows: list[tuple] = []
            items: list[ListedItem] = []
            count = 0
            for element in container:
                count += 1
                item = _listed_item(element, section.key, default_type, asked_at)
                if item is None:
                    continue
                items.append(item)
                rows.extend((section.key, item.rating_key, item.item_type, file, normalize_path(file),
                             basename_key(file), item.updated_at) for file in item.files)
            total_text = container.attrib.get("totalSize") or container.attrib.get("size")
            del container
            yield rows, _newest_of(items), items
            start += count
            if count == 0 or total_text is None or start >= int(total_text):
                return

    def _listed(self, items: list[ListedItem]) -> None:
        if self.on_listed is not None and items:
            self.on_listed(items)

    def _drop_sections(self, keys: list[int]) -> None:
        def drop(c: sqlite3.Connection) -> None:
            for key in keys:
                c.execute("DELETE FROM parts WHERE section_key = ?", (key,))
                c.execute("DELETE FROM sections WHERE key = ?", (key,))

        self._transaction(drop)

    def _transaction(self, work) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            work(self.conn)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- lookups ----------------------------------------------------------------------------

    @property
    def sections(self) -> list[SectionInfo]:
        return list(self._sections)

    def _section_filter(self) -> tuple[str, tuple]:
        keys = tuple(s.key for s in self._sections)
        if not keys:
            return "", ()
        # The unary + keeps SQLite from choosing the section index over the path index.
        return f" AND +section_key IN ({','.join('?' * len(keys))})", keys

    def by_path(self, plex_path: str) -> list[IndexedPart]:
        """Items with a Part at exactly this path (Plex's namespace)."""
        clause, params = self._section_filter()
        rows = self.conn.execute(
            "SELECT rating_key, section_key, item_type, file, updated_at FROM parts WHERE norm = ?" + clause,  # noqa: S608 - placeholders only
            (normalize_path(plex_path), *params),
        ).fetchall()
        return [IndexedPart(*row) for row in rows]

    def by_basename(self, plex_path: str) -> list[IndexedPart]:
        """Items with a Part of the same file name, compared case-insensitively."""
        clause, params = self._section_filter()
        rows = self.conn.execute(
            "SELECT rating_key, section_key, item_type, file, updated_at FROM parts WHERE base = ?" + clause,  # noqa: S608 - placeholders only
            (basename_key(plex_path), *params),
        ).fetchall()
        return [IndexedPart(*row) for row in rows]

    def updated_at(self, rating_key: int) -> int | None:
        """The item's ``updatedAt`` as last listed (None: not in the index)."""
        row = self.conn.execute("SELECT max(updated_at) FROM parts WHERE rating_key = ?", (int(rating_key),)).fetchone()
        return row[0] if row else None

    def files_of(self, rating_key: int) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT file FROM parts WHERE rating_key = ?", (int(rating_key),))]

    def item_count(self) -> int:
        return self.conn.execute("SELECT count(DISTINCT rating_key) FROM parts").fetchone()[0]


def _newest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _listed_item(element: Any, section_key: int, default_type: str, asked_at: float) -> ListedItem | None:
    rating_key = element.attrib.get("ratingKey")
    if not rating_key:
        return None
    updated = element.attrib.get("updatedAt")
    files = tuple(p.attrib["file"] for p in element.iter("Part") if p.attrib.get("file"))
    scalars = {name: element.attrib.get(name) or "" for name in LISTED_SCALARS}
    scalars["originallyAvailableAt"] = scalars["originallyAvailableAt"][:10]
    return ListedItem(int(rating_key), section_key, element.attrib.get("type") or default_type,
                      int(updated) if updated and updated.isdigit() else None, files, scalars, asked_at)


def _newest_of(items: list[ListedItem]) -> int | None:
    stamps = [i.updated_at for i in items if i.updated_at is not None]
    return max(stamps) if stamps else None
