"""worker.drain.drift: what the listings the index reads anyway tell about items PlexSync wrote."""

from __future__ import annotations

import time
from pathlib import Path

from plex.index import ListedItem
from sync import db
from sync.ledger import PLEX_EDIT, RECREATED, STAMP_RESOLUTION_S, Ledger
from worker.drain.drift import OWN_WRITE_TOLERANCE_S, DriftCheck


def record(ledger: Ledger, scene_id: int, rk: int, path: str, *, stamp: int | None, wrote: bool,
           summary: str | None = None, kept: tuple[str, ...] = ()) -> None:
    written: dict[str, object] = {"title": f"T{scene_id}", **({"summary": summary} if summary is not None else {})}

    def work(c) -> None:
        Ledger(c).record(scene_id, rating_key=rk, section_key=1, item_type="movie", plex_path=path,
                         matched_file=path, matched_by="path", written=written, photos={},
                         fields_hash="h", kept=list(kept), item_updated_at=stamp, seen_at=None, wrote=wrote)

    db.transaction(ledger.conn, work)


def listed(rk: int, updated: int, path: str, title: str, *, summary: str = "",
           asked_at: float | None = None) -> ListedItem:
    """A listed item; ``asked_at`` defaults to a listing asked for after the second of any write
    the test just recorded."""
    scalars = {"title": title, "summary": summary, "originallyAvailableAt": "", "studio": "", "userRating": ""}
    asked = asked_at if asked_at is not None else time.time() + STAMP_RESOLUTION_S
    return ListedItem(rk, 1, "movie", updated, (path,), scalars, asked)


def test_drift_marks_and_adoptions(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / db.DB_NAME)
    ledger = Ledger(conn)
    now = int(time.time())
    record(ledger, 1, 101, "/m/a.mp4", stamp=now - 100, wrote=False)  # item unchanged since
    record(ledger, 2, 102, "/m/b.mp4", stamp=now - 100, wrote=False)  # edited in Plex since
    record(ledger, 3, 103, "/m/c.mp4", stamp=None, wrote=True)  # just written, stamp unknown
    record(ledger, 4, 104, "/m/d.mp4", stamp=None, wrote=True)  # written, then a person changed it
    record(ledger, 5, 105, "/m/e.mp4", stamp=now - 100, wrote=False)  # its file is now another item
    record(ledger, 6, 106, "/m/f.mp4", stamp=now - 100, wrote=False)  # its file is in two libraries
    check = DriftCheck(lambda: ledger)
    check([
        listed(101, now - 100, "/m/a.mp4", "T1"),
        listed(102, now - 10, "/m/b.mp4", "Typed by hand"),
        listed(103, now, "/m/c.mp4", "T3"),
        listed(104, now, "/m/d.mp4", "Changed right after"),
        listed(205, now, "/m/e.mp4", "e"),
        listed(106, now - 100, "/m/f.mp4", "T6"), listed(306, now, "/m/f.mp4", "copy"),
    ])
    rows = {scene: ledger.get(scene) for scene in range(1, 7)}
    assert {scene: row.drift for scene, row in rows.items() if row and row.drift} == {
        2: PLEX_EDIT, 4: PLEX_EDIT, 5: RECREATED}
    assert rows[3] is not None and rows[3].item_updated_at == now  # its own write: adopted
    assert rows[1] is not None and rows[1].item_updated_at == now - 100
    assert check.adopted == 1 and check.marked == {PLEX_EDIT: 2, RECREATED: 1}
    assert sorted(ledger.drifted(10)) == [(2, PLEX_EDIT), (4, PLEX_EDIT), (5, RECREATED)]
    assert ledger.drifted(1) and len(ledger.drifted(1)) == 1  # bounded per drain
    conn.close()


