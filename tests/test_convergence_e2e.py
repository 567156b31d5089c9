"""Plex converges to Stash (issue 13), end to end: PlexSync.py run as Stash runs it, real plexapi
against the Plex stand-in, both tag semantics where lists are involved.

PlexSync keeps a ledger of what it wrote to each item. Renames that fired no hook, hand edits in
Plex, agent refreshes and re-created items are all repaired; under ``preserve_plex_edits`` a
person's edit is kept while PlexSync's own values keep following Stash; and a match by file name
never writes another scene's item.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from sync import db
from tests.helpers import (
    actual_plex_state,
    configure,
    expected_plex_state,
    inbox,
    process_queue,
    queue_directly,
    run_task,
    synced,
)

pytestmark = pytest.mark.usefixtures("leak_scan")


def library(stash, plex, names: list[str], *, tag: str = "Old Name") -> dict[str, tuple[str, int]]:
    """Scenes with one shared tag, each with its Plex item: name -> (scene id, rating key)."""
    out = {}
    for name in names:
        path = f"/media/videos/{name.lower()}.mp4"
        rk = plex.add_movie(1, name.lower(), [path])
        scene = stash.add_scene(f"Scene {name}", [path], tags=[tag, f"Own {name}"], studio=f"Studio {name}",
                                details=f"About {name}", performers=[f"Star {name}"])
        out[name] = (scene, rk)
    return out


def item_requests(plex, rk: int) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in plex.requests_for(rk)]


def ledger_rows(data_dir: Path) -> dict[int, dict]:
    conn = sqlite3.connect(data_dir / db.DB_NAME)
    conn.row_factory = sqlite3.Row
    try:
        return {row["scene_id"]: dict(row) for row in conn.execute("SELECT * FROM ledger")}
    finally:
        conn.close()


def sync_everything(stash) -> None:
    run = run_task(stash, "Sync all scenes")
    assert run.error is None, run.logs


def test_rename_with_no_hook_then_sync_all(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    lib = {**library(stash, plex, ["A", "B"]), **library(stash, plex, ["C"], tag="Other Tag")}
    sync_everything(stash)
    time.sleep(1.1)  # Stash stamps whole seconds
    stash.rename_tag(stash.find_tag("Old Name"), "New Name", hooks=False)  # the plugin was off
    plex.clear_log()

    run = run_task(stash, "Sync all scenes")
    assert run.error is None
    for name in ("A", "B"):
        scene, rk = lib[name]
        assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)
        assert "New Name" in plex.item(rk)["tags"]["genre"]
        # The index shows the item as PlexSync left it: the ledger replaces the GET.
        assert item_requests(plex, rk) == [("PUT", "/library/sections/1/all")]
    assert item_requests(plex, lib["C"][1]) == []
    assert run.output["differed_in_stash"] == 2 and run.output["written"] == 2, run.output
    assert run.output["checked"] == 3


def test_rename_after_sync_all_then_sync_recent(world, data_dir: Path) -> None:
    stash, plex = world
    lib = library(stash, plex, ["A", "B"])
    sync_everything(stash)
    # The rename comes within the same second as Sync all's look at the tags, with no hook.
    stash.rename_tag(stash.find_tag("Old Name"), "Renamed Later", hooks=False)
    run = run_task(stash, "Sync recent changes")
    assert run.error is None, run.logs
    for scene, rk in lib.values():
        assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)
    assert run.output["related_changed"]["tag"] == 1


def test_hand_edit_in_plex_then_sync_all_stash_wins(world, data_dir: Path) -> None:
    stash, plex = world
    lib = library(stash, plex, ["A", "B"])
    sync_everything(stash)
    scene, rk = lib["A"]
    plex.hand_edit(rk, title="Typed In Plex", genre=["Plex Genre"])
    plex.clear_log()
    run = run_task(stash, "Sync all scenes")
    assert run.output["drifted_in_plex"] == 1 and run.output["written"] == 1, run.output
    assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)
    assert item_requests(plex, rk) == [("GET", f"/library/metadata/{rk}"), ("PUT", "/library/sections/1/all")]
    assert item_requests(plex, lib["B"][1]) == []


def test_hand_edit_is_repaired_by_the_next_drain_without_a_task(world, data_dir: Path) -> None:
    stash, plex = world
    lib = library(stash, plex, ["A", "B"])
    sync_everything(stash)
    scene, rk = lib["A"]
    plex.hand_edit(rk, summary="A person's summary")
    stash.update_scene(lib["B"][0], details="Something else")  # any drain, for any reason
    stash.wait_for_jobs(120)
    assert plex.item(rk)["summary"] == "About A"
    drain = [r for r in stash.task_runs() if r.args.get("mode") == "process_queue"][-1]
    assert drain.output["convergence"]["plex_drift"] == {"plex": 1}


def test_preserve_keeps_a_persons_edit_and_follows_stash_for_its_own(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    configure(stash, plex.url, preserve_plex_edits=True)
    lib = library(stash, plex, ["A"])
    scene, rk = lib["A"]
    sync_everything(stash)  # Plex's fields were empty: PlexSync filled them and owns them now
    assert plex.item(rk)["summary"] == "About A" and plex.item(rk)["studio"] == "Studio A"
    plex.hand_edit(rk, summary="Written by a person")
    time.sleep(1.1)
    stash.update_scene(scene, details="New Stash text", studio_id=stash.add_studio("Studio Renamed"),
                       tag_ids=[stash.find_tag("Own A")])
    stash.wait_for_jobs(120)
    item = plex.item(rk)
    assert item["summary"] == "Written by a person"  # a person's edit is kept
    assert item["studio"] == "Studio Renamed"  # PlexSync's own value follows Stash
    assert sorted(item["tags"]["genre"]) == ["Own A"]
    drain = [r for r in stash.task_runs() if r.args.get("mode") == "process_queue"][-1]
    kept_lines = [m for m in drain.logs_at("info") if "kept what a person set" in m]
    assert len(kept_lines) == 1 and "summary" in kept_lines[0]
    status = run_task(stash, "Status")
    assert status.output["kept_scenes"] == [{"scene_id": int(scene), "fields": ["summary"]}]
    # Said once per scene: a later sync that keeps the same field does not log it again.
    stash.update_scene(scene, title="Another Title")
    stash.wait_for_jobs(120)
    drain = [r for r in stash.task_runs() if r.args.get("mode") == "process_queue"][-1]
    assert not [m for m in drain.logs_at("info") if "kept what a person set" in m]
    assert plex.item(rk)["title"] == "Another Title"


def test_recreated_item_is_found_and_rewritten(world, data_dir: Path) -> None:
    stash, plex = world
    lib = library(stash, plex, ["A", "B"])
    sync_everything(stash)
    scene, old = lib["A"]
    new = plex.recreate_item(old)  # library rebuilt: default metadata under a new rating key
    plex.clear_log()
    run = run_task(stash, "Sync all scenes")
    assert run.output["recreated_in_plex"] == 1 and run.output["written"] == 1, run.output
    assert actual_plex_state(plex, new) == expected_plex_state(stash, scene)
    assert synced(data_dir)[int(scene)]["plex_item_key"] == str(new)
    assert ledger_rows(data_dir)[int(scene)]["rating_key"] == new
    assert plex.requests_for(old) == []


def test_agent_refresh_is_checked_once_and_costs_no_write(world, data_dir: Path) -> None:
    stash, plex = world
    lib = library(stash, plex, ["A"])
    sync_everything(stash)
    scene, rk = lib["A"]
    plex.agent_refresh(rk)  # every field PlexSync wrote is locked: nothing changes but updatedAt
    plex.clear_log()
    run = run_task(stash, "Sync all scenes")
    assert run.output["drifted_in_plex"] == 1 and run.output["written"] == 0, run.output
    assert item_requests(plex, rk) == [("GET", f"/library/metadata/{rk}")]
    assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)
    stamp = ledger_rows(data_dir)[int(scene)]["item_updated_at"]
    assert stamp == plex.item(rk)["updatedAt"]  # the new stamp is the ledger's: not checked again
    plex.clear_log()
    again = run_task(stash, "Sync all scenes")
    assert again.output["drifted_in_plex"] == 0 and item_requests(plex, rk) == []


@pytest.mark.parametrize("strict", [True, False])
def test_two_scenes_one_file_name_never_write_each_others_item(world, data_dir: Path, strict: bool) -> None:
    """Plex has only the 2019 clip. Editing the 2024 scene must not touch the 2019 item."""
    stash, plex = world
    configure(stash, plex.url, strict_matching=strict)
    rk_2019 = plex.add_movie(1, "clip", ["/media/videos/2019/clip.mp4"])
    old = stash.add_scene("Old Clip", ["/media/videos/2019/clip.mp4"])
    new = stash.add_scene("New Clip", ["/media/videos/2024/clip.mp4"])
    queue_directly(data_dir, stash, [old, new])
    process_queue(stash)
    assert plex.item(rk_2019)["title"] == "Old Clip"
    assert synced(data_dir).get(int(new)) is None
    row = inbox(data_dir)[int(new)]
    # Its folder was scanned for it, in vain: it waits for Plex, and never borrows 2019's item.
    assert row["state"] == "pending" and "Plex scanned /media/videos/2024" in row["last_error"], row
    assert [r.param("path") for r in plex.scan_requests()] == ["/media/videos/2024"]


@pytest.mark.parametrize("strict", [True, False])
def test_two_scenes_one_file_name_under_unmapped_roots(world, data_dir: Path, strict: bool) -> None:
    """No path_map rule: Stash's /stash/... is matched to Plex by file name only. The 2019 item
    is scene 2019's (its path matches more closely): never written from the 2024 scene."""
    stash, plex = world
    configure(stash, plex.url, strict_matching=strict)
    rk_2019 = plex.add_movie(1, "clip", ["/media/videos/2019/clip.mp4"])
    old = stash.add_scene("Old Clip", ["/stash/2019/clip.mp4"])
    new = stash.add_scene("New Clip", ["/stash/2024/clip.mp4"])
    queue_directly(data_dir, stash, [new])
    process_queue(stash)
    assert plex.item(rk_2019)["title"] == "clip"
    row = inbox(data_dir)[int(new)]
    assert row["state"] == "pending" and f"belong to scene {old}" in row["last_error"], row
    # The 2019 scene itself: HIGH for its own item? No: another scene has a file of that name,
    # so the file-name match is not certain. Strict: needs review with the other scene listed.
    queue_directly(data_dir, stash, [old])
    process_queue(stash)
    if strict:
        assert inbox(data_dir)[int(old)]["state"] == "review"
        status = run_task(stash, "Status")
        [review] = [r for r in status.output["needs_review_scenes"] if r["scene_id"] == int(old)]
        assert review["other_scenes"] == [{"scene_id": int(new), "path": "/stash/2024/clip.mp4"}]
        assert plex.item(rk_2019)["title"] == "clip"
    else:
        assert plex.item(rk_2019)["title"] == "Old Clip"


