"""Matching scenes to Plex items through the index built from the Plex stand-in.

Exact mapped path first, file name only when no exact path matched anywhere, every file of the
scene considered, one candidate per item; one candidate is HIGH, several are LOW.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from plex.client import connect
from plex.index import PlexIndex
from plex.matcher import (
    Candidate,
    MatchConfidence,
    best_candidate,
    exact_candidates,
    name_candidates,
    score_match_confidence,
    shared_tail,
)
from plex.pathmap import PathMap
from tests.conftest import PLEX_TOKEN
from validation.config import PlexSyncConfig


@pytest.fixture
def library(fake_plex, data_dir: Path):
    """Section 1 at /media/videos with a few look-alike files; returns (index, keys)."""
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    fake_plex.add_section(2, "Other", "movie", ["/media/other"])
    keys = {
        "exact": fake_plex.add_movie(1, "Exact", ["/media/videos/Studio A/clip.mp4"]),
        "twin": fake_plex.add_movie(2, "Twin", ["/media/other/Studio B/CLIP.mp4"]),
        "unique": fake_plex.add_movie(1, "Unique", ["/media/videos/x/only-here.mkv"]),
        "dup1": fake_plex.add_movie(1, "Dup1", ["/media/videos/one/same.mp4"]),
        "dup2": fake_plex.add_movie(2, "Dup2", ["/media/other/two/Same.MP4"]),
        "multi": fake_plex.add_movie(1, "Multi", [["/media/videos/m/part1.avi", "/media/videos/m/part2.avi"]]),
    }
    config = PlexSyncConfig(plex_url=fake_plex.url, plex_token=PLEX_TOKEN)
    index = PlexIndex(data_dir)
    index.refresh(connect(config, data_dir), [])
    yield index, keys
    index.close()


def find_candidates(index: PlexIndex, paths: list[str], path_map: PathMap) -> list[Candidate]:
    """Exact mapped paths first, else file names: the order worker.drain.matching asks in."""
    return exact_candidates(index, paths, path_map) or name_candidates(index, paths, path_map)


def keys_of(candidates: list[Candidate]) -> list[int]:
    return [c.rating_key for c in candidates]


def test_exact_path_wins_over_basename_lookalikes(library) -> None:
    index, keys = library
    found = find_candidates(index, ["/media/videos/Studio A/clip.mp4"], PathMap())
    assert keys_of(found) == [keys["exact"]]
    assert found[0].matched_by == "path"
    assert score_match_confidence(found, "/media/videos/Studio A/clip.mp4") == (MatchConfidence.HIGH, found[0])


def test_path_map_translates_before_lookup(library) -> None:
    index, keys = library
    mapping = PathMap.parse("/data => /media/videos")
    found = find_candidates(index, ["/data/x/only-here.mkv"], mapping)
    assert keys_of(found) == [keys["unique"]]
    assert found[0].matched_by == "path"
    assert found[0].plex_path == "/media/videos/x/only-here.mkv"


def test_basename_fallback_is_case_insensitive(library) -> None:
    index, keys = library
    found = find_candidates(index, ["/elsewhere/ONLY-HERE.MKV"], PathMap())
    assert keys_of(found) == [keys["unique"]]
    assert found[0].matched_by == "basename"


def test_several_basename_candidates_are_low(library) -> None:
    index, keys = library
    found = find_candidates(index, ["/unmapped/root/same.mp4"], PathMap())
    assert keys_of(found) == sorted([keys["dup1"], keys["dup2"]])
    assert score_match_confidence(found, "/unmapped/root/same.mp4") == (MatchConfidence.LOW, None)
    # No candidates at all is "not found": the caller retries; scoring it says LOW, None.
    assert score_match_confidence([], "/x") == (MatchConfidence.LOW, None)


def test_any_file_of_the_scene_counts_and_candidates_are_per_item(library) -> None:
    index, keys = library
    # A scene with two files: the second is the one Plex has. Both parts of one stacked item
    # match: still one candidate.
    found = find_candidates(index, ["/media/videos/nowhere.mp4", "/media/videos/m/part2.avi"], PathMap())
    assert keys_of(found) == [keys["multi"]]
    found = find_candidates(index, ["/media/videos/m/part1.avi", "/media/videos/m/part2.avi"], PathMap())
    assert keys_of(found) == [keys["multi"]]
    assert set(found[0].matched_files) == {"/media/videos/m/part1.avi", "/media/videos/m/part2.avi"}


def test_exact_hit_on_one_file_suppresses_basename_hits_of_others(library) -> None:
    index, keys = library
    found = find_candidates(index, ["/media/videos/x/only-here.mkv", "/unmapped/same.mp4"], PathMap())
    assert keys_of(found) == [keys["unique"]]


def test_nothing_found(library) -> None:
    index, _ = library
    assert find_candidates(index, ["/media/videos/missing.mp4"], PathMap()) == []
    assert find_candidates(index, [], PathMap()) == []


def test_best_candidate_prefers_the_longest_common_path_tail(library) -> None:
    index, keys = library
    found = find_candidates(index, ["/stash/Studio B/clip.mp4"], PathMap())
    assert keys_of(found) == sorted([keys["exact"], keys["twin"]])
    assert best_candidate(found).rating_key == keys["twin"]
    # A tie goes to the lowest rating key, so the choice is the same on every run.
    found = find_candidates(index, ["/stash/z/same.mp4"], PathMap())
    assert best_candidate(found).rating_key == min(keys["dup1"], keys["dup2"])


def test_shared_tail_counts_trailing_folders_and_name() -> None:
    """How closely two paths agree from the end: what tells which scene a Plex file is."""
    assert shared_tail("/media/videos/2019/clip.mp4", "/stash/2019/CLIP.mp4") == 2
    assert shared_tail("/media/videos/2024/clip.mp4", "/stash/2019/clip.mp4") == 1
    assert shared_tail("/a/b.mp4", "/c/d.mp4") == 0
    assert shared_tail("D:\\Videos\\x\\y.mp4", "/mnt/x/y.mp4") == 2
