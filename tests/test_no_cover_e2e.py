"""A scene without a cover, end to end (issue 16): the real PlexSync.py run by the Stash stand-in,
real plexapi against the Plex stand-in.

A scan without cover generation leaves every new scene without a cover, and real Stash then
answers ``paths.screenshot`` with 200, ``image/svg+xml`` and its placeholder SVG. That is no
poster: PlexSync writes the scene's fields and leaves the poster alone, fails nothing, and uploads
the cover once a real one exists, exactly once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.helpers import drain_runs, inbox, run_task, synced
from tests.standins.fake_stash import DEFAULT_SCENE_IMAGE, cover_data_url, default_cover

pytestmark = pytest.mark.usefixtures("leak_scan")


def poster_uploads(plex, rating_key: int) -> list:
    return [r for r in plex.requests_for(rating_key) if r.method == "POST" and r.path.endswith("/posters")]


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def no_cover_scene(stash, plex, name: str) -> tuple[str, int]:
    """Plex has the file; Stash's scan creates the scene (Create hook) and generates no cover."""
    path = f"/media/videos/scan/{name}.mp4"
    rk = plex.add_movie(1, name, [path])
    scene = stash.scan_new_file(path, title=f"Scanned {name}", details="found by a scan")
    stash.wait_for_jobs(120)
    return scene, rk


def assert_fields_written_without_poster(stash, plex, data_dir: Path, scene: str, rk: int, name: str) -> None:
    [drain] = drain_runs(stash)
    assert drain.error is None, drain.logs
    assert drain.output["written"] == 1, drain.output
    assert (drain.output["failed"], drain.output["retry_later"], drain.output["needs_review"]) == (0, 0, 0)
    item = plex.item(rk)
    assert (item["title"], item["summary"]) == (f"Scanned {name}", "found by a scan")
    assert poster_uploads(plex, rk) == [] and item["poster_sha1"] is None
    # PlexSync did ask: Stash answered 200 with its placeholder, which is not an image to upload.
    assert stash.cover(scene) == DEFAULT_SCENE_IMAGE
    assert [r.status for r in stash.image_requests("scene")] == [200]
    assert inbox(data_dir) == {}
    assert synced(data_dir)[int(scene)]["poster_hash"] is None
    assert not any("fail" in m.lower() for m in drain.logs_at("warning") + drain.logs_at("error"))


def test_a_scene_without_a_cover_gets_its_fields_then_its_uploaded_cover_once(world, data_dir: Path) -> None:
    stash, plex = world
    scene, rk = no_cover_scene(stash, plex, "uploaded")
    assert_fields_written_without_poster(stash, plex, data_dir, scene, rk, "uploaded")

    # A cover set later in the UI (sceneUpdate with cover_image): the hook queues it, uploaded once.
    cover = default_cover(4242)
    stash.update_scene(scene, cover_image=cover_data_url(cover))
    stash.wait_for_jobs(120)
    assert [r.body_sha1 for r in poster_uploads(plex, rk)] == [sha1(cover)]
    assert plex.item(rk)["poster_sha1"] == sha1(cover)
    assert synced(data_dir)[int(scene)]["poster_hash"] == sha1(cover)

    # Later edits and a whole-library check send the same cover no more.
    stash.update_scene(scene, title="Edited After The Cover")
    stash.wait_for_jobs(120)
    assert plex.item(rk)["title"] == "Edited After The Cover"
    check = run_task(stash, "Sync all scenes")
    assert check.error is None, check.logs
    assert len(poster_uploads(plex, rk)) == 1
    assert all(run.error is None for run in drain_runs(stash))


def test_a_cover_generated_later_reaches_plex_once(world, data_dir: Path) -> None:
    """Cover generation (a task) fires no hook: the next PlexSync run finds the scene changed."""
    stash, plex = world
    scene, rk = no_cover_scene(stash, plex, "generated")
    assert_fields_written_without_poster(stash, plex, data_dir, scene, rk, "generated")

    stash.generate_cover(scene)
    first = run_task(stash, "Sync recent changes")
    assert first.error is None, first.logs
    assert [r.body_sha1 for r in poster_uploads(plex, rk)] == [sha1(default_cover(int(scene)))]
    again = run_task(stash, "Sync recent changes")
    assert again.error is None, again.logs
    assert len(poster_uploads(plex, rk)) == 1
