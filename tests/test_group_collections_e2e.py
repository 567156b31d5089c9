"""Group collections that look like Stash's groups (issue 17), end to end: PlexSync.py run as
Stash runs it, real plexapi against the Plex stand-in, both tag semantics.

Every group of a scene is a Plex collection by name; the collection item itself carries the group:
its summary is the group's synopsis, its poster the group's front image. It is written once per
group, not once per scene; the image is uploaded again only when it changes; a group edited in
Stash (``Group.Update.Post``) updates the collection without any scene write, and one edited with
no hook is caught by *Sync all*.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from tests.helpers import configure, drain_runs, run_task
from tests.standins.fake_stash import default_cover

pytestmark = pytest.mark.usefixtures("leak_scan")

FRONT_1 = default_cover(9001)
FRONT_2 = default_cover(9002)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def collection_writes(plex, collection_key: int) -> list[str]:
    """Edits of the collection item (type 18) and uploads to it, in order."""
    found = []
    for rec in sorted(plex.log_snapshot(), key=lambda r: r.time):
        if rec.method == "PUT" and rec.param("type") == "18" and rec.param("id") == str(collection_key):
            found.append("summary")
        elif rec.method == "POST" and rec.path == f"/library/metadata/{collection_key}/posters":
            found.append("poster")
    return found


def scene_puts(plex) -> list:
    return [r for r in plex.log_snapshot() if r.method == "PUT" and r.param("type") in ("1", "4")]


def library(stash, plex):
    saga = stash.add_group("Saga", synopsis="The whole story", front_image=FRONT_1)
    rks = {}
    for name, groups in (("a", [("Saga", 1)]), ("b", [("Saga", 2)]), ("c", [])):
        path = f"/media/videos/{name}.mp4"
        rks[name] = plex.add_movie(1, name, [path])
        stash.add_scene(f"Scene {name}", [path], groups=groups)
    return saga, rks


def test_collection_is_the_group(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    saga, rks = library(stash, plex)
    run = run_task(stash, "Sync all scenes")
    assert run.error is None, run.logs
    saga_plex = plex.collections(1)["Saga"]
    assert saga_plex["summary"] == "The whole story" and "summary" in saga_plex["locked"]
    assert saga_plex["poster_sha1"] == sha1(FRONT_1)
    assert saga_plex["items"] == sorted([rks["a"], rks["b"]])
    key = saga_plex["ratingKey"]
    # Once per group, not per scene: one summary edit and one upload for two scenes.
    assert collection_writes(plex, key) == ["summary", "poster"]
    assert len(plex.matching_requests(method="GET", path="/library/sections/1/collections")) == 1

    # Synopsis edited in Stash: the group's hook, a drain, the collection's summary; no scene write.
    time.sleep(1.1)  # Stash stamps whole seconds
    plex.clear_log()
    stash.set_group(saga, synopsis="A longer story\nin two lines")
    stash.wait_for_jobs(120)
    assert drain_runs(stash)[-1].error is None
    assert plex.collections(1)["Saga"]["summary"] == "A longer story\nin two lines"
    assert collection_writes(plex, key) == ["summary"] and scene_puts(plex) == []

    # Front image changed: uploaded once; the summary is not written again.
    time.sleep(1.1)
    plex.clear_log()
    stash.set_group(saga, front_image=FRONT_2)
    stash.wait_for_jobs(120)
    assert plex.collections(1)["Saga"]["poster_sha1"] == sha1(FRONT_2)
    assert collection_writes(plex, key) == ["poster"] and scene_puts(plex) == []

    # Edited while the plugin was off: Sync all catches it, and a second Sync all writes nothing.
    time.sleep(1.1)
    stash.set_group(saga, synopsis="Told again", hooks=False)
    plex.clear_log()
    run = run_task(stash, "Sync all scenes")
    assert run.error is None, run.logs
    assert plex.collections(1)["Saga"]["summary"] == "Told again"
    assert collection_writes(plex, key) == ["summary"] and scene_puts(plex) == []
    plex.clear_log()
    run = run_task(stash, "Sync all scenes")
    assert run.output["group_collection_writes"] == 0 and run.output["written"] == 0, run.output
    assert collection_writes(plex, key) == [] and plex.requests_for(key) == []
    assert not [r for r in plex.log_snapshot() if r.path.startswith("/library/metadata/")]

    # The group's image removed in Stash: Stash serves a placeholder; the poster is left alone.
    time.sleep(1.1)
    plex.clear_log()
    stash.set_group(saga, front_image=None)
    stash.wait_for_jobs(120)
    assert plex.collections(1)["Saga"]["poster_sha1"] == sha1(FRONT_2)
    assert collection_writes(plex, key) == []


def test_renamed_group_dresses_its_new_collection(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    saga, rks = library(stash, plex)
    assert run_task(stash, "Sync all scenes").error is None
    old_key = plex.collections(1)["Saga"]["ratingKey"]
    time.sleep(1.1)
    stash.rename_group(saga, "Saga Reborn")
    stash.wait_for_jobs(120)
    collections = plex.collections(1)
    assert set(collections) == {"Saga Reborn"}  # Plex dropped the collection no item is in
    reborn = collections["Saga Reborn"]
    assert reborn["ratingKey"] != old_key and reborn["items"] == sorted([rks["a"], rks["b"]])
    assert reborn["summary"] == "The whole story" and reborn["poster_sha1"] == sha1(FRONT_1)


def test_scene_joining_a_group_written_once(world, tag_mode: str, data_dir: Path) -> None:
    """A new scene in a group whose collection is already dressed costs its own PUT and one look
    at the collections, nothing more; a new group gets its collection dressed by the same drain."""
    stash, plex = world
    saga, rks = library(stash, plex)
    assert run_task(stash, "Sync all scenes").error is None
    key = plex.collections(1)["Saga"]["ratingKey"]
    stash.add_group("Prequel", synopsis="Before it all")
    time.sleep(1.1)
    plex.clear_log()
    scene_c = [s for s in stash.scene_ids() if stash.scene(s)["title"] == "Scene c"][0]
    stash.update_scene(scene_c, groups=[{"group_id": saga, "scene_index": 3},
                                        {"group_id": stash.find_group("Prequel"), "scene_index": 1}])
    stash.wait_for_jobs(120)
    collections = plex.collections(1)
    assert collections["Saga"]["items"] == sorted(rks.values())
    assert collection_writes(plex, key) == []  # already carries the group
    assert collections["Prequel"]["summary"] == "Before it all"
    assert collections["Prequel"]["poster_sha1"] is None  # the group has no front image
    assert len(scene_puts(plex)) == 1


def test_skipped_collections_are_left_alone(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    configure(stash, plex.url, skip_fields="collections")
    saga, rks = library(stash, plex)
    plex.hand_edit(rks["a"], collection=["Mine"])
    assert run_task(stash, "Sync all scenes").error is None
    assert set(plex.collections(1)) == {"Mine"} and plex.collections(1)["Mine"]["summary"] is None
    time.sleep(1.1)
    plex.clear_log()
    stash.set_group(saga, synopsis="Changed")
    stash.wait_for_jobs(120)
    assert [r for r in plex.log_snapshot() if r.method in ("PUT", "POST")] == []

    configure(stash, plex.url)  # collections are PlexSync's again: the groups' ones, dressed
    assert run_task(stash, "Sync all scenes").error is None
    assert set(plex.collections(1)) == {"Saga"}
    assert plex.collections(1)["Saga"]["summary"] == "Changed"