def test_a_match_by_file_name_gives_way_to_an_exact_one(world, data_dir: Path) -> None:
    stash, plex = world
    loose = plex.add_movie(1, "loose", ["/elsewhere/only.mp4"])
    scene = stash.add_scene("Only", ["/stash/only.mp4"])
    queue_directly(data_dir, stash, [scene])
    process_queue(stash)
    assert synced(data_dir)[int(scene)]["plex_item_key"] == str(loose)
    assert ledger_rows(data_dir)[int(scene)]["matched_by"] == "basename"
    configure(stash, plex.url, path_map="/stash => /media/videos")
    exact = plex.add_movie(1, "exact", ["/media/videos/only.mp4"])
    run = run_task(stash, "Sync all scenes")
    assert run.error is None
    assert synced(data_dir)[int(scene)]["plex_item_key"] == str(exact)
    assert plex.item(exact)["title"] == "Only"
    assert ledger_rows(data_dir)[int(scene)]["matched_by"] == "path"


def test_group_rename_reaches_plex(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    rk = plex.add_movie(1, "g", ["/media/videos/g.mp4"])
    scene = stash.add_scene("In A Group", ["/media/videos/g.mp4"], groups=["Old Group"])
    queue_directly(data_dir, stash, [scene])
    process_queue(stash)
    assert plex.item(rk)["tags"]["collection"] == ["Old Group"]
    stash.rename_group(stash.find_group("Old Group"), "New Group")  # Group.Update.Post
    stash.wait_for_jobs(120)
    assert plex.item(rk)["tags"]["collection"] == ["New Group"]


def test_a_ledger_row_for_a_gone_item_and_an_unreadable_one(world, data_dir: Path) -> None:
    stash, plex = world
    lib = library(stash, plex, ["A", "B"])
    sync_everything(stash)
    # A: its item vanished from Plex (and the index does not know yet). B: its ledger values
    # were damaged on disk. Both edits still land on the right item, with no crash.
    scene_a, rk_a = lib["A"]
    scene_b, rk_b = lib["B"]
    plex.remove_item(rk_a)
    new_a = plex.add_movie(1, "a again", ["/media/videos/a.mp4"])
    conn = sqlite3.connect(data_dir / db.DB_NAME)
    conn.execute("UPDATE ledger SET written = '{not json', photos = 'x' WHERE scene_id = ?", (int(scene_b),))
    conn.commit()
    conn.close()
    time.sleep(1.1)
    stash.update_scene(scene_a, title="A Edited")
    stash.update_scene(scene_b, title="B Edited")
    stash.wait_for_jobs(120)
    assert plex.item(new_a)["title"] == "A Edited"
    assert actual_plex_state(plex, rk_b) == expected_plex_state(stash, scene_b)
    # B was compared in full (one GET) because its ledger values could not be trusted.
    assert ("GET", f"/library/metadata/{rk_b}") in item_requests(plex, rk_b)
    assert ledger_rows(data_dir)[int(scene_b)]["written"].startswith("{")


def test_hand_edit_then_sync_all_under_preserve_is_kept_and_reported(world, data_dir: Path) -> None:
    stash, plex = world
    configure(stash, plex.url, preserve_plex_edits=True)
    lib = library(stash, plex, ["A", "B"])
    sync_everything(stash)
    scene, rk = lib["A"]
    plex.hand_edit(rk, title="A Person's Title")
    plex.clear_log()
    run = run_task(stash, "Sync all scenes")
    assert run.output["drifted_in_plex"] == 1 and run.output["kept_for_person"] == 1, run.output
    assert run.output["written"] == 0
    assert plex.item(rk)["title"] == "A Person's Title"
    assert item_requests(plex, rk) == [("GET", f"/library/metadata/{rk}")]  # checked, not written
    status = run_task(stash, "Status")
    assert status.output["kept_scenes"] == [{"scene_id": int(scene), "fields": ["title"]}]
    last = status.output["last_sync_all"]
    assert (last["checked"], last["drifted_in_plex"], last["kept_for_person"], last["written"]) == (2, 1, 1, 0)
    assert any("last Sync all: 2 checked" in m for m in status.logs_at("info"))
