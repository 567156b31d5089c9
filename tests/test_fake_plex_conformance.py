"""Conformance of the fake Plex server against the real, unmodified plexapi 4.18 client.

Why: every PlexSync test that touches Plex trusts this fake. These tests drive it only through
plexapi calls (as in section 8 of the fake-plex spec) and check both what plexapi sees and what went
over the wire, so a plexapi upgrade that talks to PMS differently shows up here first.
"""

from __future__ import annotations

import hashlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from plexapi.exceptions import BadRequest, NotFound, Unauthorized
from plexapi.library import MovieSection, ShowSection
from plexapi.server import PlexServer
from plexapi.video import Episode, Movie

from tests.standins.fake_plex import FakePlex

FILMS = 3
SERIES = 7
LIGHTHOUSE = "The Quiet Lighthouse"
LIGHTHOUSE_PATH = "/srv/media/films/The Quiet Lighthouse (1998)/The Quiet Lighthouse (1998).mkv"
NASTY_TAG = "Test Tag !@#$%^&*()-_=+[];:'\"/?,."
SEMANTICS = ("merge", "replace")
REPO_ROOT = Path(__file__).resolve().parents[1]


def movie_path(i: int) -> str:
    return f"/srv/media/films/Movie {i:03d} ({2000 + i % 20})/Movie {i:03d}.mkv"


@dataclass
class Env:
    fake: FakePlex
    plex: PlexServer
    lighthouse: int
    movies: dict[int, str]  # ratingKey -> path, all 250
    show: int
    episodes: list[int]


def seed(fake: FakePlex) -> tuple[int, dict[int, str], int, list[int]]:
    fake.add_section(FILMS, "Films", "movie", ["/srv/media/films"])
    fake.add_section(SERIES, "Series", "show", ["/srv/media/series"])
    lighthouse = fake.add_movie(
        FILMS, LIGHTHOUSE, [LIGHTHOUSE_PATH], titleSort="Quiet Lighthouse", year=1998,
        studio="Northwind", contentRating="PG", summary="A keeper watches the sea.",
        tagline="Keep the light", originallyAvailableAt="1998-05-14", rating=6.5,
        addedAt=1_500_000_000, genres=["Drama", "Mystery"], collections=["Coastal"],
        labels=["seen"], directors=["R. Calloway"], writers=["J. Moor"], producers=["K. Lund"],
        countries=["Norway"], actors=[("Ines Varga", "Keeper"), ("Tomas Reyes", "Captain Hale")],
    )
    movies = {lighthouse: LIGHTHOUSE_PATH}
    for i in range(1, 250):
        rk = fake.add_movie(FILMS, f"Movie {i:03d}", movie_path(i), year=2000 + i % 20,
                            addedAt=1_600_000_000 + i, genres=["Drama"] if i % 10 == 0 else [])
        movies[rk] = movie_path(i)
    show = fake.add_show(SERIES, "Harbor Nights")
    episodes = [
        fake.add_episode(show, 1, n, f"Night {n}",
                         f"/srv/media/series/Harbor Nights/Season 01/Harbor Nights S01E0{n}.mkv")
        for n in (1, 2, 3)
    ]
    return lighthouse, movies, show, episodes


@pytest.fixture
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    options: dict[str, Any] = getattr(request, "param", {})
    with FakePlex(**options) as fake:
        lighthouse, movies, show, episodes = seed(fake)
        plex = PlexServer(fake.url, fake.token, timeout=20)
        plex.library.sections()  # every edit needs these once per PlexServer; pay it up front
        fake.clear_log()
        yield Env(fake, plex, lighthouse, movies, show, episodes)


def full(env: Env, rk: int) -> Any:
    item = env.plex.fetchItem(rk)
    item.reload()
    return item


def only_request(fake: FakePlex) -> Any:
    log = fake.log_snapshot()
    assert len(log) == 1, [(r.method, r.path) for r in log]
    return log[0]


# ----------------------------------------------------------------------------- 1. connect
def test_connect_makes_exactly_one_root_request_with_token_header() -> None:
    with FakePlex(friendly_name="Den", machine_identifier="ab" * 20) as fake:
        plex = PlexServer(fake.url, fake.token, timeout=10)
        rec = only_request(fake)
        assert (rec.method, rec.path, rec.status, rec.token_source) == ("GET", "/", 200, "header")
        assert plex.friendlyName == "Den"
        assert plex.machineIdentifier == "ab" * 20
        assert plex.version == "1.41.0.0000-fake"


def test_bad_or_missing_token_is_401_html_and_unauthorized() -> None:
    with FakePlex() as fake:
        with pytest.raises(Unauthorized):
            PlexServer(fake.url, "wrong", timeout=10)
        raw = requests.get(fake.url + "/library/sections", timeout=10)
        assert raw.status_code == 401
        assert raw.headers["Content-Type"].startswith("text/html")
        assert b"401 Unauthorized" in raw.content
        assert [r.status for r in fake.log_snapshot()] == [401, 401]
        assert fake.log_snapshot()[1].token_source is None


def test_token_is_also_accepted_from_the_query_string() -> None:
    with FakePlex() as fake:
        raw = requests.get(f"{fake.url}/library/sections?X-Plex-Token={fake.token}", timeout=10)
        assert raw.status_code == 200
        assert fake.log_snapshot()[-1].token_source == "query"


def test_set_token_makes_the_old_token_wrong() -> None:
    with FakePlex() as fake:
        plex = PlexServer(fake.url, fake.token, timeout=10)
        fake.set_token("rotated")
        with pytest.raises(Unauthorized):
            plex.query("/library/sections")
        assert PlexServer(fake.url, "rotated", timeout=10).friendlyName == "FakePlex"


def test_anonymous_mode_needs_no_token() -> None:
    with FakePlex(allow_anonymous=True) as fake:
        raw = requests.get(fake.url + "/", timeout=10)
        assert raw.status_code == 200
    with FakePlex() as fake:
        assert requests.get(fake.url + "/", timeout=10).status_code == 401


def test_slow_root_gives_read_timeout() -> None:
    with FakePlex() as fake:
        fake.set_delay(1.6, method="GET", path_prefix="/")
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            PlexServer(fake.url, fake.token, timeout=1)
        assert time.monotonic() - started < 1.5
        fake.set_delay(0, method="GET", path_prefix="/")
        assert PlexServer(fake.url, fake.token, timeout=10).friendlyName == "FakePlex"


# ----------------------------------------------------------------------------- 2. sections
def test_sections_are_listed_once_and_found_by_title_and_id(env: Env) -> None:
    plex = PlexServer(env.fake.url, env.fake.token, timeout=20)
    env.fake.clear_log()
    sections = plex.library.sections()
    assert [type(s) for s in sections] == [MovieSection, ShowSection]
    assert [s.key for s in sections] == [FILMS, SERIES]
    films = plex.library.section("films")
    assert films.title == "Films"
    assert plex.library.sectionByID(SERIES).title == "Series"
    with pytest.raises(NotFound):
        plex.library.section("nope")
    assert films.locations == ["/srv/media/films"]
    assert [(r.method, r.path) for r in env.fake.log_snapshot()] == [
        ("GET", "/library"), ("GET", "/library/sections")]


# ----------------------------------------------------------------------------- 3. paging
def test_all_pages_in_three_header_paged_requests_with_all_paths(env: Env) -> None:
    films = env.plex.library.sectionByID(FILMS)
    env.fake.clear_log()
    movies = films.all()
    assert len(movies) == 250
    assert all(isinstance(m, Movie) for m in movies)
    listing = env.fake.matching_requests("GET", "/library/sections/3/all")
    assert len(listing) == len(env.fake.log_snapshot()) == 3
    assert [r.container_start for r in listing] == [0, 100, 200]
    assert {r.paging_source for r in listing} == {"header"}
    assert all(r.param("type") == "1" and r.token_source == "header" for r in listing)
    before = len(env.fake.log_snapshot())
    assert {m.ratingKey: m.locations[0] for m in movies} == env.movies
    assert all(len(m.locations) == 1 for m in movies)
    assert len(env.fake.log_snapshot()) == before, "locations must come from the listing"
    sort_titles = [m.titleSort.casefold() for m in movies]
    assert sort_titles == sorted(sort_titles)


def test_search_with_container_size_1000_is_one_request(env: Env) -> None:
    films = env.plex.library.sectionByID(FILMS)
    env.fake.clear_log()
    assert len(films.search(libtype="movie", container_size=1000)) == 250
    rec = only_request(env.fake)
    assert (rec.container_start, rec.container_size) == (0, 1000)


def test_total_view_size_uses_query_string_paging(env: Env) -> None:
    films = env.plex.library.sectionByID(FILMS)
    env.fake.clear_log()
    assert films.totalViewSize() == 250
    rec = only_request(env.fake)
    assert (rec.container_size, rec.paging_source) == (0, "query")


def test_paging_beyond_the_end_is_empty_but_keeps_total(env: Env) -> None:
    data = env.plex.query("/library/sections/3/all?type=1",
                          headers={"X-Plex-Container-Start": "240", "X-Plex-Container-Size": "50"})
    assert (data.attrib["size"], data.attrib["totalSize"], data.attrib["offset"]) == ("10", "250", "240")
    data = env.plex.query("/library/sections/3/all?type=1",
                          headers={"X-Plex-Container-Start": "300", "X-Plex-Container-Size": "50"})
    assert (data.attrib["size"], data.attrib["totalSize"]) == ("0", "250")


