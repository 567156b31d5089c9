"""The writer against the Plex stand-in with the real plexapi client, in BOTH tag semantics.

The stand-in either merges indexed tags into the item's list or replaces the list with them (the
real server's behaviour is unsettled); every list test runs in both modes and must end with
exactly Stash's list.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from plex.client import connect
from plex.current import read_item
from plex.mapping import DesiredState, desired_from_scene
from plex.writer import build_plan, send_plan
from tests.conftest import PLEX_TOKEN
from tests.standins.fake_plex import FakePlex
from validation.config import PlexSyncConfig


@pytest.fixture(params=["merge", "replace"])
def plex(request, data_dir: Path):
    fake = FakePlex(token=PLEX_TOKEN, tag_semantics=request.param)
    fake.start()
    fake.add_section(1, "Movies", "movie", ["/media/videos"])
    fake.add_section(2, "Series", "show", ["/media/series"])
    server = connect(PlexSyncConfig(plex_url=fake.url, plex_token=PLEX_TOKEN), data_dir)
    server.library.sections()  # as the drain's index check does: edits then need no lookup
    try:
        yield fake, server
    finally:
        fake.stop()


def scene(**overrides) -> dict:
    base = {
        "id": "7",
        "title": "Stash Title",
        "details": "First line\nSecond line",
        "date": "2021-03-04",
        "rating100": 85,
        "studio": {"name": "Studio Nine"},
        "performers": [{"name": "Ann Example"}, {"name": "Bo Sample"}],
        "tags": [{"name": "Drama"}, {"name": "Sci-Fi & Fantasy"}, {"name": "Comedy, Dark"}],
        "groups": [{"group": {"name": "Series One"}, "scene_index": 2}],
        "files": [{"path": "/media/videos/a.mp4"}],
        "paths": {"screenshot": "http://stash/scene/7/screenshot?t=1"},
        "updated_at": "2024-01-01T00:00:00Z",
    }
    base.update(overrides)
    return base


def fetch(server, rk: int):
    item = server.fetchItem(rk)
    item._autoReload = False
    return item


def write(plex_and_server, rk: int, desired: DesiredState, *, preserve: bool = False):
    fake, server = plex_and_server
    item = fetch(server, rk)
    plan = build_plan(desired, read_item(item), preserve_plex_edits=preserve)
    fake.clear_log()
    send_plan(server, plan, item.librarySectionID)
    return plan, fake.log_snapshot()


def test_every_movie_field_written_and_locked_in_one_put(plex) -> None:
    fake, server = plex
    rk = fake.add_movie(1, "a", ["/media/videos/a.mp4"], summary="agent text", genres=["Old Genre"])
    plan, log = write(plex, rk, desired_from_scene(scene()))
    assert [(r.method, r.path) for r in log] == [("PUT", "/library/sections/1/all")]
    item = fake.item(rk)
    assert item["title"] == "Stash Title"
    assert item["summary"] == "First line\nSecond line"
    assert item["originallyAvailableAt"] == "2021-03-04"
    assert item["studio"] == "Studio Nine"
    assert float(item["userRating"]) == 8.5
    assert item["tags"]["actor"] == ["Ann Example", "Bo Sample"]
    assert item["tags"]["genre"] == ["Drama", "Sci-Fi & Fantasy", "Comedy, Dark"]
    assert item["tags"]["collection"] == ["Series One"]
    assert {"title", "summary", "originallyAvailableAt", "studio", "userRating", "genre", "actor",
            "collection"} <= item["locked"]
    assert {c.field for c in plan.changes} >= {"title", "genre", "actor"}


def test_unchanged_item_needs_no_write_and_reading_costs_no_request(plex) -> None:
    fake, server = plex
    rk = fake.add_movie(1, "a", ["/media/videos/a.mp4"])
    desired = desired_from_scene(scene())
    write(plex, rk, desired)
    fake.clear_log()
    item = fetch(server, rk)
    current = read_item(item)  # reads empty attributes too: must not auto-reload
    assert [r.path for r in fake.log_snapshot()] == [f"/library/metadata/{rk}"]
    plan = build_plan(desired, current, preserve_plex_edits=False)
    assert not plan.needs_write and plan.changes == []
    assert plan.describe() == [f"scene 7 → Plex item {rk} (movie): up to date"]


def test_removed_names_leave_plex_in_both_modes(plex) -> None:
    fake, _ = plex
    rk = fake.add_movie(1, "a", ["/media/videos/a.mp4"], genres=["Drama", "Gone, With Comma", "Old%20"],
                        actors=["Ann Example", "Left Cast"], collections=["Old Set"])
    desired = desired_from_scene(scene(tags=[{"name": "Drama"}, {"name": "New"}],
                                       performers=[{"name": "Ann Example"}], groups=[]))
    _, [put] = write(plex, rk, desired)
    item = fake.item(rk)
    assert sorted(item["tags"]["genre"]) == ["Drama", "New"]
    assert item["tags"]["actor"] == ["Ann Example"]
    assert item["tags"]["collection"] == []
    # Never the same name in the list and in the removals of one request.
    for prefix in ("genre", "actor", "collection"):
        added = {v for k, v in put.params if k.startswith(f"{prefix}[") and k.endswith("].tag.tag")}
        removed_raw = put.param(f"{prefix}[].tag.tag-") or ""
        removed = {unquote(p) for p in removed_raw.split(",") if p}
        assert not added & removed
    assert {unquote(p) for p in put.param("genre[].tag.tag-").split(",")} == {"Gone, With Comma", "Old%20"}


def test_emptying_a_list_in_stash_empties_it_in_plex(plex) -> None:
    fake, _ = plex
    rk = fake.add_movie(1, "a", ["/media/videos/a.mp4"], genres=["A", "B"])
    write(plex, rk, desired_from_scene(scene(tags=[])))
    assert fake.item(rk)["tags"]["genre"] == []
    assert "genre" in fake.item(rk)["locked"]


def test_equal_but_unlocked_values_get_locked(plex) -> None:
    fake, _ = plex
    rk = fake.add_movie(1, "Stash Title", ["/media/videos/a.mp4"], genres=["Drama"])
    desired = desired_from_scene(scene(tags=[{"name": "Drama"}]))
    plan, _ = write(plex, rk, desired)
    title = next(c for c in plan.changes if c.field == "title")
    assert title.lock_only and "lock" in title.describe()
    assert {"title", "genre"} <= fake.item(rk)["locked"]
    assert fake.item(rk)["tags"]["genre"] == ["Drama"]


def test_cleared_fields_and_rating(plex) -> None:
    fake, _ = plex
    rk = fake.add_movie(1, "a", ["/media/videos/a.mp4"], summary="old", studio="Old Studio",
                        userRating="6.0", originallyAvailableAt="2000-01-01")
    write(plex, rk, desired_from_scene(scene(details=None, studio=None, rating100=None, date=None)))
    item = fake.item(rk)
    assert item["summary"] is None and item["studio"] is None
    assert item["userRating"] is None and item["originallyAvailableAt"] is None


def test_empty_stash_title_never_blanks_plex(plex) -> None:
    fake, _ = plex
    rk = fake.add_movie(1, "Plex Keeps This", ["/media/videos/a.mp4"])
    plan, [put] = write(plex, rk, desired_from_scene(scene(title="  ")))
    assert "title.value" not in put.param_names()
    assert fake.item(rk)["title"] == "Plex Keeps This"


def test_bad_date_is_dropped_with_a_warning(plex) -> None:
    fake, _ = plex
    rk = fake.add_movie(1, "a", ["/media/videos/a.mp4"], originallyAvailableAt="1999-09-09")
    desired = desired_from_scene(scene(date="2021-02-30"))
    assert "originallyAvailableAt" not in desired.fields
    assert any("2021-02-30" in w for w in desired.warnings)
    _, [put] = write(plex, rk, desired)
    assert not any(k.startswith("originallyAvailableAt") for k in put.param_names())
    assert fake.item(rk)["originallyAvailableAt"] == "1999-09-09"


def test_preserve_plex_edits_fills_only_empty_fields(plex) -> None:
    fake, _ = plex
    rk = fake.add_movie(1, "a", ["/media/videos/a.mp4"], summary="Written in Plex", genres=["Plex Genre"],
                        locked=["summary"])
    plan, _ = write(plex, rk, desired_from_scene(scene()), preserve=True)
    item = fake.item(rk)
    assert item["summary"] == "Written in Plex"  # kept
    assert item["tags"]["genre"] == ["Plex Genre"]  # a non-empty list is kept whole
    assert item["title"] == "Stash Title"  # "a" is the file name: Plex's placeholder
    assert item["studio"] == "Studio Nine" and item["tags"]["actor"] == ["Ann Example", "Bo Sample"]
    assert set(plan.kept) == {"summary", "genre"}
    assert "genre" not in item["locked"]  # nothing PlexSync did not write gets locked


def test_preserve_keeps_a_real_plex_title(plex) -> None:
    fake, _ = plex
    rk = fake.add_movie(1, "A Title Someone Typed", ["/media/videos/a.mp4"])
    write(plex, rk, desired_from_scene(scene()), preserve=True)
    assert fake.item(rk)["title"] == "A Title Someone Typed"


def test_episode_gets_only_what_plex_allows(plex) -> None:
    fake, server = plex
    show = fake.add_show(2, "Harbor Nights")
    rk = fake.add_episode(show, 1, 1, "Pilot", ["/media/series/h/s01e01.mkv"], actors=["Old Guest"])
    plan, [put] = write(plex, rk, desired_from_scene(scene()))
    assert put.param("type") == "4"
    names = put.param_names()
    assert not any(k.startswith(("studio", "genre")) for k in names)
    assert set(plan.skipped) == {"studio", "genre"}
    item = fake.item(rk)
    assert item["title"] == "Stash Title" and item["summary"] == "First line\nSecond line"
    assert item["tags"]["actor"] == ["Ann Example", "Bo Sample"]
    assert item["tags"]["collection"] == ["Series One"]
    assert item["originallyAvailableAt"] == "2021-03-04"


def test_payload_hash_moves_with_content_not_with_screenshot_url() -> None:
    a = desired_from_scene(scene())
    b = desired_from_scene(scene(paths={"screenshot": "http://stash/scene/7/screenshot?t=999"}))
    c = desired_from_scene(scene(title="Other"))
    assert a.payload_hash(poster="x") == b.payload_hash(poster="x")
    assert a.payload_hash(poster="x") != a.payload_hash(poster="y")
    assert a.payload_hash() != c.payload_hash()
    assert a.payload_hash(preserve_plex_edits=True) != a.payload_hash(preserve_plex_edits=False)


def test_text_is_cleaned_before_it_leaves(plex) -> None:
    fake, _ = plex
    rk = fake.add_movie(1, "a", ["/media/videos/a.mp4"])
    dirty = scene(title="Ame\u0301lie\x00\n", details="ok\x07\r\nnext", tags=[{"name": "x\x1b"}, {"name": "x"}])
    write(plex, rk, desired_from_scene(dirty))
    item = fake.item(rk)
    assert item["title"] == "Amélie"
    assert item["summary"] == "ok\nnext"
    assert item["tags"]["genre"] == ["x"]
