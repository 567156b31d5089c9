"""The path index against the Plex stand-in, with the real plexapi client.

What matters: it reads raw paged listings (never plexapi objects), finds items by exact path and
by case-insensitive file name, sees every Part of every item, and goes back to Plex only when a
section changed (incrementally) or a lookup missed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from plex import index as index_mod
from plex.client import connect
from plex.errors import PlexSetupError
from plex.index import PlexIndex, basename_key, normalize_path
from tests.conftest import PLEX_TOKEN
from validation.config import PlexSyncConfig


def config_for(plex, **extra) -> PlexSyncConfig:
    return PlexSyncConfig(plex_url=plex.url, plex_token=PLEX_TOKEN, **extra)


def listings(plex) -> list:
    return [r for r in plex.log_snapshot() if r.method == "GET" and r.path.endswith("/all")]


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(index_mod, "PAGE_SIZE", 3)


def test_paged_listing_indexes_every_part(fake_plex, data_dir: Path, small_pages) -> None:
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    keys = [fake_plex.add_movie(1, f"M{i}", [f"/media/videos/m{i}.mp4"]) for i in range(7)]
    stacked = fake_plex.add_movie(1, "Stacked", [["/media/videos/cd1.avi", "/media/videos/cd2.avi"]])
    versions = fake_plex.add_movie(1, "Versions", [["/media/videos/v/1080.mkv"], ["/media/videos/v/4k.mkv"]])
    fake_plex.clear_log()
    server = connect(config_for(fake_plex), data_dir)
    index = PlexIndex(data_dir)
    index.refresh(server, [])

    pages = listings(fake_plex)
    assert len(pages) == 3  # 9 items, 3 per page
    assert [p.container_start for p in pages] == [0, 3, 6]
    assert all(p.param("type") == "1" for p in pages)
    assert index.item_count() == 9
    assert [p.rating_key for p in index.by_path("/media/videos/m3.mp4")] == [keys[3]]
    assert [p.rating_key for p in index.by_path("/media/videos/cd2.avi")] == [stacked]
    assert [p.rating_key for p in index.by_path("/media/videos/v/4k.mkv")] == [versions]
    assert sorted(index.files_of(versions)) == ["/media/videos/v/1080.mkv", "/media/videos/v/4k.mkv"]
    # No plexapi object was built per item: one GET per page, no item GETs.
    assert not [r for r in fake_plex.log_snapshot() if r.path.startswith("/library/metadata")]
    index.close()


def test_lookup_by_exact_path_and_case_insensitive_basename(fake_plex, data_dir: Path) -> None:
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    rk = fake_plex.add_movie(1, "A", ["/media/videos/Studio/Scene.One.MP4"])
    server = connect(config_for(fake_plex), data_dir)
    index = PlexIndex(data_dir)
    index.refresh(server, [])
    assert [p.rating_key for p in index.by_path("/media/videos/Studio/Scene.One.MP4")] == [rk]
    assert index.by_path("/media/videos/studio/scene.one.mp4") == []  # POSIX paths are exact
    assert [p.rating_key for p in index.by_basename("/somewhere/else/scene.one.mp4")] == [rk]
    assert index.by_basename("/x/other.mp4") == []
    index.close()


def test_windows_paths_compare_case_insensitively() -> None:
    assert normalize_path(r"D:\Media\Clip.MP4") == normalize_path("d:/media/clip.mp4")
    assert basename_key(r"D:\Media\Clip.MP4") == "clip.mp4"
    assert normalize_path("/media/Clip.mp4") != normalize_path("/media/clip.mp4")


def test_show_sections_index_episodes_when_named(fake_plex, data_dir: Path) -> None:
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    fake_plex.add_section(2, "Series", "show", ["/media/series"])
    show = fake_plex.add_show(2, "Harbor Nights")
    episode = fake_plex.add_episode(show, 1, 3, "Pilot", ["/media/series/Harbor/S01E03.mkv"])
    server = connect(config_for(fake_plex), data_dir)
    index = PlexIndex(data_dir)
    index.refresh(server, [])  # default: movie sections only
    assert index.by_path("/media/series/Harbor/S01E03.mkv") == []
    index.refresh(server, ["movies", "Series"])  # titles match case-insensitively
    [hit] = index.by_path("/media/series/Harbor/S01E03.mkv")
    assert (hit.rating_key, hit.item_type, hit.section_key) == (episode, "episode", 2)
    episode_listing = [r for r in listings(fake_plex) if r.path == "/library/sections/2/all"]
    assert episode_listing and episode_listing[-1].param("type") == "4"
    index.close()


def test_unknown_library_name_is_a_setting_error(fake_plex, data_dir: Path) -> None:
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    server = connect(config_for(fake_plex), data_dir)
    index = PlexIndex(data_dir)
    with pytest.raises(PlexSetupError, match="Clips.*Plex has: 'Movies' \\(movie\\)"):
        index.refresh(server, ["Clips"])
    index.close()


def test_relisted_only_when_section_changed_and_incrementally(fake_plex, data_dir: Path) -> None:
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    fake_plex.generate_movies(1, 50, seed=3, path_prefix="/media/videos/gen")
    server = connect(config_for(fake_plex), data_dir)
    index = PlexIndex(data_dir)
    index.refresh(server, [])
    assert index.item_count() == 50

    fake_plex.clear_log()
    index.refresh(server, [])  # nothing changed: one sections request, no listing
    assert listings(fake_plex) == []
    assert [r.path for r in fake_plex.log_snapshot()] == ["/library/sections"]

    new = fake_plex.add_movie(1, "Fresh", ["/media/videos/fresh.mp4"])  # a scan adds one item
    fake_plex.clear_log()
    index.refresh(server, [])
    [listing] = listings(fake_plex)
    assert "updatedAt>>" in listing.param_names()  # only what changed since the last look
    assert [p.rating_key for p in index.by_path("/media/videos/fresh.mp4")] == [new]
    assert index.item_count() == 51
    index.close()

    # A new process (the next drain) reuses the stored index without listing again.
    fake_plex.clear_log()
    again = PlexIndex(data_dir)
    again.refresh(connect(config_for(fake_plex), data_dir), [])
    assert listings(fake_plex) == []
    assert again.item_count() == 51
    again.close()


def test_miss_refreshes_once_per_drain(fake_plex, data_dir: Path) -> None:
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    fake_plex.add_movie(1, "A", ["/media/videos/a.mp4"])
    server = connect(config_for(fake_plex), data_dir)
    index = PlexIndex(data_dir)
    index.refresh(server, [])
    rk = fake_plex.add_movie(1, "Late", ["/media/videos/late.mp4"])
    assert index.by_path("/media/videos/late.mp4") == []
    fake_plex.clear_log()
    assert index.refresh_after_miss(server) is True
    assert len(listings(fake_plex)) == 1
    assert [p.rating_key for p in index.by_path("/media/videos/late.mp4")] == [rk]
    assert index.refresh_after_miss(server) is False  # once per drain
    assert len(listings(fake_plex)) == 1
    index.close()


def test_full_relist_drops_removed_items(fake_plex, data_dir: Path) -> None:
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    gone = fake_plex.add_movie(1, "Gone", ["/media/videos/gone.mp4"])
    server = connect(config_for(fake_plex), data_dir)
    index = PlexIndex(data_dir)
    index.refresh(server, [])
    fake_plex.remove_item(gone)
    index.refresh(server, [])  # incremental: cannot see a removal
    assert index.by_path("/media/videos/gone.mp4")
    assert index.relist_all_once(server) is True
    assert index.by_path("/media/videos/gone.mp4") == []
    assert index.relist_all_once(server) is False
    index.close()


def test_failed_listing_keeps_previous_rows(fake_plex, data_dir: Path, small_pages) -> None:
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    for i in range(5):
        fake_plex.add_movie(1, f"M{i}", [f"/media/videos/m{i}.mp4"])
    server = connect(config_for(fake_plex), data_dir)
    index = PlexIndex(data_dir)
    index.refresh(server, [])
    assert index.item_count() == 5
    fake_plex.fail_next(1, 503, method="GET", path_prefix="/library/sections/1/all")
    from plex.errors import PlexUnavailable

    with pytest.raises(PlexUnavailable):
        index.relist_all_once(server)
    assert index.item_count() == 5  # the half-done listing rolled back
    index.close()


def test_lookups_use_the_indexes(data_dir: Path) -> None:
    index = PlexIndex(data_dir)
    index._sections = [index_mod.SectionInfo(1, "Movies", "movie", "1"), index_mod.SectionInfo(2, "B", "movie", "1")]
    clause, params = index._section_filter()
    for column, index_name in (("norm", "parts_norm"), ("base", "parts_base")):
        plan = index.conn.execute(
            f"EXPLAIN QUERY PLAN SELECT rating_key FROM parts WHERE {column} = ?{clause}",  # noqa: S608 - constants
            ("x", *params),
        ).fetchall()
        assert any(index_name in row[-1] for row in plan), plan
    index.close()
