"""New files reach Plex on their own (issue 11), end to end: the real PlexSync.py run by the Stash
stand-in exactly as Stash runs it, real plexapi against the Plex stand-in, files that enter the
Plex library only when a scan of their folder finishes.

Stash's scan creates the scene (Scene.Create.Post, null input, before the cover exists), identify
fills it (Scene.Update.Post); Plex has the file on disk but no item until PlexSync asks for a
partial scan of its folder and the scan finishes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import inbox, process_queue, run_task, synced

pytestmark = pytest.mark.usefixtures("leak_scan")


def test_create_hook_then_partial_scan_then_synced_in_one_drain(world, data_dir: Path) -> None:
    stash, plex = world
    plex.add_file_on_disk(1, "/media/videos/new/clip.mp4")
    scene = stash.scan_new_file("/media/videos/new/clip.mp4")  # Scene.Create.Post, input null
    [hook] = [r for r in stash.hook_runs() if r.args["hookContext"]["type"] == "Scene.Create.Post"]
    assert hook.output["action"] == "queued" and hook.output["drain_requested"] is True
    stash.wait_for_jobs(120)

    [drain] = [r for r in stash.task_runs() if r.args.get("mode") == "process_queue"]
    assert drain.error is None and drain.output["written"] == 1, drain.logs
    [scan] = plex.scan_requests()
    assert scan.path == "/library/sections/1/refresh" and scan.param("path") == "/media/videos/new"
    rk = plex.rating_key_for_file("/media/videos/new/clip.mp4")
    assert rk is not None and synced(data_dir)[int(scene)]["plex_item_key"] == str(rk)
    assert any("waiting for Plex to scan 1 new file" in m for m in drain.logs_at("info"))
    assert inbox(data_dir) == {}
    # A scene with no title never blanks a Plex title: Plex keeps the one from the file name.
    assert plex.item(rk)["title"] == "clip"


def test_identify_before_plex_scanned_is_synced_after_the_scan(world, data_dir: Path) -> None:
    stash, plex = world
    plex.set_scan_delay(1.5)
    plex.add_file_on_disk(1, "/media/videos/studio/identified.mp4")
    scene = stash.add_scene(None, ["/media/videos/studio/identified.mp4"])
    stash.update_scene(scene, title="Identified Title", details="From the scraper", cover_image=None)
    stash.wait_for_jobs(120)
    rk = plex.rating_key_for_file("/media/videos/studio/identified.mp4")
    assert rk is not None
    assert plex.item(rk)["title"] == "Identified Title"
    assert plex.item(rk)["summary"] == "From the scraper"
    [drain] = [r for r in stash.task_runs() if r.args.get("mode") == "process_queue"]
    assert drain.output["written"] == 1 and drain.output["retry_later"] == 0
    assert len(plex.scan_requests()) == 1


def test_many_new_files_one_scan_per_folder(world, data_dir: Path) -> None:
    stash, plex = world
    folders, per_folder = 4, 10
    scenes = []
    for f in range(folders):
        for n in range(per_folder):
            path = f"/media/videos/batch{f}/file{n}.mp4"
            plex.add_file_on_disk(1, path)
            scenes.append(stash.add_scene(f"Batch {f} file {n}", [path]))
    from tests.helpers import queue_directly

    queue_directly(data_dir, stash, scenes)
    run = process_queue(stash)
    assert run.error is None and run.output["written"] == folders * per_folder, run.output
    requests = plex.scan_requests()
    assert len(requests) == folders
    assert sorted(r.param("path") for r in requests) == [f"/media/videos/batch{f}" for f in range(folders)]
    assert all(r.param("path") for r in requests)  # never a whole-library scan
    assert inbox(data_dir) == {}


def test_a_file_under_no_library_folder_fails_at_once_naming_the_paths(world, data_dir: Path) -> None:
    stash, plex = world
    scene = stash.add_scene("Elsewhere", ["/somewhere/else/x.mp4"])
    from tests.helpers import queue_directly

    queue_directly(data_dir, stash, [scene])
    run = process_queue(stash)
    row = inbox(data_dir)[int(scene)]
    assert row["state"] == "failed", row
    assert "/somewhere/else/x.mp4" in row["last_error"] and "/media/videos" in row["last_error"]
    assert "path_map" in row["last_error"]
    assert plex.scan_requests() == []
    assert run.output["failed"] == 1


@pytest.mark.parametrize("fault", ["401", "500", "drop"])
def test_refused_scan_request_keeps_the_scene_queued(world, data_dir: Path, fault: str) -> None:
    stash, plex = world
    plex.add_file_on_disk(1, "/media/videos/f/late.mp4")
    scene = stash.add_scene("Late", ["/media/videos/f/late.mp4"])
    from tests.helpers import queue_directly

    queue_directly(data_dir, stash, [scene])
    if fault == "drop":  # more drops than the client's own retries of a lost answer
        plex.drop_next(5, path_prefix="/library/sections/1/refresh")
    else:
        plex.fail_next(1, int(fault), path_prefix="/library/sections/1/refresh")
    run = process_queue(stash)
    row = inbox(data_dir)[int(scene)]
    assert row["state"] == "pending" and row["attempts"] == 0, row
    assert row["plex_wait"] == "/media/videos/f"
    if fault == "401":
        assert run.exit_code == 1 and "plex_token" in run.error
    else:
        assert any("did not take the request to scan /media/videos/f" in m for m in run.logs_at("warning"))
    assert plex.on_disk_files() == ["/media/videos/f/late.mp4"]  # no scan ran
    # The next drain asks again and syncs it.
    plex.clear_faults()
    from tests.helpers import fast_forward

    fast_forward(data_dir)
    again = process_queue(stash)
    assert again.output["written"] == 1, again.logs
    assert inbox(data_dir) == {}


@pytest.mark.slow
def test_a_scan_that_never_finishes_ends_the_drain_within_its_bound(world, data_dir: Path) -> None:
    stash, plex = world
    plex.set_scan_never_finishes(True)
    plex.add_file_on_disk(1, "/media/videos/slow/big.mp4")
    scene = stash.add_scene("Big", ["/media/videos/slow/big.mp4"])
    from tests.helpers import queue_directly

    queue_directly(data_dir, stash, [scene])
    started = time.monotonic()
    run = process_queue(stash, timeout=180)
    elapsed = time.monotonic() - started
    assert run.error is None and 55 <= elapsed <= 90, elapsed
    row = inbox(data_dir)[int(scene)]
    assert row["state"] == "pending" and row["attempts"] == 0 and row["not_before"] > time.time()
    assert any("still scanning" in m for m in run.logs_at("info"))
    status = run_task(stash, "Status")
    [waiting] = status.output["waiting_for_plex"]
    assert waiting["scene_id"] == int(scene) and waiting["folder"] == "/media/videos/slow"
    assert waiting["next_try"] == row["not_before"]


def test_not_in_plex_yet_costs_no_attempt_until_a_scan_finished(world, data_dir: Path) -> None:
    """Unrelated drains never wear down the retry budget of a scene Plex has not scanned."""
    stash, plex = world
    scene = stash.add_scene("Unreadable", ["/media/videos/w/never.mp4"])  # Plex will not find it
    from tests.helpers import fast_forward, queue_directly

    queue_directly(data_dir, stash, [scene])
    for _ in range(3):  # Plex refuses every scan request: nothing was scanned, nothing counted
        plex.fail_next(1, 500, path_prefix="/library/sections/1/refresh")
        fast_forward(data_dir)
        process_queue(stash)
        assert inbox(data_dir)[int(scene)]["attempts"] == 0
    # A scan that finishes without the file: now an attempt counts, and says what was tried.
    fast_forward(data_dir)
    process_queue(stash)
    row = inbox(data_dir)[int(scene)]
    assert row["attempts"] == 1 and "Plex scanned /media/videos/w" in row["last_error"], row
    assert len(plex.scan_requests()) == 4


def test_an_unrelated_drain_catches_up_a_change_no_hook_reported(world, data_dir: Path) -> None:
    stash, plex = world
    rk = plex.add_movie(1, "quiet", ["/media/videos/q/quiet.mp4"])
    scene = stash.add_scene("Quiet", ["/media/videos/q/quiet.mp4"])
    other_rk = plex.add_movie(1, "loud", ["/media/videos/q/loud.mp4"])
    other = stash.add_scene("Loud", ["/media/videos/q/loud.mp4"])
    stash.update_scene(scene, title="Quiet Synced")
    stash.wait_for_jobs(120)
    assert plex.item(rk)["title"] == "Quiet Synced"
    # Auto Tag, a merge, a cover generated by a task: updated_at moves, no hook fires.
    time.sleep(1.1)  # Stash stamps whole seconds
    stash.silent_update(scene, title="Changed Without A Hook")
    # Any later drain, for any reason, puts it right.
    stash.update_scene(other, title="Loud Edit")
    stash.wait_for_jobs(120)
    assert plex.item(other_rk)["title"] == "Loud Edit"
    assert plex.item(rk)["title"] == "Changed Without A Hook"
    drain = [r for r in stash.task_runs() if r.args.get("mode") == "process_queue"][-1]
    assert drain.output["convergence"]["stash_changes"] == 1


def test_a_moved_file_rebinds(world, data_dir: Path) -> None:
    stash, plex = world
    old_rk = plex.add_movie(1, "moving", ["/media/videos/a/moving.mp4"])
    scene = stash.add_scene("Moving", ["/media/videos/a/moving.mp4"])
    stash.update_scene(scene, title="Before The Move")
    stash.wait_for_jobs(120)
    assert synced(data_dir)[int(scene)]["plex_item_key"] == str(old_rk)
    # The file moves on disk: Plex sees a new file at the new path (and the old item goes).
    plex.remove_item(old_rk)
    plex.add_file_on_disk(1, "/media/videos/b/moving.mp4")
    hook = stash.move_file(scene, "/media/videos/b/moving.mp4")  # Scene.Update.Post, input null
    assert hook is not None and hook.output["action"] == "queued"
    stash.wait_for_jobs(120)
    new_rk = plex.rating_key_for_file("/media/videos/b/moving.mp4")
    assert new_rk is not None and new_rk != old_rk
    assert synced(data_dir)[int(scene)]["plex_item_key"] == str(new_rk)
    assert plex.item(new_rk)["title"] == "Before The Move"