# ----------------------------------------------------------------------------- 4. episodes
def test_episodes_are_flat_listed_with_parent_links(env: Env) -> None:
    series = env.plex.library.sectionByID(SERIES)
    env.fake.clear_log()
    episodes = series.searchEpisodes()
    assert [type(e) for e in episodes] == [Episode] * 3
    assert only_request(env.fake).param("type") == "4"
    assert "Harbor-Nights-s01e03" in repr(episodes[2])
    assert [e.seasonEpisode for e in episodes] == ["s01e01", "s01e02", "s01e03"]
    assert episodes[0].locations == [
        "/srv/media/series/Harbor Nights/Season 01/Harbor Nights S01E01.mkv"]
    assert [e.ratingKey for e in episodes] == env.episodes


def test_show_seasons_and_episodes_navigation(env: Env) -> None:
    show = env.plex.library.sectionByID(SERIES).get("Harbor Nights")
    assert show.childCount == 1 and show.leafCount == 3
    seasons = show.seasons()
    assert [s.index for s in seasons] == [1]
    assert [e.index for e in seasons[0].episodes()] == [1, 2, 3]
    assert [e.ratingKey for e in show.episodes()] == env.episodes
    assert show.locations == ["/srv/media/series/Harbor Nights"]


# ----------------------------------------------------------------------------- 5. fetch, reload
def test_fetch_item_is_partial_and_reload_makes_it_full(env: Env) -> None:
    env.fake.clear_log()
    movie = env.plex.fetchItem(env.lighthouse)
    assert isinstance(movie, Movie) and not movie.isFullObject()
    movie.reload()
    reload_rec = env.fake.log_snapshot()[-1]
    assert reload_rec.path == f"/library/metadata/{env.lighthouse}"
    assert reload_rec.param("includeBandwidths") == "1"
    assert movie.isFullObject()
    assert movie.librarySectionID == FILMS
    assert movie.librarySectionTitle == "Films"
    assert [g.tag for g in movie.genres] == ["Drama", "Mystery"]
    assert [(r.tag, r.role) for r in movie.roles] == [("Ines Varga", "Keeper"),
                                                     ("Tomas Reyes", "Captain Hale")]
    assert [c.tag for c in movie.countries] == ["Norway"]
    assert movie.fields == []
    assert movie.locations == [LIGHTHOUSE_PATH]
    movie.reload(checkFiles=True)
    assert movie.media[0].parts[0].exists is True


def test_unknown_item_is_not_found_and_multi_fetch_is_one_request(env: Env) -> None:
    with pytest.raises(NotFound):
        env.plex.fetchItem(999999)
    first, second = sorted(env.movies)[5], sorted(env.movies)[9]
    env.fake.clear_log()
    items = env.plex.fetchItems([second, first])
    assert [i.ratingKey for i in items] == [second, first]
    assert only_request(env.fake).path == f"/library/metadata/{second},{first}"


def test_detail_carries_library_section_and_fields_but_listing_does_not(env: Env) -> None:
    full(env, env.lighthouse).editStudio("Southwind")
    detail = env.plex.query(f"/library/metadata/{env.lighthouse}")[0]
    assert detail.attrib["librarySectionID"] == "3"
    assert detail.attrib["librarySectionKey"] == "/library/sections/3"
    assert detail.attrib["librarySectionTitle"] == "Films"
    assert [(f.attrib["name"], f.attrib["locked"]) for f in detail.iter("Field")] == [("studio", "1")]
    listing = env.plex.query("/library/sections/3/all?type=1")
    assert listing.attrib["librarySectionID"] == "3"
    assert listing.attrib["totalSize"] == "250"
    assert not list(listing.iter("Field"))
    assert all("librarySectionID" not in el.attrib for el in listing)


# ----------------------------------------------------------------------------- 6. search
def test_title_search_get_and_file_lookups(env: Env) -> None:
    films = env.plex.library.sectionByID(FILMS)
    env.fake.clear_log()
    found = films.search(title="lighthouse")
    assert [m.ratingKey for m in found] == [env.lighthouse]
    assert only_request(env.fake).param("title") == "lighthouse"
    assert films.get(LIGHTHOUSE).ratingKey == env.lighthouse
    with pytest.raises(NotFound):
        films.get("No Such Film")
    by_path = films.search(libtype="movie", Media__Part__file__exact=movie_path(42))
    assert [m.locations for m in by_path] == [[movie_path(42)]]
    basename = os.path.basename(LIGHTHOUSE_PATH)
    by_file = films.fetchItems(f"/library/sections/3/all?type=1&file={quote(basename)}")
    assert [m.ratingKey for m in by_file] == [env.lighthouse]


def test_plex_filters_sorts_and_recently_added(env: Env) -> None:
    films = env.plex.library.sectionByID(FILMS)
    drama = {m.ratingKey for m in films.search(genre="Drama")}
    expected = {rk for rk in env.movies if "Drama" in env.fake.item(rk)["tags"]["genre"]}
    assert drama == expected and len(drama) == 25
    assert [m.ratingKey for m in films.search(studio="northwind")] == [env.lighthouse]
    assert {m.year for m in films.search(year=2005)} == {2005}
    descending = [m.titleSort for m in films.search(sort="titleSort:desc", maxresults=3)]
    assert descending == ["Quiet Lighthouse", "Movie 249", "Movie 248"]
    assert [m.title for m in films.recentlyAdded(maxresults=2)] == ["Movie 249", "Movie 248"]
    either = films.search(title=["lighthouse", "movie 042"])
    assert sorted(m.title for m in either) == ["Movie 042", LIGHTHOUSE]
    assert env.plex.search("lighthouse")[0].ratingKey == env.lighthouse


# ----------------------------------------------------------------------------- 7. field edits
FIELD_CASES = [
    ("editTitle", "title", "The Loud Lighthouse"),
    ("editSortTitle", "titleSort", "Loud Lighthouse, The"),
    ("editSummary", "summary", "Fish & chips, 100% sure — Amélie in 東京\nline two"),
    ("editTagline", "tagline", "Brighter & louder"),
    ("editStudio", "studio", "ACME, Inc."),
    ("editContentRating", "contentRating", "R"),
    ("editOriginallyAvailable", "originallyAvailableAt", "2001-02-03"),
    ("editCriticRating", "rating", 7.5),
]


@pytest.mark.parametrize(("method", "name", "value"), FIELD_CASES, ids=[c[1] for c in FIELD_CASES])
def test_field_edit_locks_and_unlocked_restore(env: Env, method: str, name: str, value: Any) -> None:
    movie = full(env, env.lighthouse)
    old = getattr(movie, name)
    assert old is not None
    env.fake.clear_log()
    getattr(movie, method)(value)
    rec = only_request(env.fake)
    assert (rec.method, rec.path, rec.status) == ("PUT", "/library/sections/3/all", 200)
    assert rec.param("id") == str(env.lighthouse) and rec.param("type") == "1"
    assert rec.param(f"{name}.value") == str(value)
    assert rec.param(f"{name}.locked") == "1"
    movie.reload()
    expected = datetime(2001, 2, 3) if name == "originallyAvailableAt" else value
    assert getattr(movie, name) == expected
    assert movie.isLocked(name)
    getattr(movie, method)(old, locked=False)
    movie.reload()
    assert getattr(movie, name) == old
    assert not [f for f in movie.fields if f.name == name]


def test_title_round_trips_non_ascii_and_xml_is_utf8(env: Env) -> None:
    movie = full(env, env.lighthouse)
    movie.editTitle("Amélie 東京")
    movie.reload()
    assert movie.title == "Amélie 東京"
    assert env.fake.item(env.lighthouse)["title"] == "Amélie 東京"
    films = env.plex.library.sectionByID(FILMS)
    assert [m.title for m in films.search(title="amélie")] == ["Amélie 東京"]
    raw = requests.get(f"{env.fake.url}/library/metadata/{env.lighthouse}",
                       headers={"X-Plex-Token": env.fake.token}, timeout=10)
    assert raw.headers["Content-Type"] == "text/xml;charset=utf-8"
    assert "Amélie 東京".encode() in raw.content


def test_empty_value_clears_a_field_but_not_the_title(env: Env) -> None:
    movie = full(env, env.lighthouse)
    movie.editTagline("")
    movie.editTitle("")
    state = env.fake.item(env.lighthouse)
    assert state["tagline"] is None and state["title"] == LIGHTHOUSE
    assert {"tagline", "title"} <= state["locked"]


# ----------------------------------------------------------------------------- 8. tags
TAG_CASES = [("genre", "Genre", "genres"), ("collection", "Collection", "collections"),
             ("label", "Label", "labels"), ("director", "Director", "directors"),
             ("writer", "Writer", "writers"), ("producer", "Producer", "producers"),
             ("country", "Country", "countries")]


