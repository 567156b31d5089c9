"""Matching by file name against Stash's ``EQUALS``, which is SQL ``LIKE`` (issue 16, item 6), end
to end: PlexSync.py run as Stash runs it, real plexapi against the Plex stand-in, and the Stash
stand-in answering the file-name query as real Stash does (ASCII-only case folding, ``_`` and
``%`` wildcards, no escape).

A match by file name is certain only if no other Stash scene has a file of that name. What
Stash answers is a superset (``clip_1.mp4`` brings ``clipA1.mp4``) that PlexSync narrows to the
exact name itself, reading every page of it; and the name it asks for must not lose a scene
whose name differs only in the case of a non-ASCII letter, which ``LIKE`` does not fold.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from tests.helpers import configure, inbox, process_queue, queue_directly, run_task, synced

pytestmark = pytest.mark.usefixtures("leak_scan")


def sync_and_expect_review(world, data_dir: Path, scene: str, rk: int, other: str, other_path: str) -> None:
    """Under strict matching the scene's file name is shared with ``other``: nothing is written,
    the scene needs review, and Status names the other scene and its file."""
    stash, plex = world
    title = plex.item(rk)["title"]
    queue_directly(data_dir, stash, [scene])
    run = process_queue(stash)
    assert run.error is None, run.logs
    assert plex.item(rk)["title"] == title  # not written: the match is not certain
    assert inbox(data_dir)[int(scene)]["state"] == "review"
    status = run_task(stash, "Status")
    [review] = [r for r in status.output["needs_review_scenes"] if r["scene_id"] == int(scene)]
    assert review["other_scenes"] == [{"scene_id": int(other), "path": other_path}]


def test_an_underscore_does_not_make_a_unique_name_shared(world, data_dir: Path) -> None:
    """No path_map rule: Stash's /stash/... is matched by file name. ``my_clip.mp4`` is unique;
    ``myXclip.mp4`` is another name, though ``LIKE 'my_clip.mp4'`` finds it."""
    stash, plex = world
    rk = plex.add_movie(1, "my_clip", ["/media/videos/my_clip.mp4"])
    lookalike_rk = plex.add_movie(1, "myXclip", ["/media/videos/myXclip.mp4"])
    lookalike = stash.add_scene("Lookalike", ["/stash/myXclip.mp4"])
    scene = stash.add_scene("My Clip", ["/stash/my_clip.mp4"])
    assert {s["id"] for s in stash.graphql(
        '{ findScenes(scene_filter: {files_filter: {basename: {value: "my_clip.mp4", modifier: EQUALS}}})'
        " { scenes { id } } }")["data"]["findScenes"]["scenes"]} == {lookalike, scene}
    queue_directly(data_dir, stash, [scene])
    run = process_queue(stash)
    assert run.error is None, run.logs
    assert plex.item(rk)["title"] == "My Clip"
    assert synced(data_dir)[int(scene)]["plex_item_key"] == str(rk)
    assert plex.item(lookalike_rk)["title"] == "myXclip"


def test_a_shared_name_is_seen_behind_a_page_of_lookalikes(world, data_dir: Path) -> None:
    """Thirty scenes whose names only ``LIKE`` confuses with ``clip_1.mp4`` come first (lower
    ids); the one other scene that really has a ``clip_1.mp4`` comes after them. It must be
    found: the name is not unique, so under strict matching the scene needs review and the Plex
    item is left alone."""
    stash, plex = world
    rk = plex.add_movie(1, "clip_1", ["/media/videos/2019/clip_1.mp4"])
    for letter in (string.ascii_letters + string.digits)[:30]:
        stash.add_scene(f"Lookalike {letter}", [f"/stash/other/clip{letter}1.mp4"])
    scene = stash.add_scene("Clip 2019", ["/stash/2019/clip_1.mp4"])
    other = stash.add_scene("Clip 2024", ["/stash/2024/clip_1.mp4"])
    sync_and_expect_review(world, data_dir, scene, rk, other, "/stash/2024/clip_1.mp4")

    configure(stash, plex.url, strict_matching=False)  # the best candidate is written, with a warning
    assert run_task(stash, "Retry failed").error is None
    assert plex.item(rk)["title"] == "Clip 2019"


def test_a_shared_name_differing_in_the_case_of_a_non_ascii_letter(world, data_dir: Path) -> None:
    """``Été_1.mp4`` and ``été_1.mp4`` are one name to Plex's match by file name, but SQLite's
    ``LIKE`` folds ASCII letters only: asking Stash for ``été_1.mp4`` alone misses the other."""
    stash, plex = world
    rk = plex.add_movie(1, "ete", ["/media/videos/2019/été_1.mp4"])
    scene = stash.add_scene("Summer 2019", ["/stash/2019/été_1.mp4"])
    other = stash.add_scene("Summer 2024", ["/stash/2024/Été_1.mp4"])
    sync_and_expect_review(world, data_dir, scene, rk, other, "/stash/2024/Été_1.mp4")
