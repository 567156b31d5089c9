"""worker.drain.drift: what the listings the index reads anyway tell about items PlexSync wrote."""

from __future__ import annotations

import time
from pathlib import Path

from plex.index import ListedItem
from sync import db
from sync.ledger import PLEX_EDIT, RECREATED, Ledger
from worker.drain.drift import OWN_WRITE_TOLERANCE_S, DriftCheck


def record(ledger: Ledger, scene_id: int, rk: int, path: str, *, stamp: int | None, wrote: bool) -> None:
    def work(c) -> None:
        Ledger(c).record(scene_id, rating_key=rk, section_key=1, item_type="movie", plex_path=path,
                         matched_file=path, matched_by="path", written={"title": f"T{scene_id}"}, photos={},
                         fields_hash="h", kept=[], item_updated_at=stamp, wrote=wrote)

    db.transaction(ledger.conn, work)


def listed(rk: int, updated: int, path: str, title: str) -> ListedItem:
    scalars = {"title": title, "summary": "", "originallyAvailableAt": "", "studio": "", "userRating": ""}
    return ListedItem(rk, 1, "movie", updated, (path,), scalars)


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