@pytest.mark.parametrize("semantics", SEMANTICS)
@pytest.mark.parametrize(("prefix", "suffix", "plural"), TAG_CASES, ids=[c[0] for c in TAG_CASES])
def test_tag_add_and_remove_with_nasty_names(env: Env, semantics: str, prefix: str, suffix: str,
                                             plural: str) -> None:
    env.fake.tag_semantics = semantics
    movie = full(env, env.lighthouse)
    before = [t.tag for t in getattr(movie, plural)]
    assert before, "the seed gives every kind an existing tag"
    env.fake.clear_log()
    getattr(movie, f"add{suffix}")(["Sci-Fi & Fantasy", NASTY_TAG])
    put = only_request(env.fake)
    assert [v for k, v in put.params if k.startswith(f"{prefix}[")] == before + ["Sci-Fi & Fantasy",
                                                                                 NASTY_TAG]
    movie.reload()
    assert [t.tag for t in getattr(movie, plural)] == before + ["Sci-Fi & Fantasy", NASTY_TAG]
    assert movie.isLocked(prefix)

    getattr(movie, f"remove{suffix}")([NASTY_TAG])
    movie.reload()
    assert [t.tag for t in getattr(movie, plural)] == before + ["Sci-Fi & Fantasy"]

    tag_object = next(t for t in getattr(movie, plural) if t.tag == "Sci-Fi & Fantasy")
    getattr(movie, f"remove{suffix}")(tag_object)
    movie.reload()
    assert [t.tag for t in getattr(movie, plural)] == before
    assert env.fake.item(env.lighthouse)["tags"][prefix] == before


def test_episode_tag_mixins(env: Env) -> None:
    episode = full(env, env.episodes[1])
    assert not hasattr(episode, "addGenre")
    env.fake.clear_log()
    episode.addDirector("D. Wave")
    episode.addLabel("spooky")
    puts = env.fake.matching_requests("PUT")
    assert [(r.path, r.param("type")) for r in puts] == [("/library/sections/7/all", "4")] * 2
    episode.reload()
    assert [d.tag for d in episode.directors] == ["D. Wave"]
    assert [label.tag for label in episode.labels] == ["spooky"]
    assert episode.isLocked("director") and episode.isLocked("label")


@pytest.mark.parametrize("semantics", SEMANTICS)
def test_raw_actor_edit_sets_character(env: Env, semantics: str) -> None:
    env.fake.tag_semantics = semantics
    movie = full(env, env.lighthouse)
    movie.edit(**{"actor[0].tag.tag": "A", "actor[0].tagging.text": "Captain", "actor.locked": 1})
    movie.reload()
    roles = [(r.tag, r.role) for r in movie.roles]
    assert ("A", "Captain") in roles
    assert movie.isLocked("actor")
    if semantics == "merge":
        assert roles == [("Ines Varga", "Keeper"), ("Tomas Reyes", "Captain Hale"), ("A", "Captain")]
    else:
        assert roles == [("A", "Captain")]
    assert env.fake.item(env.lighthouse)["roles"]["A"] == "Captain"


@pytest.mark.parametrize("semantics", SEMANTICS)
def test_full_list_plus_removals_gives_same_state_in_both_modes(env: Env, semantics: str) -> None:
    env.fake.tag_semantics = semantics
    movie = full(env, env.lighthouse)
    assert [g.tag for g in movie.genres] == ["Drama", "Mystery"]
    movie.edit(**{
        "genre[0].tag.tag": "Drama", "genre[1].tag.tag": "Comedy, Dark",
        "genre[].tag.tag-": ",".join(quote(n) for n in ["Mystery"]), "genre.locked": 1,
        "actor[0].tag.tag": "Ines Varga", "actor[0].tagging.text": "Head Keeper",
        "actor[].tag.tag-": quote("Tomas Reyes"), "actor.locked": 1,
    })
    movie.reload()
    assert [g.tag for g in movie.genres] == ["Drama", "Comedy, Dark"]
    assert [(r.tag, r.role) for r in movie.roles] == [("Ines Varga", "Head Keeper")]


@pytest.mark.parametrize("semantics", SEMANTICS)
def test_indexed_list_alone_differs_between_modes(env: Env, semantics: str) -> None:
    env.fake.tag_semantics = semantics
    movie = full(env, env.lighthouse)
    movie.edit(**{"genre[0].tag.tag": "Western", "genre.locked": 1})
    expected = ["Drama", "Mystery", "Western"] if semantics == "merge" else ["Western"]
    assert env.fake.item(env.lighthouse)["tags"]["genre"] == expected


# ----------------------------------------------------------------------------- 9. batch
def test_batch_edits_are_one_put(env: Env) -> None:
    movie = full(env, env.lighthouse)
    env.fake.clear_log()
    movie.batchEdits().editTitle("T").editSummary("S").addLabel("L").addCollection("C").saveEdits()
    rec = only_request(env.fake)
    assert rec.method == "PUT"
    movie.reload()
    assert (movie.title, movie.summary) == ("T", "S")
    assert [label.tag for label in movie.labels] == ["seen", "L"]
    assert [c.tag for c in movie.collections] == ["Coastal", "C"]
    with pytest.raises(BadRequest):
        movie.saveEdits()
    assert len(env.fake.log_snapshot()) == 2  # the PUT and the reload; saveEdits sent nothing


def test_multi_edit_is_one_put_with_comma_ids(env: Env) -> None:
    films = env.plex.library.sectionByID(FILMS)
    items = films.search(libtype="movie", container_size=1000)[:3]
    env.fake.clear_log()
    films.multiEdit(items, **{"studio.value": "X", "studio.locked": 1})
    rec = only_request(env.fake)
    assert rec.param("id") == ",".join(str(i.ratingKey) for i in items)
    for item in env.plex.fetchItems([i.ratingKey for i in items]):
        item.reload()
        assert item.studio == "X" and item.isLocked("studio")
    assert all(env.fake.requests_for(i.ratingKey)[0] is rec for i in items)


# ----------------------------------------------------------------------------- 10. locks
def test_poster_lock_and_section_wide_lock(env: Env) -> None:
    movie = full(env, env.lighthouse)
    movie.lockPoster()
    movie.reload()
    assert movie.isLocked("thumb")
    movie.unlockPoster()
    movie.reload()
    assert not movie.isLocked("thumb")

    films = env.plex.library.sectionByID(FILMS)
    env.fake.clear_log()
    films.lockAllField("studio")
    rec = only_request(env.fake)
    assert rec.param("id") is None and rec.param("studio.locked") == "1"
    for rk in (env.lighthouse, max(env.movies)):
        assert full(env, rk).isLocked("studio")
    assert all("studio" in env.fake.item(rk)["locked"] for rk in env.movies)
    films.unlockAllField("studio")
    assert not any("studio" in env.fake.item(rk)["locked"] for rk in env.movies)


# ----------------------------------------------------------------------------- 11. posters
def test_poster_upload_from_file_and_url_then_select(env: Env, tmp_path: Path) -> None:
    image = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
    sha = hashlib.sha1(image).hexdigest()
    poster_file = tmp_path / "poster.jpg"
    poster_file.write_bytes(image)
    movie = full(env, env.lighthouse)
    env.fake.clear_log()
    movie.uploadPoster(filepath=str(poster_file))
    rec = only_request(env.fake)
    assert (rec.method, rec.path) == ("POST", f"/library/metadata/{env.lighthouse}/posters")
    assert (rec.body_len, rec.body_sha1) == (len(image), sha)
    posters = movie.posters()
    assert [(p.ratingKey, p.selected) for p in posters] == [(f"upload://posters/{sha}", True)]
    movie.reload()
    assert movie.isLocked("thumb")
    assert env.fake.item(env.lighthouse)["poster_sha1"] == sha

    env.fake.clear_log()
    movie.uploadPoster(url="http://example.invalid/p.jpg")
    rec = only_request(env.fake)
    assert rec.param("url") == "http://example.invalid/p.jpg" and rec.body_len == 0
    posters = movie.posters()
    assert [p.selected for p in posters] == [False, True]

    env.fake.clear_log()
    movie.setPoster(posters[0])
    rec = only_request(env.fake)
    assert (rec.method, rec.path) == ("PUT", f"/library/metadata/{env.lighthouse}/poster")
    assert rec.param("url") == f"upload://posters/{sha}"
    assert env.fake.item(env.lighthouse)["poster_sha1"] == sha

    movie.uploadPoster(filepath=str(poster_file))  # same bytes: the entry is reused
    assert len(env.fake.item(env.lighthouse)["posters"]) == 2


def test_art_upload_locks_art(env: Env) -> None:
    movie = full(env, env.lighthouse)
    movie.uploadArt(url="http://example.invalid/a.jpg")
    movie.reload()
    assert movie.isLocked("art")
    assert [a.selected for a in movie.arts()] == [True]


# ----------------------------------------------------------------------------- 12. robustness
def test_partial_object_edit_costs_one_put_plus_library_once(env: Env) -> None:
    plex = PlexServer(env.fake.url, env.fake.token, timeout=20)
    item = plex.fetchItem(env.movies and sorted(env.movies)[7])
    assert not item.isFullObject()
    env.fake.clear_log()
    item.editTitle("Edited once")
    item.editTitle("Edited twice")
    assert [(r.method, r.path) for r in env.fake.log_snapshot()] == [
        ("GET", "/library"), ("GET", "/library/sections"),
        ("PUT", "/library/sections/3/all"), ("PUT", "/library/sections/3/all")]


def test_injected_401_and_503_then_recovery(env: Env) -> None:
    env.fake.fail_next(1, 401)
    with pytest.raises(Unauthorized):
        env.plex.fetchItem(env.lighthouse)
    assert env.plex.fetchItem(env.lighthouse).ratingKey == env.lighthouse

    movie = full(env, env.lighthouse)
    env.fake.fail_next(1, 503, method="PUT", path_prefix="/library/sections/")
    with pytest.raises(BadRequest) as caught:
        movie.editTitle("Not applied")
    assert not isinstance(caught.value, Unauthorized)
    assert "(503)" in str(caught.value)
    assert env.fake.item(env.lighthouse)["title"] == LIGHTHOUSE
    movie.editTitle("Applied")
    assert env.fake.item(env.lighthouse)["title"] == "Applied"