def test_a_stamp_far_from_the_write_is_checked_not_adopted(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / db.DB_NAME)
    ledger = Ledger(conn)
    record(ledger, 1, 101, "/m/a.mp4", stamp=None, wrote=True)
    later = int(time.time()) + OWN_WRITE_TOLERANCE_S + 60  # an agent refresh long after the write
    DriftCheck(lambda: ledger)([listed(101, later, "/m/a.mp4", "T1")])
    row = ledger.get(1)
    assert row is not None and row.drift == PLEX_EDIT and row.item_updated_at is None
    conn.close()


def test_a_listing_within_the_second_of_the_write_leaves_the_stamp_unverified(tmp_path: Path) -> None:
    """Plex stamps whole seconds: a listing asked for within the second of PlexSync's write cannot
    vouch for the rest of that second (an edit then moves no stamp). Its stamp is kept, so a later
    stamp still counts as a change, but it vouches for the item (the ledger may stand in for a
    GET) only once a listing after that second shows the item unchanged."""
    conn = db.connect(tmp_path / db.DB_NAME)
    ledger = Ledger(conn)
    record(ledger, 1, 101, "/m/a.mp4", stamp=None, wrote=True)
    record(ledger, 2, 102, "/m/b.mp4", stamp=None, wrote=True)
    first = ledger.get(1)
    assert first is not None and first.written_at is not None
    written_at = first.written_at
    stamp = int(written_at)
    check = DriftCheck(lambda: ledger)
    soon = written_at + 0.2
    check([listed(101, stamp, "/m/a.mp4", "T1", asked_at=soon), listed(102, stamp, "/m/b.mp4", "T2", asked_at=soon)])
    row = ledger.get(1)
    assert row is not None and row.item_updated_at == stamp and not row.verified and row.drift is None
    later = written_at + STAMP_RESOLUTION_S
    check([listed(101, stamp, "/m/a.mp4", "T1", asked_at=later),  # unchanged: now it vouches
           listed(102, stamp + 3, "/m/b.mp4", "T2", asked_at=later)])  # changed since (tags, say)
    row = ledger.get(1)
    assert row is not None and row.item_updated_at == stamp and row.verified and row.drift is None
    other = ledger.get(2)
    assert other is not None and other.drift == PLEX_EDIT and not other.verified
    assert check.adopted == 3 and check.marked[PLEX_EDIT] == 1
    conn.close()


def test_listed_values_are_compared_whatever_the_stamps_say(tmp_path: Path) -> None:
    """An edit in the second of PlexSync's write leaves the stamp: the values tell. A field kept
    for a person's edit holds that person's value and is no drift."""
    conn = db.connect(tmp_path / db.DB_NAME)
    ledger = Ledger(conn)
    stamp = int(time.time()) - 100
    record(ledger, 1, 101, "/m/a.mp4", stamp=stamp, wrote=False, summary="Ours")  # as written
    record(ledger, 2, 102, "/m/b.mp4", stamp=stamp, wrote=False, summary="Ours")  # edited, same stamp
    record(ledger, 3, 103, "/m/c.mp4", stamp=stamp, wrote=False, summary="Ours", kept=("summary",))
    record(ledger, 4, 104, "/m/d.mp4", stamp=None, wrote=True, summary="Ours")  # kept, just written
    conn.execute("UPDATE ledger SET kept = '[\"summary\"]' WHERE scene_id = 4")
    check = DriftCheck(lambda: ledger)
    check([
        listed(101, stamp, "/m/a.mp4", "T1", summary="Ours"),
        listed(102, stamp, "/m/b.mp4", "T2", summary="A person's"),
        listed(103, stamp, "/m/c.mp4", "T3", summary="A person's"),
        listed(104, int(time.time()), "/m/d.mp4", "T4", summary="A person's"),
    ])
    assert {scene: row.drift for scene in range(1, 5) if (row := ledger.get(scene)) and row.drift} == {2: PLEX_EDIT}
    row = ledger.get(4)
    assert row is not None and row.item_updated_at is not None  # its own write, adopted
    assert check.marked == {PLEX_EDIT: 1, RECREATED: 0}
    conn.close()
