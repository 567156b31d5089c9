"""The small decisions of the watch-state exchange and its storage, one by one (the whole exchange
runs end to end in test_watch_state_e2e.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from plex.watch import PlayState
from sync import db
from sync.watch_ledger import PLEX, NewPlay, Seen, WatchLedger
from worker.drain.watch_look import News, _new_plays
from worker.drain.watch_state import _resumes


def news(scene: int, resume: float, at: float, key: int = 100) -> News:
    return News(scene, key, [], resume, at)


@pytest.mark.parametrize(("plex", "stash", "last", "scrobbled", "expected"), [
    (60.0, None, 0.0, False, ({1: 60.0}, {}, {})),  # only Plex moved
    (None, 75.0, 0.0, False, ({}, {1: (100, 75.0)}, {})),  # only Stash moved
    (60.0, 75.0, 10.0, False, ({1: 60.0}, {}, {})),  # both: Plex played later (at 200 > 100)
    (30.0, 60.0, 30.0, False, ({}, {1: (100, 60.0)}, {})),  # Plex as exchanged, Stash moved
    (60.0, 60.4, 0.0, False, ({}, {}, {1: 60.0})),  # already equal: recorded, not written
    (60.0, 60.0, 60.0, False, ({}, {}, {})),  # nothing moved
    (None, 0.0, 90.0, True, ({}, {}, {1: 0.0})),  # Stash finished it; its scrobble clears Plex's
    (None, 0.0, 90.0, False, ({}, {}, {})),  # Plex cannot be given 0: left alone
])
def test_which_resume_point_goes_where(plex, stash, last, scrobbled, expected) -> None:
    plex_news = [news(1, plex, at=200.0)] if plex is not None else []
    stash_news = [news(1, stash, at=100.0)] if stash is not None else []
    assert _resumes(plex_news, stash_news, {1: last}, {1} if scrobbled else set()) == expected


def test_when_both_moved_the_later_play_wins() -> None:
    assert _resumes([news(1, 60.0, at=100.0)], [news(1, 75.0, at=200.0)], {}, set())[1] == {1: (100, 75.0)}


@pytest.mark.parametrize(("state", "before", "expected"), [
    ((3, 500, 0), Seen(2, 400), (1, False, False)),  # one more play: at lastViewedAt
    ((5, 500, 0), Seen(2, 400), (3, True, True)),  # several: their times from the history
    ((2, 500, 0), Seen(5, 400), (2, True, True)),  # marked unwatched, then played twice
    ((1, 500, 0), Seen(1, 400), (1, True, False)),  # unwatched, played once again: ask
    ((1, 500, 90_000), Seen(1, 400), (0, False, False)),  # a resume point moved the stamp
    ((1, 500, 0), Seen(1, None, True), (0, False, False)),  # PlexSync's own scrobble showing up
    ((1, 500, 0), None, (1, False, False)),  # an item never counted: a new one
    ((0, None, 0), Seen(0, None), (0, False, False)),
])
def test_new_plays_from_a_listing(state, before, expected) -> None:
    views, last, offset = state
    assert _new_plays(PlayState(7, views, last, offset), before) == expected


@pytest.fixture
def watch(tmp_path: Path):
    conn = db.connect(tmp_path / db.DB_NAME)
    yield WatchLedger(conn)
    conn.close()


def test_a_look_and_its_plays_are_one_transaction(watch: WatchLedger) -> None:
    rows = watch.record_plex_look({7: Seen(3, 500)}, [NewPlay(1, 7, 450), NewPlay(1, 7, 500)],
                                  {"section:1": "500"})
    assert [(r.scene_id, r.played_at, r.origin, r.done) for r in rows] == [(1, 450, PLEX, 0), (1, 500, PLEX, 0)]
    assert watch.pending() == rows and watch.marks() == {"section:1": "500"}
    assert watch.seen([7]) == {7: Seen(3, 500, False)}
    # Until settled, a copy to Stash is known (no echo) but not surely in Stash.
    assert watch.known_times([1]) == {1: Counter({450: 1, 500: 1})}
    assert watch.known_times([1], settled_only=True) == {}
    watch.settle([rows[0].id])
    assert watch.known_times([1], settled_only=True) == {1: Counter({450: 1})}
    assert [r.id for r in watch.pending()] == [rows[1].id]


def test_a_settled_scrobble_raises_the_count_and_marks_it_own(watch: WatchLedger) -> None:
    watch.record_plex_look({7: Seen(2, 500)}, [], {})
    (row,) = watch.record_stash_look([NewPlay(1, 7, 900, 3)], {"stash": "1000.0"})
    watch.settle([row.id], {7: 3})
    watch.settle([row.id], {7: 3})  # idempotent
    assert watch.seen([7]) == {7: Seen(3, 500, True)}
    assert watch.pending() == [] and watch.counts() == {"from_plex": 0, "from_stash": 1, "unconfirmed": 0}
    watch.record_plex_look({7: Seen(3, 950)}, [], {})  # a listing shows it: Plex's own stamp now
    assert watch.seen([7]) == {7: Seen(3, 950, False)}


def test_marks_and_resume_points(watch: WatchLedger) -> None:
    watch.set_marks({"stash": "1.0", "stash_from": "0.0"})
    watch.set_marks({"stash_from": None})
    assert watch.marks() == {"stash": "1.0"}
    watch.set_resumes({1: 12.5, 2: 0.0})
    watch.set_resumes({1: 30.0})
    assert watch.resumes([1, 2, 3]) == {1: 30.0, 2: 0.0}


def test_a_writer_that_lost_the_lease_writes_nothing_more(watch: WatchLedger, monkeypatch) -> None:
    """A long exchange renews the drain's lease; once another drain holds it, this one stops and
    leaves its plays unconfirmed for that drain (which checks before it writes)."""
    from unittest.mock import MagicMock

    from worker.drain import watch_write

    monkeypatch.setattr(watch_write, "RENEW_EVERY_S", 0.0)
    rows = watch.record_plex_look({7: Seen(2, 500)}, [NewPlay(1, 7, 450), NewPlay(2, 7, 500)], {})
    stash = MagicMock()
    answers = iter([True, False])
    writer = watch_write.WatchWriter(stash, MagicMock(), watch, lambda: next(answers))
    with pytest.raises(watch_write.LeaseLost):
        writer.plays_to_stash(rows)
    assert stash.execute.call_count == 1  # the first scene's play, while the lease was held
    assert [r.scene_id for r in watch.pending()] == [2]
