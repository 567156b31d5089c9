"""The drain end to end: Stash's stand-in runs the real PlexSync.py, which writes the Plex stand-in.

Every test drives the plugin only the way Stash does: edits fire the real hook process, tasks run
through the stand-in's job queue with the exact stdin Stash sends, and the plugin talks to the
Plex stand-in over HTTP with the unmodified plexapi client. Results are read from the Plex
stand-in's state and request log and from the plugin's own database files.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

from sync import db
from tests.helpers import (
    actual_plex_state,
    configure,
    drain_held,
    drain_runs,
    expected_plex_state,
    fast_forward,
    full_scene,
    hook_drain,
    ids,
    inbox,
    past_the_write_second,
    process_queue,
    run_task,
    synced,
)

WRONG_TOKEN = "definitely-wrong-token-4711"


# -- helpers ---------------------------------------------------------------------------------




# -- the tests -------------------------------------------------------------------------------


def test_every_field_poster_and_locks(world, data_dir: Path) -> None:
    stash, plex = world
    rk = plex.add_movie(1, "clip", ["/media/videos/Studio/clip.mp4"], summary="agent text",
                        genres=["Agent Genre"])
    scene = full_scene(stash, "/media/videos/Studio/clip.mp4")
    stash.update_scene(scene, title="Edited In Stash")  # the real hook queues it and wakes a drain
    stash.wait_for_jobs(90)

    [run] = drain_runs(stash)
    assert run.error is None and run.exit_code == 0, run.logs
    assert run.output["status"] == "done" and run.output["written"] == 1
    assert run.progress and run.progress[-1] == 1.0 and all(0 <= p <= 1 for p in run.progress)
    assert any("PlexSync drain: 1 scene(s)" in m for m in run.logs_at("info"))
    assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)
    assert plex.item(rk)["locked"] >= {"title", "summary", "originallyAvailableAt", "studio", "userRating",
                                       "genre", "actor", "collection", "thumb"}
    record = synced(data_dir)[int(scene)]
    assert record["plex_item_key"] == str(rk)
    assert record["stash_updated_at"] == stash.scene(scene)["updated_at"]
    assert record["poster_hash"] == hashlib.sha1(stash.cover(scene)).hexdigest()
    assert inbox(data_dir) == {}
    # A persistent client identifier, so Plex does not see a new device on every run.
    ident = (data_dir / "plex_client_id").read_text().strip()
    stash.update_scene(scene, title="Again")
    stash.wait_for_jobs(90)
    assert (data_dir / "plex_client_id").read_text().strip() == ident
    assert plex.item(rk)["title"] == "Again"


def test_removals_reach_plex_in_both_tag_modes(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    rk = plex.add_movie(1, "clip", ["/media/videos/r.mp4"], genres=["Plex Only Genre"], actors=["Plex Only Actor"])
    scene = full_scene(stash, "/media/videos/r.mp4", 2)
    stash.update_scene(scene, title="First")
    stash.wait_for_jobs(90)
    assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)

    stash.update_scene(scene, tag_ids=ids(stash, "tag", ["Shared Tag", "Brand New, With Comma"]),
                       performer_ids=ids(stash, "performer", ["Shared Star"]), groups=[])
    stash.wait_for_jobs(90)
    state = actual_plex_state(plex, rk)
    assert state == expected_plex_state(stash, scene)
    assert state["genre"] == ["Brand New, With Comma", "Shared Tag"]
    assert state["actor"] == ["Shared Star"] and state["collection"] == []


def test_preserve_plex_edits_fills_only_empty_fields(world, data_dir: Path) -> None:
    stash, plex = world
    configure(stash, plex.url, preserve_plex_edits=True)
    rk = plex.add_movie(1, "A Title Typed In Plex", ["/media/videos/p.mp4"], summary="Summary typed in Plex",
                        genres=["Plex Genre"])
    scene = full_scene(stash, "/media/videos/p.mp4", 3)
    stash.update_scene(scene, title="Stash Title")
    stash.wait_for_jobs(90)
    item = plex.item(rk)
    assert item["title"] == "A Title Typed In Plex"
    assert item["summary"] == "Summary typed in Plex"
    assert item["tags"]["genre"] == ["Plex Genre"]
    assert item["studio"] == "Studio 3"  # was empty: filled
    assert sorted(item["tags"]["actor"]) == ["Performer 3", "Shared Star"]
    assert item["originallyAvailableAt"] == stash.scene(scene)["date"]
    assert "summary" not in item["locked"] and "genre" not in item["locked"]


def test_path_map_matches_the_exact_mapped_path(world, data_dir: Path) -> None:
    stash, plex = world
    configure(stash, plex.url, path_map="/data/stash => /media/videos")
    right = plex.add_movie(1, "right", ["/media/videos/studio/same-name.mp4"])
    decoy = plex.add_movie(1, "decoy", ["/media/videos/other/same-name.mp4"])
    scene = stash.add_scene("Mapped", ["/data/stash/studio/same-name.mp4"])
    stash.update_scene(scene, title="Mapped Title")
    stash.wait_for_jobs(90)
    assert plex.item(right)["title"] == "Mapped Title"
    assert plex.item(decoy)["title"] == "decoy"
    assert synced(data_dir)[int(scene)]["plex_item_key"] == str(right)


def test_strict_low_confidence_goes_to_review_and_permissive_writes_best(world, data_dir: Path) -> None:
    stash, plex = world
    near = plex.add_movie(1, "near", ["/media/videos/StudioX/twin.mp4"])
    far = plex.add_movie(1, "far", ["/media/videos/elsewhere/TWIN.mp4"])
    scene = stash.add_scene("Twin", ["/stash/root/StudioX/twin.mp4"])  # no rule maps /stash/root
    stash.update_scene(scene, title="Twin Title")
    stash.wait_for_jobs(90)

    [run] = drain_runs(stash)
    assert run.output["needs_review"] == 1
    assert not plex.matching_requests(method="PUT")
    assert inbox(data_dir)[int(scene)]["state"] == "review"
    status = run_task(stash, "Status")
    [review] = status.output["needs_review_scenes"]
    assert review["scene_id"] == int(scene)
    assert review["stash_path"] == "/stash/root/StudioX/twin.mp4"
    assert sorted(review["candidates"]) == ["/media/videos/StudioX/twin.mp4", "/media/videos/elsewhere/TWIN.mp4"]
    assert any("candidate: /media/videos/elsewhere/TWIN.mp4" in m for m in status.logs_at("info"))

    configure(stash, plex.url, strict_matching=False)
    retried = run_task(stash, "Retry failed")
    assert retried.error is None
    assert plex.item(near)["title"] == "Twin Title"  # more path components in common
    assert plex.item(far)["title"] == "far"
    warnings = " ".join(retried.logs_at("warning"))
    assert "/media/videos/elsewhere/TWIN.mp4" in warnings and "writing /media/videos/StudioX/twin.mp4" in warnings
    assert inbox(data_dir) == {}


def test_not_found_is_retried_then_found_after_a_plex_scan(world, data_dir: Path) -> None:
    stash, plex = world
    scene = full_scene(stash, "/media/videos/new/late.mp4", 4)
    started = time.time()
    stash.update_scene(scene, title="Late Arrival")
    stash.wait_for_jobs(90)
    row = inbox(data_dir)[int(scene)]
    assert row["state"] == "pending" and row["attempts"] == 1
    assert started + 25 <= row["not_before"] <= time.time() + 61  # 1 min with jitter
    assert "/media/videos/new/late.mp4" in row["last_error"]
    [run] = drain_runs(stash)
    assert run.output["retry_later"] == 1 and run.error is None
    # The file lies in a library folder: Plex was asked to scan that folder (once), and only
    # after that scan finished without it did the attempt count.
    [scan] = plex.scan_requests()
    assert scan.param("path") == "/media/videos/new"

    # Nothing is due: a drain a hook asks for now neither spins nor touches the scene; its only
    # Plex request is the one listing that looks for edits made in Plex. (A run started by hand
    # would try it now.)
    plex.clear_log()
    idle = hook_drain(stash)
    assert idle.output["processed"] == 0 and idle.output["waiting_retry"] == 1
    assert [(r.method, r.path) for r in plex.log_snapshot()] in ([], [("GET", "/library/sections/1/all")])

    rk = plex.add_movie(1, "late", ["/media/videos/new/late.mp4"])  # Plex scans the file
    fast_forward(data_dir)
    found = process_queue(stash)
    assert found.output["written"] == 1
    assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)
    assert inbox(data_dir) == {}


def test_not_found_gives_up_with_the_reason(world, data_dir: Path) -> None:
    stash, plex = world
    scene = stash.add_scene("Never", ["/media/videos/never.mp4"])
    with drain_held(data_dir):
        stash.update_scene(scene, title="Never Scanned")
    conn = sqlite3.connect(data_dir / db.DB_NAME)
    conn.execute("UPDATE inbox SET attempts = 7")
    conn.commit()
    conn.close()
    process_queue(stash)
    row = inbox(data_dir)[int(scene)]
    assert row["state"] == "failed"
    assert "gave up after 8 attempts" in row["last_error"] and "/media/videos/never.mp4" in row["last_error"]
    status = run_task(stash, "Status")
    assert status.output["failed_scenes"][0]["scene_id"] == int(scene)


def test_kill_9_mid_drain_then_clean_finish(world, data_dir: Path) -> None:
    stash, plex = world
    scenes = {}
    for n in range(1, 13):
        path = f"/media/videos/k/{n}.mp4"
        scenes[full_scene(stash, path, n)] = plex.add_movie(1, f"k{n}", [path])
    with drain_held(data_dir):
        for scene in scenes:
            stash.update_scene(scene, title=f"Killed {scene}")
    plex.set_delay(0.4, method="PUT")
    job = stash.run_task("Process queue")
    deadline = time.time() + 60
    while not [r for r in plex.log_snapshot() if r.method == "PUT"] and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # well inside the first PUT
    stash.stop_job(job)  # Stash's cancel: SIGKILL of the task process
    stash.wait_for_jobs(30)
    killed = stash.job(job).run
    assert killed.killed or killed.exit_code not in (0, None)
    assert stash.job(job).status == "CANCELLED"
    written_before = sum(1 for s, rk in scenes.items() if plex.item(rk)["title"] == f"Killed {s}")
    assert written_before < len(scenes)

    plex.clear_faults()
    finish = process_queue(stash)  # the dead holder's lease is taken over at once
    assert finish.error is None and finish.output["status"] == "done"
    for scene, rk in scenes.items():
        assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene), scene
    assert inbox(data_dir) == {}
    assert set(synced(data_dir)) == {int(s) for s in scenes}


def test_plex_down_then_back_dead_letters_nothing(world, data_dir: Path) -> None:
    stash, plex = world
    scenes = {}
    for n in range(1, 4):
        path = f"/media/videos/d/{n}.mp4"
        scenes[full_scene(stash, path, n)] = plex.add_movie(1, f"d{n}", [path])
    plex.go_down()
    with drain_held(data_dir):
        for scene in scenes:
            stash.update_scene(scene, title=f"Down {scene}")
    down = process_queue(stash)
    assert down.exit_code == 1 and "unreachable" in down.error
    assert down.output["status"] == "stopped" and down.output["processed"] == 0
    rows = inbox(data_dir)
    assert {r["state"] for r in rows.values()} == {"pending"}
    assert all(r["attempts"] == 0 for r in rows.values())
    assert down.wall_time < 20  # stopped early, no waiting through retries

    plex.come_back()
    fast_forward(data_dir)
    back = process_queue(stash)
    assert back.error is None and back.output["written"] == 3
    for scene, rk in scenes.items():
        assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)
    assert inbox(data_dir) == {}


def test_repeated_5xx_stops_the_drain_early_and_keeps_jobs(world, data_dir: Path) -> None:
    stash, plex = world
    scenes = {}
    for n in range(1, 7):
        path = f"/media/videos/f/{n}.mp4"
        scenes[full_scene(stash, path, n)] = plex.add_movie(1, f"f{n}", [path])
    with drain_held(data_dir):
        for scene in scenes:
            stash.update_scene(scene, title=f"Flaky {scene}")
    plex.fail_next(1000, 503, method="GET", path_prefix="/library/metadata")
    run = process_queue(stash)
    assert run.output["status"] == "stopped" and run.output["retry_later"] == 3
    rows = inbox(data_dir)
    assert len(rows) == 6 and {r["state"] for r in rows.values()} == {"pending"}
    plex.clear_faults()
    fast_forward(data_dir)
    assert process_queue(stash).output["written"] == 6


def test_wrong_token_one_clear_error_jobs_kept_then_fixed(world, data_dir: Path, leak_scan) -> None:
    leak_scan.add(WRONG_TOKEN)  # the wrong token may not leak either
    stash, plex = world
    rk = plex.add_movie(1, "t", ["/media/videos/t.mp4"])
    scene = full_scene(stash, "/media/videos/t.mp4", 5)
    configure(stash, plex.url, plex_token=WRONG_TOKEN)
    with drain_held(data_dir):
        stash.update_scene(scene, title="Token Test")
    run = process_queue(stash)
    assert run.exit_code == 1 and "plex_token" in run.error and "401" in run.error
    about_token = [m for _, m in run.logs if "token" in m.lower() or "401" in m]
    assert len(about_token) == 1 and about_token[0] == run.error
    assert inbox(data_dir)[int(scene)]["state"] == "pending"

    configure(stash, plex.url)
    fast_forward(data_dir)
    fixed = process_queue(stash)
    assert fixed.error is None and fixed.output["written"] == 1
    assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)


def test_warm_path_request_counts(world, data_dir: Path) -> None:
    stash, plex = world
    keys = {}
    for n in range(1, 4):
        path = f"/media/videos/w/{n}.mp4"
        keys[full_scene(stash, path, n)] = plex.add_movie(1, f"w{n}", [path])
    with drain_held(data_dir):
        for scene in keys:
            stash.update_scene(scene, title=f"Warm {scene}")
    process_queue(stash)
    changed, unchanged, untouched = list(keys)
    past_the_write_second()  # the next drain's listing vouches for the items

    plex.clear_log()
    stash.update_scene(changed, title="Changed once more")
    stash.wait_for_jobs(90)
    item_requests = plex.requests_for(keys[changed])
    # The index shows the item as PlexSync left it, so the ledger replaces the GET: one PUT.
    assert [(r.method, r.path) for r in item_requests] == [("PUT", "/library/sections/1/all")]
    assert plex.requests_for(keys[untouched]) == []
    per_drain = [r for r in plex.log_snapshot() if r not in item_requests]
    assert [r.path for r in per_drain if r.path != "/library/sections/1/all"] == [
        "/library/sections", "/"]  # section check and connection, once per drain
    assert plex.item(keys[changed])["title"] == "Changed once more"

    # A change the hook passes on but that changes nothing Plex shows: zero Plex requests for
    # the scene (the drain's one listing that looks for edits made in Plex aside).
    plex.clear_log()
    stash.update_scene(unchanged, code="CODE-1")
    stash.wait_for_jobs(90)
    run = drain_runs(stash)[-1]
    # (The drain's catch-up may re-check scenes synced within the second of their last edit:
    # Stash stamps whole seconds. Those are unchanged too and cost no request either.)
    assert run.output["unchanged"] >= 1 and run.output["processed"] == run.output["unchanged"]
    assert [(r.method, r.path) for r in plex.log_snapshot()] in ([], [("GET", "/library/sections/1/all")])


def test_second_drain_exits_at_once(world, data_dir: Path) -> None:
    stash, _ = world
    with drain_held(data_dir):
        run = process_queue(stash)
    assert run.error is None and run.exit_code == 0
    assert run.output["status"] == "already_running"
    assert any("a drain is already running" in m for m in run.logs_at("info"))
    assert run.wall_time < 15


def test_scene_deleted_while_queued_is_dropped(world, data_dir: Path) -> None:
    stash, plex = world
    plex.add_movie(1, "gone", ["/media/videos/gone.mp4"])
    scene = stash.add_scene("Gone", ["/media/videos/gone.mp4"])
    with drain_held(data_dir):
        stash.update_scene(scene, title="Soon deleted")
    stash.set_plugin_enabled(False)  # delete without the destroy hook seeing it
    stash.destroy_scene(scene)
    stash.set_plugin_enabled(True)
    plex.clear_log()
    run = process_queue(stash)
    assert run.output["deleted"] == 1
    assert any(f"scene {scene} was deleted in Stash" in m for m in run.logs_at("info"))
    assert inbox(data_dir) == {} and int(scene) not in synced(data_dir)
    assert plex.log_snapshot() == []


def test_episode_in_a_named_show_library(world, data_dir: Path) -> None:
    stash, plex = world
    plex.add_section(2, "Series", "show", ["/media/series"])
    configure(stash, plex.url, plex_library="Movies, Series")
    show = plex.add_show(2, "Harbor Nights")
    rk = plex.add_episode(show, 1, 2, "Episode file name", ["/media/series/Harbor/S01E02.mkv"])
    scene = full_scene(stash, "/media/series/Harbor/S01E02.mkv", 6)
    stash.update_scene(scene, title="The Second Episode")
    stash.wait_for_jobs(90)
    [run] = drain_runs(stash)
    assert run.error is None and run.output["written"] == 1
    item = plex.item(rk)
    want = expected_plex_state(stash, scene)
    assert item["title"] == "The Second Episode" and item["summary"] == want["summary"]
    assert item["originallyAvailableAt"] == want["originallyAvailableAt"]
    assert item["userRating"] == want["userRating"]
    assert sorted(item["tags"]["actor"]) == want["actor"]
    assert sorted(item["tags"]["collection"]) == want["collection"]
    assert item["studio"] is None and item["tags"]["genre"] == []  # Plex has neither on episodes
    [put] = plex.matching_requests(method="PUT")
    assert put.param("type") == "4"


def test_unknown_plex_library_stops_with_the_setting_named(world, data_dir: Path) -> None:
    stash, plex = world
    configure(stash, plex.url, plex_library="Clips")
    plex.add_movie(1, "x", ["/media/videos/x.mp4"])
    scene = stash.add_scene("X", ["/media/videos/x.mp4"])
    with drain_held(data_dir):
        stash.update_scene(scene, title="Library Test")
    run = process_queue(stash)
    assert run.exit_code == 1 and "plex_library" in run.error and "'Movies'" in run.error
    assert inbox(data_dir)[int(scene)]["state"] == "pending"


def test_bound_item_gone_drops_the_binding_and_rematches(world, data_dir: Path) -> None:
    stash, plex = world
    old = plex.add_movie(1, "v1", ["/media/videos/re/added.mp4"])
    scene = full_scene(stash, "/media/videos/re/added.mp4", 7)
    stash.update_scene(scene, title="Bound Once")
    stash.wait_for_jobs(90)
    assert synced(data_dir)[int(scene)]["plex_item_key"] == str(old)
    # Plex drops the item and re-adds the same file under a new rating key (a rescan).
    plex.remove_item(old)
    new = plex.add_movie(1, "v2", ["/media/videos/re/added.mp4"])
    plex.clear_log()
    stash.update_scene(scene, title="Bound Again")
    stash.wait_for_jobs(90)
    run = drain_runs(stash)[-1]
    assert run.error is None and run.output["written"] == 1
    assert any(f"its Plex item {old} is gone or no longer the scene's file; its file is now Plex item {new}" in m
               for m in run.logs_at("info"))
    assert actual_plex_state(plex, new) == expected_plex_state(stash, scene)
    assert synced(data_dir)[int(scene)]["plex_item_key"] == str(new)
    assert plex.requests_for(old) == []  # the path index knew: not even a GET of the gone item


def test_bad_data_answer_fails_the_scene_with_the_reason(world, data_dir: Path) -> None:
    stash, plex = world
    rk = plex.add_movie(1, "b", ["/media/videos/bad.mp4"])
    other = plex.add_movie(1, "g", ["/media/videos/good.mp4"])
    bad = full_scene(stash, "/media/videos/bad.mp4", 8)
    good = full_scene(stash, "/media/videos/good.mp4", 9)
    with drain_held(data_dir):
        stash.update_scene(bad, title="Rejected")
        stash.update_scene(good, title="Accepted")
    plex.fail_next(1, 400, method="PUT")  # Plex refuses the first edit it gets as invalid
    run = process_queue(stash)
    assert run.error is None and run.output["failed"] == 1 and run.output["written"] == 1
    rows = inbox(data_dir)
    [failed] = [r for r in rows.values() if r["state"] == "failed"]
    assert "Plex rejected the request" in failed["last_error"] and "400" in failed["last_error"]
    written = other if failed["scene_id"] == int(bad) else rk
    assert plex.item(written)["title"] in ("Rejected", "Accepted")
    status = run_task(stash, "Status")
    assert status.output["failed_scenes"][0]["reason"] == failed["last_error"]