def test_fail_next_counts_only_matching_requests(env: Env) -> None:
    env.fake.fail_next(2, 500, path_prefix="/library/metadata/")
    assert len(env.plex.library.sections()) == 2
    for _ in range(2):
        with pytest.raises(BadRequest):
            env.plex.fetchItem(env.lighthouse)
    assert env.plex.fetchItem(env.lighthouse).title == LIGHTHOUSE


def test_slow_edit_times_out_but_is_applied_later(env: Env) -> None:
    plex = PlexServer(env.fake.url, env.fake.token, timeout=1)
    movie = plex.fetchItem(env.lighthouse)
    env.fake.set_delay(1.5, method="PUT")
    with pytest.raises(requests.exceptions.ReadTimeout):
        movie.editTitle("Late")
    deadline = time.monotonic() + 5
    while env.fake.item(env.lighthouse)["title"] != "Late" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.fake.item(env.lighthouse)["title"] == "Late"
    env.fake.set_delay(0, method="PUT")
    movie.editTitle("Quick")
    assert env.fake.item(env.lighthouse)["title"] == "Quick"


def test_dropped_connection_is_a_connection_error(env: Env) -> None:
    movie = full(env, env.lighthouse)
    env.fake.drop_next(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        movie.editTitle("Dropped")
    assert env.fake.item(env.lighthouse)["title"] == LIGHTHOUSE
    assert env.fake.log_snapshot()[-1].status == 0
    env.fake.drop_next(1, method="PUT", after_processing=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        movie.editTitle("Applied but unanswered")
    assert env.fake.item(env.lighthouse)["title"] == "Applied but unanswered"
    movie.editTitle("Answered")
    assert env.fake.item(env.lighthouse)["title"] == "Answered"


def test_go_down_refuses_connections_and_come_back_uses_the_same_port(env: Env) -> None:
    url, port = env.fake.url, env.fake.port
    assert env.plex.fetchItem(env.lighthouse).title == LIGHTHOUSE  # leaves a pooled connection
    env.fake.go_down()
    with pytest.raises(requests.exceptions.ConnectionError):
        env.plex.fetchItem(env.lighthouse)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    env.fake.come_back()
    assert env.fake.url == url
    assert env.plex.fetchItem(env.lighthouse).title == LIGHTHOUSE


def test_http_errors_for_unknown_paths_and_malformed_edits(env: Env) -> None:
    put = env.plex._session.put
    with pytest.raises(NotFound):
        env.plex.query("/library/sections/99/all")
    with pytest.raises(NotFound):
        env.plex.query("/no/such/endpoint")
    with pytest.raises(BadRequest):
        env.plex.query(f"/library/sections/3/all?id={env.lighthouse}&title.value=x", method=put)
    with pytest.raises(NotFound):  # the item is in section 3, not 7
        env.plex.query(f"/library/sections/7/all?id={env.lighthouse}&type=1&title.value=x",
                       method=put)
    with pytest.raises(NotFound):  # wrong type for the item
        env.plex.query(f"/library/sections/3/all?id={env.lighthouse}&type=4&title.value=x",
                       method=put)
    assert env.fake.item(env.lighthouse)["title"] == LIGHTHOUSE
    raw = requests.get(f"{env.fake.url}/library/metadata/424242",
                       headers={"X-Plex-Token": env.fake.token}, timeout=10)
    assert raw.status_code == 404 and raw.headers["Content-Type"].startswith("text/html")
    assert env.plex.query("/library/sections/").attrib["size"] == "2"  # trailing slash


@pytest.mark.parametrize("env", [{"strict": True}], indirect=True)
def test_strict_mode_rejects_unknown_fields_and_bad_dates_but_accepts_plexapi(env: Env) -> None:
    movie = full(env, env.lighthouse)
    (movie.batchEdits().editTitle("S").editSortTitle("S").editSummary("x").editTagline("t")
     .editStudio("s").editContentRating("R").editOriginallyAvailable("2000-01-02")
     .editCriticRating(5).editAudienceRating(6).editUserRating(7).editOriginalTitle("o")
     .editAddedAt(1_700_000_000).addGenre("G").addLabel("L").lockPoster().saveEdits())
    assert env.fake.item(env.lighthouse)["originalTitle"] == "o"
    with pytest.raises(BadRequest):
        movie.edit(**{"bogus.value": "x"})
    with pytest.raises(BadRequest):
        movie.editOriginallyAvailable("2001-02-30")
    assert env.fake.item(env.lighthouse)["originallyAvailableAt"] == "2000-01-02"


def test_lenient_mode_ignores_unknown_fields_and_bad_dates(env: Env) -> None:
    movie = full(env, env.lighthouse)
    movie.edit(**{"bogus.value": "x"})
    movie.editOriginallyAvailable("2001-02-30")
    assert env.fake.item(env.lighthouse)["originallyAvailableAt"] == "1998-05-14"


# ----------------------------------------------------------------------------- state and change tracking
def section_stamps(plex: PlexServer) -> dict[int, int]:
    return {int(d.attrib["key"]): int(d.attrib["updatedAt"]) for d in plex.query("/library/sections")}


def test_updated_at_grows_on_every_kind_of_change(env: Env) -> None:
    stamps = section_stamps(env.plex)
    item_stamp = env.fake.item(env.lighthouse)["updatedAt"]
    full(env, env.lighthouse).editStudio("Eastwind")
    after_edit = section_stamps(env.plex)
    assert after_edit[FILMS] > stamps[FILMS] and after_edit[SERIES] == stamps[SERIES]
    assert env.fake.item(env.lighthouse)["updatedAt"] > item_stamp

    new_rk = env.fake.add_movie(FILMS, "Fresh", "/srv/media/films/Fresh/Fresh.mkv")
    after_add = section_stamps(env.plex)
    assert after_add[FILMS] > after_edit[FILMS]

    env.fake.set_files(new_rk, ["/srv/media/films/Fresh/Fresh.v2.mkv"])
    after_files = section_stamps(env.plex)
    assert after_files[FILMS] > after_add[FILMS]
    assert env.plex.fetchItem(new_rk).locations == ["/srv/media/films/Fresh/Fresh.v2.mkv"]

    env.fake.remove_item(new_rk)
    assert section_stamps(env.plex)[FILMS] > after_files[FILMS]
    with pytest.raises(NotFound):
        env.plex.fetchItem(new_rk)
    assert env.plex.library.sectionByID(FILMS).totalViewSize() == 250

    env.fake.add_episode(env.show, 2, 1, "Dawn", "/srv/media/series/Harbor Nights/S02E01.mkv")
    assert section_stamps(env.plex)[SERIES] > stamps[SERIES]
    assert env.plex.library.sectionByID(SERIES).totalViewSize(libtype="episode") == 4


def test_requests_for_selects_the_items_own_traffic(env: Env) -> None:
    env.fake.clear_log()
    other = sorted(env.movies)[3]
    movie = full(env, env.lighthouse)
    movie.editTagline("x")
    full(env, other).editTagline("y")
    films = env.plex.library.sectionByID(FILMS)
    films.multiEdit([movie, env.plex.fetchItem(other)], **{"studio.value": "Z"})
    mine = env.fake.requests_for(env.lighthouse)
    assert [(r.method, r.path) for r in mine] == [
        ("GET", f"/library/metadata/{env.lighthouse}"),
        ("GET", f"/library/metadata/{env.lighthouse}"),
        ("PUT", "/library/sections/3/all"), ("PUT", "/library/sections/3/all")]
    assert mine[-1].param("id") == f"{env.lighthouse},{other}"


def test_truncated_listing_tags_and_full_detail() -> None:
    with FakePlex(truncate_listing_tags=True) as fake:
        fake.add_section(FILMS, "Films", "movie", ["/srv/media/films"])
        rk = fake.add_movie(FILMS, "Crowded", "/srv/media/films/Crowded.mkv",
                            genres=["A", "B", "C", "D"], actors=["P1", "P2", "P3", "P4", "P5"])
        plex = PlexServer(fake.url, fake.token, timeout=10)
        listed = plex.library.sectionByID(FILMS).all()[0]
        assert [g.tag for g in listed.genres] == ["A", "B"]
        assert [r.tag for r in listed.roles] == ["P1", "P2", "P3"]
        listed.reload()
        assert [g.tag for g in listed.genres] == ["A", "B", "C", "D"]
        assert len(listed.roles) == 5
        assert fake.item(rk)["tags"]["genre"] == ["A", "B", "C", "D"]


def test_seed_from_plain_structure() -> None:
    with FakePlex() as fake:
        keys = fake.load({"sections": [
            {"key": 1, "title": "Films", "type": "movie", "locations": ["/m"],
             "items": [{"title": "One", "files": ["/m/One.mkv"], "genres": ["Drama"], "year": 2001}]},
            {"key": 2, "title": "TV", "type": "show", "locations": ["/tv"],
             "shows": [{"title": "Show", "episodes": [
                 {"season": 1, "index": 1, "title": "Pilot", "files": ["/tv/Show/S01E01.mkv"]}]}]},
        ]})
        plex = PlexServer(fake.url, fake.token, timeout=10)
        one = plex.fetchItem(keys["One"])
        one.reload()
        assert (one.year, [g.tag for g in one.genres], one.locations) == (2001, ["Drama"],
                                                                          ["/m/One.mkv"])
        assert plex.fetchItem(keys["Pilot"]).seasonEpisode == "s01e01"


# ----------------------------------------------------------------------------- scale
def test_fifty_thousand_generated_movies_by_raw_paged_query() -> None:
    with FakePlex() as fake:
        fake.add_section(1, "Generated", "movie", ["/media/generated"])
        started = time.perf_counter()
        keys = fake.generate_movies(1, 50_000, seed=1)
        assert time.perf_counter() - started < 5.0
        assert len(set(keys)) == 50_000
        plex = PlexServer(fake.url, fake.token, timeout=30)
        fake.clear_log()
        files: dict[int, list[str]] = {}
        started = time.perf_counter()
        for start in range(0, 50_000, 1000):
            data = plex.query("/library/sections/1/all?type=1",
                              headers={"X-Plex-Container-Start": str(start),
                                       "X-Plex-Container-Size": "1000"})
            assert (data.attrib["totalSize"], data.attrib["size"]) == ("50000", "1000")
            for element in data:
                files[int(element.attrib["ratingKey"])] = [p.attrib["file"] for p in element.iter("Part")]
        elapsed = time.perf_counter() - started
        assert len(fake.log_snapshot()) == 50
        assert len(files) == 50_000 and set(files) == set(keys)
        assert list(files) == fake.rating_keys(1)  # stable titleSort-then-ratingKey order
        for rk in (keys[0], keys[12_345], keys[-1]):
            assert files[rk] == fake.item(rk)["files"]
            assert files[rk][0].startswith("/media/generated/")
        assert len({f for paths in files.values() for f in paths}) == 50_000
        # The spec's budget is "well under 5 s" for serving 50 pages. The server's own share is
        # asserted tightly; the end-to-end bound is loose because it is mostly plexapi parsing
        # 45 MB of XML on a machine that other jobs may be sharing.
        served = sum(r.elapsed for r in fake.log_snapshot())
        assert served < 2.0, f"the fake spent {served:.2f}s producing 50 pages"
        assert elapsed < 20.0, f"50 pages took {elapsed:.2f}s end to end"


def test_generation_is_deterministic_and_matches_the_general_renderer() -> None:
    first, second = FakePlex(), FakePlex()
    for fake in (first, second):
        fake.add_section(1, "Generated", "movie")
    a = first.generate_movies(1, 300, seed=7, path_prefix="/g/a&b")
    b = second.generate_movies(1, 300, seed=7, path_prefix="/g/a&b")
    assert [first.item(k)["files"] for k in a] == [second.item(k)["files"] for k in b]
    more = first.generate_movies(1, 10, seed=7, path_prefix="/g/a&b")
    assert not {p for k in more for p in first.item(k)["files"]} & {
        p for k in a for p in first.item(k)["files"]}
    # The bulk template must produce exactly what the general renderer would.
    for rk in a[:50]:
        item = first._items[rk]
        templated = item.frag["list"]
        item.frag.clear()
        assert first._render(item, "list") == templated


def test_standalone_process_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.standins.fake_plex", "--port", "0", "--movies", "300",
         "--seed", "1"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        assert selector.select(timeout=30), "no URL line within 30 s"
        url, token = proc.stdout.readline().split()
        assert url.startswith("http://127.0.0.1:")
        plex = PlexServer(url, token, timeout=10)
        assert plex.library.sectionByID(1).totalViewSize() == 300
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


# ----------------------------------------------------------------------------- directors
def test_directors_are_read_by_plexapi_from_listing_and_detail(env: Env) -> None:
    films = env.plex.library.sectionByID(FILMS)
    listed = films.get(LIGHTHOUSE)
    assert [d.tag for d in listed.directors] == ["R. Calloway"]
    detail = env.plex.query(f"/library/metadata/{env.lighthouse}")[0]
    element = next(detail.iter("Director"))
    tid = env.fake.tag_id("director", "R. Calloway")
    assert element.attrib == {"id": str(tid), "filter": f"director={tid}", "tag": "R. Calloway"}
    assert [m.ratingKey for m in films.search(director="R. Calloway")] == [env.lighthouse]


@pytest.mark.parametrize("semantics", SEMANTICS)
def test_raw_director_edit_with_removal_and_lock(env: Env, semantics: str) -> None:
    env.fake.tag_semantics = semantics
    movie = full(env, env.lighthouse)
    env.fake.clear_log()
    movie.edit(**{"director[0].tag.tag": "Ana Díaz, Jr.", "director[1].tag.tag": "B & C",
                  "director[].tag.tag-": ",".join(quote(n) for n in ["R. Calloway", "Nobody"]),
                  "director.locked": 1})
    put = only_request(env.fake)
    assert put.param("director[0].tag.tag") == "Ana Díaz, Jr."
    movie.reload()
    assert [d.tag for d in movie.directors] == ["Ana Díaz, Jr.", "B & C"]
    assert movie.isLocked("director")
    movie.removeDirector("B & C", locked=False)
    movie.reload()
    assert [d.tag for d in movie.directors] == ["Ana Díaz, Jr."]
    assert not movie.isLocked("director")
    assert env.fake.item(env.lighthouse)["tags"]["director"] == ["Ana Díaz, Jr."]


@pytest.mark.parametrize("semantics", SEMANTICS)
def test_episode_directors_add_and_remove(env: Env, semantics: str) -> None:
    env.fake.tag_semantics = semantics
    episode = full(env, env.episodes[0])
    episode.addDirector(["D. One", "D. Two"])
    episode.reload()
    assert [d.tag for d in episode.directors] == ["D. One", "D. Two"]
    episode.removeDirector("D. One")
    episode.reload()
    assert [d.tag for d in episode.directors] == ["D. Two"]
    assert episode.isLocked("director")
    assert {r.param("type") for r in env.fake.matching_requests("PUT")} == {"4"}


def test_director_seeding_singular_and_plural() -> None:
    with FakePlex() as fake:
        fake.add_section(FILMS, "Films", "movie", ["/srv/media/films"])
        one = fake.add_movie(FILMS, "One", "/srv/media/films/One.mkv", director=["Solo"])
        two = fake.add_movie(FILMS, "Two", "/srv/media/films/Two.mkv", directors=["Pair A", "Pair B"])
        assert fake.item(one)["tags"]["director"] == ["Solo"]
        assert fake.item(two)["tags"]["director"] == ["Pair A", "Pair B"]
        plex = PlexServer(fake.url, fake.token, timeout=10)
        assert [d.tag for d in plex.fetchItem(two).directors] == ["Pair A", "Pair B"]


# ----------------------------------------------------------------------------- actor photos
PHOTO = "http://stash.local:9999/performer/7/image?t=1700000000&apikey=a%2Bb/c=="


def role_thumbs(item: Any) -> dict[str, str | None]:
    return {r.tag: r.thumb for r in item.roles}


@pytest.mark.parametrize("semantics", SEMANTICS)
def test_actor_photo_is_one_per_person_for_the_whole_server(env: Env, semantics: str) -> None:
    env.fake.tag_semantics = semantics
    other = sorted(env.movies)[4]
    movie = full(env, env.lighthouse)
    env.fake.clear_log()
    movie.edit(**{"actor[0].tag.tag": "Ines Varga", "actor[0].tag.thumb": PHOTO,
                  "actor[0].tagging.text": "Keeper", "actor[1].tag.tag": "Tomas Reyes",
                  "actor[1].tagging.text": "Captain Hale", "actor.locked": 1})
    put = only_request(env.fake)
    assert put.param("actor[0].tag.thumb") == PHOTO
    assert "actor%5B0%5D.tag.thumb=" in put.query  # the raw query is kept as it came
    movie.reload()
    assert role_thumbs(movie) == {"Ines Varga": PHOTO, "Tomas Reyes": None}
    assert env.fake.actor_photo("Ines Varga") == PHOTO
    assert env.fake.item(env.lighthouse)["actor_photos"] == {"Ines Varga": PHOTO}

    # Naming the person on another item without a thumb shows the same photo and keeps it.
    second = full(env, other)
    second.edit(**{"actor[0].tag.tag": "Ines Varga", "actor.locked": 1})
    second.reload()
    assert role_thumbs(second) == {"Ines Varga": PHOTO}
    assert env.fake.actor_photo("Ines Varga") == PHOTO

    # A later photo overwrites it everywhere, listings included (cached XML must not go stale).
    films = env.plex.library.sectionByID(FILMS)
    assert role_thumbs(films.get(LIGHTHOUSE))["Ines Varga"] == PHOTO
    later = PHOTO.replace("t=1700000000", "t=1800000000")
    second.edit(**{"actor[0].tag.tag": "Ines Varga", "actor[0].tag.thumb": later, "actor.locked": 1})
    movie.reload()
    assert role_thumbs(movie)["Ines Varga"] == later
    assert role_thumbs(films.get(LIGHTHOUSE))["Ines Varga"] == later


def test_set_actor_photo_by_hand_changes_every_item_but_no_updated_at(env: Env) -> None:
    films = env.plex.library.sectionByID(FILMS)
    assert role_thumbs(films.get(LIGHTHOUSE)) == {"Ines Varga": None, "Tomas Reyes": None}
    stamp = env.fake.item(env.lighthouse)["updatedAt"]
    env.fake.set_actor_photo("Tomas Reyes", "http://elsewhere.invalid/t.jpg?x=1&y=2")
    assert role_thumbs(films.get(LIGHTHOUSE))["Tomas Reyes"] == "http://elsewhere.invalid/t.jpg?x=1&y=2"
    raw = requests.get(f"{env.fake.url}/library/metadata/{env.lighthouse}",
                       headers={"X-Plex-Token": env.fake.token}, timeout=10)
    assert b'thumb="http://elsewhere.invalid/t.jpg?x=1&amp;y=2"' in raw.content
    assert env.fake.item(env.lighthouse)["updatedAt"] == stamp
    env.fake.set_actor_photo("Tomas Reyes", None)
    assert env.fake.actor_photo("Tomas Reyes") is None
    assert role_thumbs(full(env, env.lighthouse))["Tomas Reyes"] is None


def test_actor_photo_survives_removal_from_an_item_and_seeds_server_wide() -> None:
    with FakePlex() as fake:
        fake.add_section(FILMS, "Films", "movie", ["/srv/media/films"])
        one = fake.add_movie(FILMS, "One", "/srv/media/films/One.mkv",
                             actors=[{"tag": "P", "role": "R", "thumb": "http://x.invalid/p.jpg"}])
        two = fake.add_movie(FILMS, "Two", "/srv/media/films/Two.mkv", actors=["P"])
        plex = PlexServer(fake.url, fake.token, timeout=10)
        assert role_thumbs(plex.fetchItem(two)) == {"P": "http://x.invalid/p.jpg"}
        movie = plex.fetchItem(one)
        movie.edit(**{"actor[].tag.tag-": "P"})
        assert fake.item(one)["tags"]["actor"] == []
        assert fake.actor_photo("P") == "http://x.invalid/p.jpg"


def test_generated_movies_show_actor_photos_like_the_general_renderer() -> None:
    fake = FakePlex()
    fake.add_section(1, "Generated", "movie")
    fake.set_actor_photo("Ines Varga", "http://x.invalid/iv.jpg?a=1&b=2")
    keys = fake.generate_movies(1, 200, seed=3)
    with_photo = [rk for rk in keys if fake.item(rk)["tags"]["actor"] == ["Ines Varga"]]
    assert with_photo
    for rk in with_photo[:10] + keys[:10]:
        item = fake._items[rk]
        templated = item.frag["list"]
        item.frag.clear()
        assert fake._render(item, "list") == templated


# ----------------------------------------------------------------------------- drift on the Plex side
def test_recreate_item_gives_a_new_bare_item_for_the_same_files(env: Env, tmp_path: Path) -> None:
    movie = full(env, env.lighthouse)
    movie.uploadPoster(url="http://example.invalid/p.jpg")
    movie.editStudio("Locked Studio")
    env.fake.set_actor_photo("Ines Varga", "http://example.invalid/iv.jpg")
    before = section_stamps(env.plex)[FILMS]
    old_stamp = env.fake.item(env.lighthouse)["updatedAt"]

    new_rk = env.fake.recreate_item(env.lighthouse)
    assert new_rk != env.lighthouse and new_rk not in env.movies
    with pytest.raises(NotFound):
        env.plex.fetchItem(env.lighthouse)
    assert section_stamps(env.plex)[FILMS] > before
    films = env.plex.library.sectionByID(FILMS)
    found = films.search(libtype="movie", Media__Part__file__exact=LIGHTHOUSE_PATH)
    assert [m.ratingKey for m in found] == [new_rk]
    fresh = full(env, new_rk)
    assert fresh.title == "The Quiet Lighthouse (1998)"
    assert (fresh.summary, fresh.studio, fresh.originallyAvailableAt, fresh.rating,
            fresh.userRating, fresh.year) == (None, None, None, None, None, None)
    assert (fresh.genres, fresh.roles, fresh.directors, fresh.collections, fresh.labels) == (
        [], [], [], [], [])
    assert fresh.fields == []
    assert fresh.posters() == []
    assert fresh.locations == [LIGHTHOUSE_PATH]
    state = env.fake.item(new_rk)
    assert state["poster_sha1"] is None and state["locked"] == set()
    assert state["updatedAt"] > old_stamp
    assert films.totalViewSize() == 250
    assert env.fake.actor_photo("Ines Varga") == "http://example.invalid/iv.jpg"  # the person stays


def test_recreate_episode_keeps_its_place_in_the_show(env: Env) -> None:
    new_rk = env.fake.recreate_item(env.episodes[1])
    series = env.plex.library.sectionByID(SERIES)
    episodes = series.searchEpisodes()
    assert [e.ratingKey for e in episodes] == [env.episodes[0], new_rk, env.episodes[2]]
    assert episodes[1].seasonEpisode == "s01e02"
    assert episodes[1].title == "Harbor Nights S01E02"
    assert env.plex.fetchItem(env.show).leafCount == 3
    with pytest.raises(ValueError):
        env.fake.recreate_item(env.show)


def test_hand_edit_sets_and_locks_what_plex_web_saves(env: Env) -> None:
    stamps = section_stamps(env.plex)
    first = env.fake.item(env.lighthouse)["updatedAt"]
    env.fake.hand_edit(env.lighthouse, title="Hand Title", summary="", studio="Hand Studio",
                       originallyAvailableAt="2003-04-05", userRating=8.5,
                       genre=["Noir"], actor=[("New Face", "Lead"), "Ines Varga"],
                       collection=["Hand Picked"], director=["H. Director"])
    second = env.fake.item(env.lighthouse)["updatedAt"]
    assert second > first
    env.fake.hand_edit(env.lighthouse, studio="Again")
    assert env.fake.item(env.lighthouse)["updatedAt"] > second
    assert section_stamps(env.plex)[FILMS] > stamps[FILMS]
    assert section_stamps(env.plex)[SERIES] == stamps[SERIES]

    movie = full(env, env.lighthouse)
    assert (movie.title, movie.summary, movie.studio, movie.userRating) == (
        "Hand Title", None, "Again", 8.5)
    assert movie.originallyAvailableAt == datetime(2003, 4, 5)
    assert [g.tag for g in movie.genres] == ["Noir"]
    assert [(r.tag, r.role) for r in movie.roles] == [("New Face", "Lead"), ("Ines Varga", "Keeper")]
    assert [c.tag for c in movie.collections] == ["Hand Picked"]
    assert [d.tag for d in movie.directors] == ["H. Director"]
    assert [label.tag for label in movie.labels] == ["seen"]  # not edited, not locked
    locked = {f.name for f in movie.fields if f.locked}
    assert locked == {"title", "summary", "studio", "originallyAvailableAt", "userRating", "genre",
                      "actor", "collection", "director"}
    assert env.plex.library.sectionByID(FILMS).get("Hand Title").ratingKey == env.lighthouse
    env.fake.hand_edit(env.lighthouse, genres="Solo")  # one name, plural spelling
    assert env.fake.item(env.lighthouse)["tags"]["genre"] == ["Solo"]
    with pytest.raises(ValueError):
        env.fake.hand_edit(env.lighthouse, originallyAvailableAt="2003-02-30")
    with pytest.raises(TypeError):
        env.fake.hand_edit(env.lighthouse, bogus="x")


def test_agent_refresh_resets_only_unlocked_fields_and_lists(env: Env) -> None:
    movie = full(env, env.lighthouse)
    movie.batchEdits().editStudio("Kept Studio").addGenre("Kept Genre").saveEdits()
    env.fake.hand_edit(env.lighthouse, director=["Kept Director"])
    stamp = env.fake.item(env.lighthouse)["updatedAt"]
    sections_before = section_stamps(env.plex)[FILMS]

    env.fake.agent_refresh(env.lighthouse)
    assert env.fake.item(env.lighthouse)["updatedAt"] > stamp
    assert section_stamps(env.plex)[FILMS] > sections_before
    movie.reload()
    assert movie.title == "The Quiet Lighthouse (1998)"
    assert movie.titleSort == movie.title
    assert (movie.summary, movie.tagline, movie.originallyAvailableAt, movie.rating, movie.year) == (
        None, None, None, None, None)
    assert movie.studio == "Kept Studio"
    assert [g.tag for g in movie.genres] == ["Drama", "Mystery", "Kept Genre"]
    assert [d.tag for d in movie.directors] == ["Kept Director"]
    assert (movie.roles, movie.collections, movie.labels, movie.writers, movie.countries) == (
        [], [], [], [], [])
    state = env.fake.item(env.lighthouse)
    assert state["roles"] == {} and state["addedAt"] == "1500000000"
    assert state["locked"] == {"studio", "genre", "director"}


def test_listing_carries_updated_at_and_filters_on_it(env: Env) -> None:
    films = env.plex.library.sectionByID(FILMS)
    newest = max(env.movies, key=lambda rk: env.fake.item(rk)["updatedAt"])
    t0 = env.fake.item(newest)["updatedAt"]
    env.fake.hand_edit(newest, summary="drifted")
    stamp = env.fake.item(newest)["updatedAt"]
    assert stamp > t0
    listing = env.plex.query("/library/sections/3/all?type=1")
    assert all(el.attrib["updatedAt"].isdigit() for el in listing)
    by_key = {int(el.attrib["ratingKey"]): int(el.attrib["updatedAt"]) for el in listing}
    assert by_key[newest] == stamp
    assert by_key[env.lighthouse] == env.fake.item(env.lighthouse)["updatedAt"]
    changed = films.search(filters={"updatedAt>>": datetime.fromtimestamp(t0)})
    assert [m.ratingKey for m in changed] == [newest]
    assert int(changed[0].updatedAt.timestamp()) == stamp
    raw = env.plex.query(f"/library/sections/3/all?type=1&updatedAt>>={t0}")
    assert [int(el.attrib["ratingKey"]) for el in raw] == [newest]
    assert len(films.search(filters={"updatedAt<<": datetime.fromtimestamp(t0 + 1)})) == 249


# ----------------------------------------------------------------------------- files on disk and scans
NEW_FILE = "/srv/media/films/New One (2020)/New One (2020).mkv"


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def activities_xml(plex: PlexServer) -> list[tuple[dict[str, str], list[dict[str, str]]]]:
    return [(dict(a.attrib), [dict(c.attrib) for c in a]) for a in plex.query("/activities")]


def refreshing(plex: PlexServer) -> dict[int, str]:
    return {int(d.attrib["key"]): d.attrib["refreshing"] for d in plex.query("/library/sections")}


def test_file_on_disk_enters_the_library_only_after_a_section_scan(env: Env) -> None:
    fake, films = env.fake, env.plex.library.sectionByID(FILMS)
    fake.add_file_on_disk(FILMS, NEW_FILE, year=2020, genres=["Drama"])
    fake.add_file_on_disk(FILMS, "/srv/media/films/Other/raw-name.mp4", title="Custom Title")
    assert fake.on_disk_files() == [NEW_FILE, "/srv/media/films/Other/raw-name.mp4"]
    assert films.totalViewSize() == 250
    assert films.search(libtype="movie", Media__Part__file__exact=NEW_FILE) == []
    assert fake.rating_key_for_file(NEW_FILE) is None
    before = section_stamps(env.plex)[FILMS]
    fake.set_scan_delay(0.8)  # room for the checks below while the scan runs
    fake.clear_log()

    started = time.monotonic()
    assert films.update() is films
    assert time.monotonic() - started < 0.2, "refresh must answer at once"
    rec = only_request(fake)
    assert (rec.method, rec.path, rec.params, rec.status) == (
        "GET", f"/library/sections/{FILMS}/refresh", [], 200)
    assert fake.scan_requests() == [rec]
    films.reload()
    assert films.refreshing is True
    assert refreshing(env.plex) == {FILMS: "1", SERIES: "0"}
    assert env.plex.query(f"/library/sections/{FILMS}").attrib["refreshing"] == "1"
    [activity] = env.plex.activities
    assert (activity.type, activity.title, activity.subtitle, activity.cancellable) == (
        "library.update.section", "Scanning Films", "", False)
    assert 0 <= activity.progress <= 99
    [(attrs, contexts)] = activities_xml(env.plex)
    assert attrs["userID"] == "1" and attrs["uuid"] == activity.uuid
    assert contexts == [{"librarySectionID": str(FILMS)}]

    wait_until(lambda: not fake.on_disk_files())
    films.reload()
    assert films.refreshing is False
    assert env.plex.activities == []
    assert refreshing(env.plex) == {FILMS: "0", SERIES: "0"}
    assert env.plex.query(f"/library/sections/{FILMS}").attrib["refreshing"] == "0"
    assert films.totalViewSize() == 252
    assert section_stamps(env.plex)[FILMS] > before
    [new] = films.search(libtype="movie", Media__Part__file__exact=NEW_FILE)
    assert fake.rating_key_for_file(NEW_FILE) == new.ratingKey
    assert new.ratingKey not in env.movies and new.title == "New One (2020)" and new.year == 2020
    new.reload()
    assert [g.tag for g in new.genres] == ["Drama"]
    assert abs(new.addedAt.timestamp() - time.time()) < 5
    assert abs(new.updatedAt.timestamp() - time.time()) < 5
    assert films.get("Custom Title").locations == ["/srv/media/films/Other/raw-name.mp4"]


@pytest.mark.parametrize("folder", ["/srv/media/films/A", "/srv/media/films/A/"])
def test_partial_scan_takes_only_files_in_or_under_the_folder(env: Env, folder: str) -> None:
    fake, films = env.fake, env.plex.library.sectionByID(FILMS)
    inside = ["/srv/media/films/A/a.mkv", "/srv/media/films/A/sub/b.mkv"]
    outside = ["/srv/media/films/AB/c.mkv", "/srv/media/films/d.mkv"]
    for path in inside + outside:
        fake.add_file_on_disk(FILMS, path)
    fake.clear_log()
    films.update(path=folder)
    assert only_request(fake).params == [("path", folder)]
    assert fake.running_scans()[0]["folder"] == "/srv/media/films/A"
    wait_until(lambda: not fake.running_scans())
    assert fake.on_disk_files() == outside
    for path in inside:
        [item] = films.search(libtype="movie", Media__Part__file__exact=path)
        assert item.title == path.rsplit("/", 1)[1][0]
    assert [fake.rating_key_for_file(path) for path in outside] == [None, None]


def test_refresh_by_put_and_post_and_force_are_scans_too(env: Env) -> None:
    fake = env.fake
    fake.set_scan_never_finishes(True)
    fake.clear_log()
    headers = {"X-Plex-Token": fake.token}
    base = f"{fake.url}/library/sections/{FILMS}/refresh"
    assert requests.put(base + "?path=/srv/media/films/A", headers=headers, timeout=10).status_code == 200
    assert requests.post(base + "?force=1", headers=headers, timeout=10).status_code == 200
    env.plex.library.sectionByID(SERIES).refresh()  # plexapi: GET ...?force=1
    assert [(r.method, r.path, r.params) for r in fake.scan_requests()] == [
        ("PUT", f"/library/sections/{FILMS}/refresh", [("path", "/srv/media/films/A")]),
        ("POST", f"/library/sections/{FILMS}/refresh", [("force", "1")]),
        ("GET", f"/library/sections/{SERIES}/refresh", [("force", "1")])]
    assert [(s["section"], s["folder"], s["force"]) for s in fake.running_scans()] == [
        (FILMS, "/srv/media/films/A", False), (FILMS, None, True), (SERIES, None, True)]
    contexts = [c for _, cs in activities_xml(env.plex) for c in cs]
    assert contexts == [{"librarySectionID": str(FILMS)}] * 2 + [{"librarySectionID": str(SERIES)}]
    assert refreshing(env.plex) == {FILMS: "1", SERIES: "1"}
    fake.set_scan_never_finishes(False)
    wait_until(lambda: not fake.running_scans())
    assert refreshing(env.plex) == {FILMS: "0", SERIES: "0"}


def test_scan_that_covers_no_file_still_runs_and_finishes(env: Env) -> None:
    fake, films = env.fake, env.plex.library.sectionByID(FILMS)
    fake.add_file_on_disk(FILMS, NEW_FILE)
    before = section_stamps(env.plex)[FILMS]
    films.update(path="/srv/media/films/Nothing Here")
    assert [a.title for a in env.plex.activities] == ["Scanning Films"]
    wait_until(lambda: not env.plex.activities)
    assert fake.on_disk_files() == [NEW_FILE]
    assert section_stamps(env.plex)[FILMS] == before
    assert films.totalViewSize() == 250


def test_scan_delay_and_never_finishing_scans(env: Env) -> None:
    fake, films = env.fake, env.plex.library.sectionByID(FILMS)
    fake.add_file_on_disk(FILMS, NEW_FILE)
    fake.set_scan_delay(1.5)
    films.update()
    time.sleep(0.5)
    [part] = env.plex.activities
    assert 15 <= part.progress <= 90
    assert fake.on_disk_files() == [NEW_FILE]
    wait_until(lambda: not fake.on_disk_files(), timeout=3)

    fake.set_scan_delay(0.1)
    fake.set_scan_never_finishes(True)
    fake.add_file_on_disk(FILMS, "/srv/media/films/Later/Later.mkv")
    films.update()
    time.sleep(0.4)
    [held] = env.plex.activities
    assert held.progress == 99
    films.reload()
    assert films.refreshing is True
    assert fake.on_disk_files() == ["/srv/media/films/Later/Later.mkv"]
    fake.set_scan_never_finishes(False)  # its delay is long over: it finishes right away
    wait_until(lambda: not fake.on_disk_files(), timeout=1)
    films.reload()
    assert films.refreshing is False and films.totalViewSize() == 252


def test_cancel_update_ends_the_scan_without_adding_files(env: Env) -> None:
    fake, films = env.fake, env.plex.library.sectionByID(FILMS)
    fake.set_scan_never_finishes(True)
    fake.add_file_on_disk(FILMS, NEW_FILE)
    films.update()
    assert len(env.plex.activities) == 1
    films.cancelUpdate()
    assert env.plex.activities == []
    fake.set_scan_never_finishes(False)
    time.sleep(0.4)
    assert fake.on_disk_files() == [NEW_FILE]
    assert fake.scan_requests()[-1].method == "GET"  # the DELETE is not a scan request


def test_auto_scan_adds_files_by_itself_without_request_or_activity(env: Env) -> None:
    fake, films = env.fake, env.plex.library.sectionByID(FILMS)
    fake.add_file_on_disk(FILMS, NEW_FILE)
    fake.set_auto_scan(0.6)
    wait_until(lambda: not fake.on_disk_files(), timeout=3)  # 0.6 s after it was added
    assert films.totalViewSize() == 251
    fake.add_file_on_disk(FILMS, "/srv/media/films/Auto/Auto.mkv")
    assert env.plex.activities == [] and refreshing(env.plex)[FILMS] == "0"
    time.sleep(0.1)
    assert fake.on_disk_files() == ["/srv/media/films/Auto/Auto.mkv"]
    wait_until(lambda: not fake.on_disk_files(), timeout=3)
    assert films.get("Auto").locations == ["/srv/media/films/Auto/Auto.mkv"]
    assert fake.scan_requests() == []
    fake.set_auto_scan(None)
    fake.add_file_on_disk(FILMS, "/srv/media/films/Manual/Manual.mkv")
    time.sleep(0.8)
    assert fake.on_disk_files() == ["/srv/media/films/Manual/Manual.mkv"]


def test_failed_refresh_starts_no_scan(env: Env) -> None:
    fake, films = env.fake, env.plex.library.sectionByID(FILMS)
    fake.add_file_on_disk(FILMS, NEW_FILE)
    refresh = f"/library/sections/{FILMS}/refresh"
    fake.clear_log()
    fake.fail_next(1, 500, path_prefix=refresh)
    with pytest.raises(BadRequest):
        films.update(path="/srv/media/films")
    fake.fail_next(1, 401, method="GET", path_prefix=refresh)
    with pytest.raises(Unauthorized):
        films.update()
    wrong = requests.get(fake.url + refresh, headers={"X-Plex-Token": "wrong"}, timeout=10)
    assert wrong.status_code == 401
    fake.drop_next(1, path_prefix=refresh)
    with pytest.raises(requests.exceptions.ConnectionError):
        films.update()
    assert fake.running_scans() == [] and env.plex.activities == []
    time.sleep(0.4)
    assert fake.on_disk_files() == [NEW_FILE]
    assert [r.status for r in fake.scan_requests()] == [500, 401, 401, 0]
    films.update()
    wait_until(lambda: not fake.on_disk_files())
    assert [r.status for r in fake.scan_requests()] == [500, 401, 401, 0, 200]


def test_library_update_scans_every_section_and_show_files_become_episodes(env: Env) -> None:
    fake = env.fake
    fake.add_file_on_disk(SERIES, "/srv/media/series/Harbor Nights/Season 01/Harbor Nights S01E04.mkv",
                          show="Harbor Nights", season=1, index=4)
    fake.add_file_on_disk(SERIES, "/srv/media/series/Dune Patrol/S01E01.mkv", title="Sand",
                          show="Dune Patrol", season=1, index=1)
    fake.add_file_on_disk(FILMS, NEW_FILE)
    env.plex.library.update()
    assert sorted(s["section"] for s in fake.running_scans()) == [FILMS, SERIES]
    assert fake.scan_requests()[-1].path == "/library/sections/all/refresh"
    wait_until(lambda: not fake.on_disk_files())
    series = env.plex.library.sectionByID(SERIES)
    episodes = {e.seasonEpisode: e for e in series.searchEpisodes(title="")}
    assert episodes["s01e04"].title == "Harbor Nights S01E04"
    assert episodes["s01e04"].grandparentRatingKey == env.show
    assert [s.title for s in series.all()] == ["Dune Patrol", "Harbor Nights"]
    assert series.get("Dune Patrol").episodes()[0].title == "Sand"
    assert env.plex.library.sectionByID(FILMS).totalViewSize() == 251


def test_add_file_on_disk_rejects_impossible_files(env: Env) -> None:
    fake = env.fake
    with pytest.raises(ValueError):
        fake.add_file_on_disk(FILMS, "/elsewhere/x.mkv")
    with pytest.raises(ValueError):
        fake.add_file_on_disk(FILMS, "/srv/media/filmsX/x.mkv")  # a prefix is not a parent
    with pytest.raises(ValueError):
        fake.add_file_on_disk(FILMS, LIGHTHOUSE_PATH)  # already in the library
    fake.add_file_on_disk(FILMS, NEW_FILE)
    with pytest.raises(ValueError):
        fake.add_file_on_disk(FILMS, NEW_FILE)
    with pytest.raises(ValueError):
        fake.add_file_on_disk(SERIES, "/srv/media/series/X/x.mkv")  # no show/season/index
    with pytest.raises(TypeError):
        fake.add_file_on_disk(FILMS, "/srv/media/films/y.mkv", bogus=1)
    assert fake.on_disk_files() == [NEW_FILE]


def test_stop_does_not_hang_on_running_scans_and_start_resumes_them() -> None:
    fake = FakePlex().start()
    fake.add_section(1, "Films", "movie", ["/m"])
    fake.add_file_on_disk(1, "/m/a.mkv")
    fake.set_scan_delay(0.2)
    fake.set_scan_never_finishes(True)
    requests.get(f"{fake.url}/library/sections/1/refresh", headers={"X-Plex-Token": fake.token},
                 timeout=10)
    fake.set_auto_scan(30)
    clock = fake._clock
    assert clock is not None and clock.is_alive()
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 1.0
    assert not clock.is_alive()
    fake.set_scan_never_finishes(False)
    time.sleep(0.3)
    assert fake.on_disk_files() == ["/m/a.mkv"]  # stopped: nothing moves
    fake.set_auto_scan(None)
    fake.start()
    try:
        wait_until(lambda: not fake.on_disk_files(), timeout=2)
        assert fake.running_scans() == []
    finally:
        fake.stop()


def test_a_hand_edit_in_the_same_second_keeps_the_stamp_and_the_filter_is_strict(env: Env) -> None:
    """Plex stamps updatedAt in whole seconds: an edit within the second of the item's last change
    leaves it, and ``updatedAt>>=T`` lists only items stamped strictly after T."""
    rk = max(env.movies, key=lambda k: env.fake.item(k)["updatedAt"])
    env.fake.hand_edit(rk, summary="first")
    stamp = env.fake.item(rk)["updatedAt"]
    section_stamp = env.fake.section(FILMS)["updatedAt"]
    env.fake.hand_edit(rk, same_second=True, summary="second", genre=["Same Second"])
    item = env.fake.item(rk)
    assert item["updatedAt"] == stamp and item["summary"] == "second" and item["tags"]["genre"] == ["Same Second"]
    assert env.fake.section(FILMS)["updatedAt"] == section_stamp
    listed = env.plex.query(f"/library/sections/{FILMS}/all?type=1")
    assert {el.attrib["ratingKey"]: el.attrib.get("summary") for el in listed}[str(rk)] == "second"
    after = env.plex.query(f"/library/sections/{FILMS}/all?type=1&updatedAt>>={stamp}")
    assert str(rk) not in [el.attrib["ratingKey"] for el in after]
    before = env.plex.query(f"/library/sections/{FILMS}/all?type=1&updatedAt>>={stamp - 1}")
    assert str(rk) in [el.attrib["ratingKey"] for el in before]


# ----------------------------------------------------------------------------- collections
def test_collections_are_items_listed_edited_and_given_posters(env: Env) -> None:
    """A collection exists while an item carries its tag (PMS makes and drops the item), is
    listed by /collections and by a type-18 search, and is edited like any item (type 18)."""
    films = env.plex.library.sectionByID(FILMS)
    [coastal] = films.collections()
    assert (coastal.title, coastal.type, coastal.subtype, coastal.smart) == ("Coastal", "collection", "movie", False)
    assert coastal.key == f"/library/collections/{coastal.ratingKey}" and coastal.childCount == 1
    assert coastal.index == env.fake.tag_id("collection", "Coastal")
    assert [i.title for i in coastal.items()] == [LIGHTHOUSE]
    listing = env.plex.query(f"/library/sections/{FILMS}/collections")
    assert [d.attrib["ratingKey"] for d in listing] == [str(coastal.ratingKey)]
    assert listing.attrib["totalSize"] == "1"
    env.fake.clear_log()
    coastal.editSummary("Stories by the sea")
    put = only_request(env.fake)
    assert put.path == f"/library/sections/{FILMS}/all"
    assert (put.param("type"), put.param("id"), put.param("summary.locked")) == ("18", str(coastal.ratingKey), "1")
    coastal.uploadPoster(filepath=b"\x89PNG\r\n\x1a\nposter")
    coastal.reload()
    assert coastal.summary == "Stories by the sea" and coastal.isLocked("summary")
    assert env.fake.collections(FILMS)["Coastal"]["poster_sha1"] == hashlib.sha1(b"\x89PNG\r\n\x1a\nposter").hexdigest()
    # A second item joins: same collection; the last item leaves: the collection is gone.
    other = env.plex.fetchItem(next(rk for rk in env.movies if rk != env.lighthouse))
    other.addCollection("Coastal")
    assert env.fake.collections(FILMS)["Coastal"]["ratingKey"] == coastal.ratingKey
    assert len(env.fake.collections(FILMS)["Coastal"]["items"]) == 2
    for rk in (env.lighthouse, other.ratingKey):
        env.plex.fetchItem(rk).removeCollection("Coastal")
    assert films.collections() == [] and env.fake.collections(FILMS) == {}
    with pytest.raises(NotFound):
        env.plex.fetchItem(coastal.ratingKey)


def test_collections_in_a_show_library_hold_episodes(env: Env) -> None:
    episode = env.plex.fetchItem(env.episodes[0])
    episode.addCollection("Harbor Best")
    [best] = env.plex.library.sectionByID(SERIES).collections()
    assert best.subtype == "episode" and [e.ratingKey for e in best.items()] == [env.episodes[0]]
    episode.addLabel("Family")
    assert [label.tag for label in env.plex.fetchItem(env.episodes[0]).labels] == ["Family"]
