"""The ledger: what PlexSync wrote to each Plex item, so that it knows its own values from a
person's, notices drift on either side, and writes only what differs.

One row per synced scene: the item it is bound to (rating key, the Plex file that matched, how it
matched), per field the value PlexSync last wrote, the actor photos it set (as hashes of their
URLs: a URL may carry an API key, which never goes to disk), the hash of the values Stash wanted
(so *Sync all* can compare a whole library without asking Plex), the fields kept for a person's
edit, and the item's ``updatedAt`` just after PlexSync's last write (None until a look at the item
made after the second of that write shows it as written). ``drift`` marks rows whose item changed
in Plex (or was re-created, or a person asked for a re-sync) until a drain checks them.

Values that cannot be read back (a hand-edited or truncated row) read as unknown, which makes the
worker compare with Plex in full instead of trusting them: never a crash.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import namedtuple
from collections.abc import Iterable

from sync import db

LEDGER = db.register(db.Table("ledger", """
CREATE TABLE IF NOT EXISTS ledger (
    scene_id INTEGER PRIMARY KEY,
    rating_key INTEGER NOT NULL,
    section_key INTEGER,
    item_type TEXT,
    plex_path TEXT,
    matched_file TEXT,
    matched_by TEXT,
    written TEXT,
    photos TEXT,
    fields_hash TEXT,
    kept TEXT,
    item_updated_at INTEGER,
    written_at REAL,
    drift TEXT,
    seen_at REAL
);
CREATE INDEX IF NOT EXISTS ledger_item ON ledger(rating_key);
CREATE INDEX IF NOT EXISTS ledger_path ON ledger(plex_path);
CREATE INDEX IF NOT EXISTS ledger_drift ON ledger(drift) WHERE drift IS NOT NULL
""", (
    # Added with same-second drift (issue 16): when the look that showed item_updated_at was asked
    # for (None on older rows: taken as verified, as they were).
    ("seen_at", "ALTER TABLE ledger ADD COLUMN seen_at REAL"),
)))

# Why a row is marked: the item changed in Plex, the scene's file is now another item, or a
# person asked for a re-sync (the item is to be read from Plex, whatever the ledger says).
PLEX_EDIT = "plex"
RECREATED = "recreated"
ASKED = "asked"
# Plex stamps updatedAt in whole seconds: an edit made later in the second of PlexSync's write
# leaves the stamp as the write left it.
STAMP_RESOLUTION_S = 1.0
_CHUNK = 500

_COLUMNS = (
    "scene_id, rating_key, section_key, item_type, plex_path, matched_file, matched_by, written,"
    " photos, fields_hash, kept, item_updated_at, written_at, drift, seen_at"
)


class LedgerEntry(namedtuple(
    "LedgerEntry",
    "scene_id rating_key section_key item_type plex_path matched_file matched_by written photos"
    " fields_hash kept item_updated_at written_at drift seen_at",
)):
    """One scene's row; ``written``/``photos`` are None when unreadable (treat as unknown)."""

    __slots__ = ()

    @property
    def verified(self) -> bool:
        """Is ``item_updated_at`` the item's stamp as PlexSync left it, vouched for by a look made
        after the second of PlexSync's last write? Only then may the ledger stand in for a GET."""
        return self.item_updated_at is not None and (self.seen_at is None or self.seen_after_write(self.seen_at))

    def seen_after_write(self, asked_at: float | None) -> bool:
        """Was a look at the item (a listing, a GET) asked for at ``asked_at`` made after the
        second in which Plex stamped PlexSync's last write? Only such a look shows every edit
        made in that second, since none of them moved the stamp. Measured as time elapsed on
        this machine's clock since the write returned, so a skew between the two clocks does not
        matter: Plex's clock has moved on by as much."""
        if self.written_at is None:
            return True
        return asked_at is not None and asked_at >= self.written_at + STAMP_RESOLUTION_S


def _decode(text: str | None, kind: type) -> object:
    if text is None:
        return kind()
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, kind) else None


