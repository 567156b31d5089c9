"""The Plex stand-in's play state, driven through the real, unmodified plexapi client: the owner's
viewCount / lastViewedAt / viewOffset on items and in listings, the listing filters on them,
markPlayed / markUnplayed / updateProgress, and the play history (tests/standins/plex_play_state.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import requests
from plexapi.server import PlexServer

from tests.standins.fake_plex import FakePlex

T0 = 1_767_000_000


@pytest.fixture
def plex() -> Iterator[tuple[FakePlex, PlexServer, int, int, int]]:
    with FakePlex() as fake:
        fake.add_section(1, "Films", "movie", ["/films"])
        fake.add_section(2, "Series", "show", ["/series"])
        a = fake.add_movie(1, "Alpha", ["/films/alpha.mkv"])
        b = fake.add_movie(1, "Beta", ["/films/beta.mkv"])
        show = fake.add_show(2, "Harbor")
        episode = fake.add_episode(show, 1, 1, "Night 1", "/series/Harbor/S01E01.mkv")
        yield fake, PlexServer(fake.url, fake.token, timeout=20), a, b, episode


def test_an_unplayed_item_carries_no_play_attributes(plex) -> None:
    fake, server, a, _, _ = plex
    movie = server.fetchItem(a)
    assert (movie.viewCount, movie.lastViewedAt, movie.viewOffset, movie.isPlayed) == (0, None, 0, False)
    assert 'viewCount' not in requests.get(f"{fake.url}/library/metadata/{a}",
                                           headers={"X-Plex-Token": fake.token}, timeout=10).text


def test_plays_show_on_the_item_and_in_listings_without_moving_updated_at(plex) -> None:
    fake, server, a, b, episode = plex
    updated = fake.item(a)["updatedAt"]
    fake.play(a, at=T0)
    fake.play(a, at=T0 + 60)
    fake.play(b, stopped_at_ms=754_000, at=T0 + 30)
    fake.play(episode, at=T0 + 90)
    movie = server.fetchItem(a)
    assert (movie.viewCount, movie.isPlayed) == (2, True)
    assert movie.lastViewedAt == datetime.fromtimestamp(T0 + 60)
    listed = {m.ratingKey: m for m in server.library.section("Films").all()}
    assert (listed[a].viewCount, listed[b].viewCount, listed[b].viewOffset) == (2, 0, 754_000)
    assert listed[b].lastViewedAt == datetime.fromtimestamp(T0 + 30)
    assert server.fetchItem(episode).viewCount == 1
    assert fake.item(a)["updatedAt"] == updated  # playing is not an edit


def test_last_viewed_and_view_count_filters(plex) -> None:
    fake, server, a, b, _ = plex
    fake.play(a, at=T0)
    fake.play(b, at=T0 + 100)
    films = server.library.section("Films")
    since = datetime.fromtimestamp(T0, tz=timezone.utc)
    assert [m.title for m in films.search(filters={"lastViewedAt>>": since})] == ["Beta"]  # strictly after
    assert [m.title for m in films.search(filters={"viewCount>>": 0})] == ["Alpha", "Beta"]
    raw = requests.get(f"{fake.url}/library/sections/1/all?type=1&lastViewedAt%3E%3E={T0 - 1}",
                       headers={"X-Plex-Token": fake.token}, timeout=10)
    assert raw.text.count("<Video") == 2


def test_mark_played_unplayed_and_progress(plex) -> None:
    fake, server, a, _, _ = plex
    movie = server.fetchItem(a)
    movie.updateProgress(120_000)
    movie.reload()
    assert (movie.viewOffset, movie.viewCount) == (120_000, 0)
    assert movie.lastViewedAt is not None  # a resume point moves lastViewedAt (Continue Watching)
    movie.markPlayed()
    movie.reload()
    assert (movie.viewCount, movie.viewOffset) == (1, 0)  # a completed play clears the resume point
    assert fake.history() == []  # marked by hand: no viewing session in the history
    movie.updateProgress(0)  # "setting the time to 0 will not work" (plexapi)
    movie.markUnplayed()
    movie.reload()
    assert (movie.viewCount, movie.viewOffset, movie.lastViewedAt) == (0, 0, None)
    paths = [(r.path, r.param("key"), r.param("identifier")) for r in fake.log_snapshot() if r.path.startswith("/:/")]
    assert paths == [("/:/progress", str(a), "com.plexapp.plugins.library"),
                     ("/:/scrobble", str(a), "com.plexapp.plugins.library"),
                     ("/:/progress", str(a), "com.plexapp.plugins.library"),
                     ("/:/unscrobble", str(a), "com.plexapp.plugins.library")]


def test_scrobble_needs_the_library_identifier_and_a_known_key(plex) -> None:
    fake, _, a, _, _ = plex
    headers = {"X-Plex-Token": fake.token}
    assert requests.get(f"{fake.url}/:/scrobble?key={a}", headers=headers, timeout=10).status_code == 400
    missing = requests.get(f"{fake.url}/:/scrobble?key=999999&identifier=com.plexapp.plugins.library",
                           headers=headers, timeout=10)
    assert missing.status_code == 404


def test_history_per_account_with_its_filters(plex) -> None:
    fake, server, a, b, episode = plex
    fake.play(a, at=T0)
    fake.play(a, at=T0 + 10, account_id=2)  # another user: history only
    fake.play(b, at=T0 + 20)
    fake.play(episode, at=T0 + 30)
    assert fake.play_state(a)["viewCount"] == 1
    owner = server.history(accountID=1)
    assert [(h.ratingKey, int(h.viewedAt.timestamp())) for h in owner] == [
        (episode, T0 + 30), (b, T0 + 20), (a, T0)]  # newest first
    assert len(server.history()) == 4
    assert [h.ratingKey for h in server.history(mindate=datetime.fromtimestamp(T0 + 20))] == [episode, b]
    assert [h.ratingKey for h in server.history(ratingKey=a)] == [a, a]
    assert [h.ratingKey for h in server.history(librarySectionID=2)] == [episode]
    assert {h.accountID for h in server.history(ratingKey=a)} == {1, 2}
