"""Noticing drift on the Plex side from the listings the path index reads anyway.

Every listed item comes with its ``updatedAt``, its files and the values PlexSync writes that a
listing shows (title, summary, studio, date, rating). Against the ledger:

* an item whose listed values differ from what PlexSync last wrote (fields kept for a person's
  edit aside) was changed in Plex, whatever its stamp says: Plex stamps ``updatedAt`` in whole
  seconds, so an edit made in the second of PlexSync's write leaves the stamp as it was;
* an item whose ``updatedAt`` moved past the one recorded after PlexSync's last write was changed
  in Plex (by hand, or an agent refresh resetting unlocked fields);
* an item written by PlexSync whose stamp is not known yet takes the listed stamp as its own if
  the listing shows what PlexSync wrote and the stamp is close to the write (else it is marked).
  The stamp vouches for the item only once a listing asked for after the second of the write
  shows it unchanged: a listing within that second cannot vouch for the rest of it. Until then
  a later stamp still counts as a change, and the next write of the scene reads the item first;
* a scene file now held by another item than the one the ledger names (the item was re-created,
  or an exact path appeared for a match made by file name): marked ``RECREATED``.

Changed items are marked ``PLEX_EDIT``. No request is made here: marked scenes are queued by the
drain, a bounded number at a time (Plex's own refreshes and media analysis also move
``updatedAt``; a library-wide refresh must not turn one drain into thousands of item reads), and
every one of them by *Sync all*, whose listing covers every item.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from plex.index import LISTED_SCALARS, ListedItem
from plex.writer import same_scalar
from queue.lease import enqueue_scenes
from sync.ledger import ASKED, PLEX_EDIT, RECREATED, Ledger, LedgerEntry

# How far Plex's stamp of PlexSync's own write may lie from PlexSync's clock (clock skew, commit).
OWN_WRITE_TOLERANCE_S = 300
# Drifted scenes queued by one drain (each costs one GET, maybe one PUT).
PER_DRAIN = 100
REASONS = {PLEX_EDIT: "plex_drift", RECREATED: "plex_recreated", ASKED: "resync"}


class DriftCheck:
    """The index's ``on_listed`` callback: compares listed items with the ledger, counts."""

    def __init__(self, ledger: Callable[[], Ledger]) -> None:
        """``ledger`` gives the ledger on the calling thread's connection (listings run in the
        drain's worker thread and in its main thread)."""
        self.ledger = ledger
        self.adopted = 0
        self.marked: dict[str, int] = {PLEX_EDIT: 0, RECREATED: 0}

    def __call__(self, items: list[ListedItem]) -> None:
        ledger = self.ledger()
        by_key = {item.rating_key: item for item in items}
        adopt: dict[int, tuple[int, float | None]] = {}
        marks: dict[int, str] = {}
        for row in ledger.rows_for_items(by_key):
            item = by_key[row.rating_key]
            if item.updated_at is None or row.drift is not None:
                continue
            if row.item_updated_at is None:
                if _own_write(row, item):
                    adopt[row.scene_id] = (item.updated_at, item.asked_at)
                else:
                    marks[row.scene_id] = PLEX_EDIT
            elif item.updated_at > row.item_updated_at or not _shows_written(row, item):
                marks[row.scene_id] = PLEX_EDIT
            elif not row.verified and row.seen_after_write(item.asked_at):
                adopt[row.scene_id] = (item.updated_at, item.asked_at)  # now it vouches for the item
        holders: dict[str, set[int]] = {}  # a file may sit in two libraries: several items
        for item in items:
            for path in item.files:
                holders.setdefault(path, set()).add(item.rating_key)
        for row in ledger.rows_for_paths(holders):
            if row.plex_path is not None and row.rating_key not in holders[row.plex_path] and row.drift != RECREATED:
                marks[row.scene_id] = RECREATED
        ledger.adopt_stamps(adopt)
        ledger.mark_drift(marks)
        self.adopted += len(adopt)
        for kind in marks.values():
            self.marked[kind] += 1


def _own_write(row: LedgerEntry, item: ListedItem) -> bool:
    """Can the listed stamp be that of PlexSync's own last write? The values the listing shows
    must still be the ones written, and the stamp near the write."""
    if row.written is None or row.written_at is None or item.updated_at is None:
        return False
    if abs(item.updated_at - row.written_at) > OWN_WRITE_TOLERANCE_S:
        return False
    return _shows_written(row, item)


def _shows_written(row: LedgerEntry, item: ListedItem) -> bool:
    """Does the listing show what PlexSync last wrote, in every field it shows? Fields kept for a
    person's edit hold that person's value; unreadable ledger values tell nothing."""
    written = row.written or {}
    return all(same_scalar(name, item.scalars.get(name), written[name])
               for name in LISTED_SCALARS if name in written and name not in row.kept)


def queue_drifted(ledger: Ledger, conn: sqlite3.Connection, limit: int | None = PER_DRAIN) -> dict[str, int]:
    """Queue marked scenes for a check (forced: their Stash data did not change); by mark."""
    marked = ledger.drifted(limit if limit is not None else 1_000_000_000)
    counts: dict[str, int] = {}
    for kind in {kind for _, kind in marked}:
        scenes: list[tuple[int, str | None]] = [(scene_id, None) for scene_id, k in marked if k == kind]
        enqueue_scenes(conn, scenes, reason=REASONS.get(kind, "plex_drift"), force=True)
        counts[kind] = len(scenes)
    return counts