def _entry(row: tuple) -> LedgerEntry:
    values = list(row)
    values[7] = _decode(values[7], dict)  # written
    values[8] = _decode(values[8], dict)  # photos
    kept = _decode(values[10], list)
    values[10] = [str(k) for k in kept] if isinstance(kept, list) else []
    return LedgerEntry(*values)


def _chunks(values: list) -> Iterable[list]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class Ledger:
    """The ledger table over one connection (the caller owns it)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        db.ensure(conn, LEDGER)
        self.conn = conn

    def get(self, scene_id: int) -> LedgerEntry | None:
        """The scene's row, or None (a read)."""
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM ledger WHERE scene_id = ?", (int(scene_id),)  # noqa: S608 - constant column list
        ).fetchone()
        return _entry(row) if row else None

    def record(self, scene_id: int, *, rating_key: int, section_key: int | None, item_type: str,
               plex_path: str | None, matched_file: str | None, matched_by: str,
               written: dict[str, object], photos: dict[str, str], fields_hash: str, kept: list[str],
               item_updated_at: int | None, seen_at: float | None, wrote: bool) -> None:
        """Replace the scene's row after a sync; call inside the transaction that records it.

        ``wrote`` says whether PlexSync changed the item just now: then its ``updatedAt`` is not
        known until a listing shows it, and ``written_at`` is now. Otherwise ``item_updated_at``
        is the stamp the look at the item showed, asked for at ``seen_at``, and the time of
        PlexSync's last write to it stays (none for a new row). Clears any drift mark.
        Idempotent for equal arguments.
        """
        written_at = time.time() if wrote else None
        self.conn.execute(
            "INSERT INTO ledger (scene_id, rating_key, section_key, item_type, plex_path, matched_file,"
            " matched_by, written, photos, fields_hash, kept, item_updated_at, written_at, drift, seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)"
            " ON CONFLICT(scene_id) DO UPDATE SET rating_key = excluded.rating_key,"
            " section_key = excluded.section_key, item_type = excluded.item_type,"
            " plex_path = excluded.plex_path, matched_file = excluded.matched_file,"
            " matched_by = excluded.matched_by, written = excluded.written, photos = excluded.photos,"
            " fields_hash = excluded.fields_hash, kept = excluded.kept,"
            " item_updated_at = excluded.item_updated_at, seen_at = excluded.seen_at,"
            " written_at = COALESCE(excluded.written_at, ledger.written_at), drift = NULL",
            (int(scene_id), int(rating_key), section_key, item_type, plex_path, matched_file, matched_by,
             json.dumps(written, sort_keys=True, ensure_ascii=False), json.dumps(photos, sort_keys=True),
             fields_hash, json.dumps(sorted(kept)), None if wrote else item_updated_at,
             written_at, None if wrote else seen_at),
        )

    def forget(self, scene_id: int, *, conn: sqlite3.Connection | None = None) -> None:
        """Drop the scene's row (scene deleted, or its item gone); idempotent. With ``conn`` it
        joins the caller's transaction."""
        target = conn or self.conn
        target.execute("DELETE FROM ledger WHERE scene_id = ?", (int(scene_id),))

    # -- drift ---------------------------------------------------------------------------------

    def rows_for_items(self, rating_keys: Iterable[int]) -> list[LedgerEntry]:
        """Rows bound to any of these items (reads in chunks)."""
        found: list[LedgerEntry] = []
        for chunk in _chunks([int(k) for k in rating_keys]):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM ledger WHERE rating_key IN ({marks})", chunk  # noqa: S608 - placeholders only
            )
            found += [_entry(row) for row in rows]
        return found

    def rows_for_paths(self, plex_paths: Iterable[str]) -> list[LedgerEntry]:
        """Rows whose scene file, as Plex names it, is any of these paths (reads in chunks)."""
        found: list[LedgerEntry] = []
        for chunk in _chunks(list(plex_paths)):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM ledger WHERE plex_path IN ({marks})", chunk  # noqa: S608 - placeholders only
            )
            found += [_entry(row) for row in rows]
        return found

    def adopt_stamps(self, stamps: dict[int, tuple[int, float | None]]) -> None:
        """Scene → (the item's ``updatedAt`` as a listing showed it with what PlexSync wrote, when
        that listing was asked for): later changes are measured from it, and it vouches for the
        item once seen after the second of PlexSync's write. One transaction."""
        if stamps:
            db.transaction(self.conn, lambda c: c.executemany(
                "UPDATE ledger SET item_updated_at = ?, seen_at = ? WHERE scene_id = ?",
                [(int(stamp), seen_at, int(scene)) for scene, (stamp, seen_at) in stamps.items()],
            ))

    def mark_drift(self, marks: dict[int, str]) -> None:
        """Scene → why it drifted (PLEX_EDIT or RECREATED); one transaction, idempotent."""
        if marks:
            db.transaction(self.conn, lambda c: c.executemany(
                "UPDATE ledger SET drift = ? WHERE scene_id = ?",
                [(kind, int(scene)) for scene, kind in marks.items()],
            ))

    def ask_check(self, scene_ids: Iterable[int]) -> None:
        """Mark these scenes' rows ASKED, unless marked already: their next sync reads the item
        from Plex instead of taking its values from the ledger. One transaction, idempotent."""
        db.transaction(self.conn, lambda c: c.executemany(
            "UPDATE ledger SET drift = ? WHERE scene_id = ? AND drift IS NULL",
            [(ASKED, int(scene)) for scene in scene_ids],
        ))

    def drifted(self, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` marked scenes with the mark, oldest sync first (a read)."""
        rows = self.conn.execute(
            "SELECT scene_id, drift FROM ledger WHERE drift IS NOT NULL ORDER BY written_at, scene_id LIMIT ?",
            (int(limit),),
        )
        return [(int(scene), str(kind)) for scene, kind in rows]

    def drift_counts(self) -> dict[str, int]:
        """Marked rows per mark (a read)."""
        rows = self.conn.execute("SELECT drift, count(*) FROM ledger WHERE drift IS NOT NULL GROUP BY drift")
        return {str(kind): int(count) for kind, count in rows}

    # -- whole-library reads -------------------------------------------------------------------

    def fields_hashes(self, scene_ids: list[int]) -> dict[int, str | None]:
        """Scene → the hash of the values Stash wanted at its last sync (reads in chunks)."""
        found: dict[int, str | None] = {}
        for chunk in _chunks([int(i) for i in scene_ids]):
            marks = ",".join("?" * len(chunk))
            for scene, value in self.conn.execute(
                f"SELECT scene_id, fields_hash FROM ledger WHERE scene_id IN ({marks})", chunk  # noqa: S608 - placeholders only
            ):
                found[int(scene)] = value
        return found

    def bindings(self, scene_ids: Iterable[int]) -> dict[int, int]:
        """Scene → the rating key it is bound to, for the synced ones among ``scene_ids`` (reads
        in chunks)."""
        found: dict[int, int] = {}
        for chunk in _chunks([int(i) for i in scene_ids]):
            marks = ",".join("?" * len(chunk))
            for scene, key in self.conn.execute(
                f"SELECT scene_id, rating_key FROM ledger WHERE scene_id IN ({marks})", chunk  # noqa: S608 - placeholders only
            ):
                found[int(scene)] = int(key)
        return found

    def kept_for_people(self, limit: int) -> list[tuple[int, list[str]]]:
        """Scenes with fields kept for a person's edit in Plex, and which (a read)."""
        rows = self.conn.execute(
            "SELECT scene_id, kept FROM ledger WHERE kept IS NOT NULL AND kept != '[]' ORDER BY scene_id LIMIT ?",
            (int(limit),),
        )
        result = []
        for scene, kept in rows:
            fields = _decode(kept, list)
            result.append((int(scene), [str(f) for f in fields] if isinstance(fields, list) else []))
        return result

    def section_keys(self) -> list[int]:
        """The Plex libraries PlexSync has written to (a read)."""
        rows = self.conn.execute("SELECT DISTINCT section_key FROM ledger WHERE section_key IS NOT NULL")
        return sorted(int(key) for (key,) in rows)

    def count_kept(self) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM ledger WHERE kept IS NOT NULL AND kept != '[]'"
        ).fetchone()[0]
