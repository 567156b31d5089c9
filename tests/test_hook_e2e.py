"""The Scene.Update hook end to end: Stash's stand-in runs the real PlexSync.py for real edits.

The hook must queue what Plex needs, once per scene, without ever talking to Plex, and must not
lose an edit when Stash itself cannot answer.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from queue import lease
from queue.inbox import is_scene_in_queue
from queue.inbox_tasks import TaskInbox
from sync import db
from sync.state import SyncState


def inbox_rows(data_dir: Path) -> dict[int, tuple[str, int]]:
    conn = db.connect(data_dir / db.DB_NAME)
    try:
        return {sid: (state, gen) for sid, state, gen in conn.execute("SELECT scene_id, state, generation FROM inbox")}
    finally:
        conn.close()


@pytest.fixture
def drain_busy(data_dir: Path):
    """Hold the drain lease, as a running drain would: hooks queue but start no drain task."""
    conn = db.connect(data_dir / db.DB_NAME)
    holder = f"{os.uname().nodename}:{os.getpid()}:test"
    lease.acquire(conn, holder, ttl=600)
    yield
    lease.release(conn, holder)
    conn.close()


def hook_runs(stash) -> list:
    return [r for r in stash.runs if r.kind == "hook"]


def test_edit_fires_hook_that_queues_without_touching_plex(linked, data_dir: Path, drain_busy) -> None:
    stash, plex = linked
    scene = stash.add_scene("Before", ["/media/videos/a.mp4"])
    plex.clear_log()
    stash.update_scene(scene, title="After")
    runs = hook_runs(stash)
    assert len(runs) == 1
    run = runs[0]
    assert run.error is None and run.exit_code == 0
    assert run.output["action"] == "queued"
    assert is_scene_in_queue(data_dir, int(scene))
    started, ended = run.started_at, run.started_at + run.wall_time
    assert not [r for r in plex.request_log if started <= r.time <= ended]
    assert plex.request_log == []  # and nothing else talked to Plex (the drain is held off)


def test_play_count_only_edit_is_filtered(linked, data_dir: Path, drain_busy) -> None:
    stash, _ = linked
    scene = stash.add_scene("Quiet", ["/media/videos/q.mp4"])
    stash.update_scene(scene, play_count=4, o_counter=2, resume_time=12.5)
    [run] = hook_runs(stash)
    assert run.output["action"] == "skipped"
    assert not is_scene_in_queue(data_dir, int(scene))


def test_unchanged_scene_enqueues_nothing_after_sync(linked, data_dir: Path, drain_busy) -> None:
    stash, _ = linked
    scene = stash.add_scene("Synced", ["/media/videos/s.mp4"])
    stash.update_scene(scene, title="Synced once")
    stamp = stash.scene(scene)["updated_at"]
    # The worker synced exactly that version, reading it after that second had ended.
    conn = db.connect(data_dir / db.DB_NAME)
    conn.execute("DELETE FROM inbox")
    state = SyncState(str(data_dir / db.DB_NAME))
    from sync.timestamps import parse_instant

    synced_at = parse_instant(stamp)
    assert synced_at is not None
    state.update_success(int(scene), "/library/metadata/1", stamp, fetched_at=synced_at + 2)
    state.close()
    context = hook_runs(stash)[-1].args["hookContext"]
    again = stash.run_hook_raw(context)
    assert again.output["action"] == "skipped" and "already synced" in again.output["reason"]
    assert inbox_rows(data_dir) == {}
    conn.close()


def test_thirty_hooks_for_one_scene_leave_one_job(linked, data_dir: Path, drain_busy) -> None:
    stash, _ = linked
    scene = stash.add_scene("Busy", ["/media/videos/b.mp4"])
    for i in range(30):
        stash.update_scene(scene, title=f"Title {i}")
    rows = inbox_rows(data_dir)
    assert list(rows) == [int(scene)]
    assert rows[int(scene)][0] == "pending"
    assert all(r.error is None for r in hook_runs(stash))


def test_bulk_update_queues_every_scene_once(linked, data_dir: Path, drain_busy) -> None:
    stash, _ = linked
    ids = [stash.add_scene(f"Bulk {i}", [f"/media/videos/bulk{i}.mp4"]) for i in range(12)]
    stash.bulk_update(ids, tag_ids={"ids": [], "mode": "SET"}, rating100=80)
    runs = hook_runs(stash)
    assert len(runs) == 12  # one process per scene, as Stash runs them
    assert {r.args["hookContext"]["id"] for r in runs} == {int(i) for i in ids}
    assert all(isinstance(r.args["hookContext"]["input"], dict) and "ids" in r.args["hookContext"]["input"] for r in runs)
    assert set(inbox_rows(data_dir)) == {int(i) for i in ids}


def test_scenes_update_uses_each_scenes_own_fields(linked, data_dir: Path, drain_busy) -> None:
    stash, _ = linked
    a = stash.add_scene("A", ["/media/videos/sa.mp4"])
    b = stash.add_scene("B", ["/media/videos/sb.mp4"])
    stash.scenes_update([{"id": a, "title": "A2"}, {"id": b, "play_count": 9}])
    runs = {r.args["hookContext"]["id"]: r for r in hook_runs(stash)}
    assert isinstance(runs[int(a)].args["hookContext"]["input"], list)
    assert runs[int(a)].output["action"] == "queued"
    assert runs[int(b)].output["action"] == "skipped"
    assert set(inbox_rows(data_dir)) == {int(a)}


def synced_before(data_dir: Path, scene: str) -> None:
    """The scene was synced an hour ago (an older edit): a new edit must ask Stash its timestamp."""
    state = SyncState(str(data_dir / db.DB_NAME))
    state.update_success(int(scene), "/library/metadata/1", "2000-01-01T00:00:00Z")
    state.close()


def test_hook_records_edit_while_stash_graphql_is_down(linked, data_dir: Path, drain_busy) -> None:
    stash, _ = linked
    scene = stash.add_scene("Down", ["/media/videos/d.mp4"])
    stash.update_scene(scene, title="Down 2")
    context = hook_runs(stash)[-1].args["hookContext"]
    conn = db.connect(data_dir / db.DB_NAME)
    conn.execute("DELETE FROM inbox")
    conn.close()
    synced_before(data_dir, scene)  # only then does the hook need Stash's timestamp
    stash.go_down()
    try:
        run = stash.run_hook_raw(context)
    finally:
        stash.come_back()
    assert run.error is None and run.output["action"] == "queued"
    assert run.wall_time < 20  # a bound, not a benchmark: it must not hang
    assert any(level == "warning" for level, _ in run.logs)
    assert is_scene_in_queue(data_dir, int(scene))


def test_hook_records_edit_while_stash_graphql_is_slow(linked, data_dir: Path, drain_busy) -> None:
    stash, _ = linked
    scene = stash.add_scene("Slow", ["/media/videos/slow.mp4"])
    stash.update_scene(scene, title="Slow 2")
    context = hook_runs(stash)[-1].args["hookContext"]
    conn = db.connect(data_dir / db.DB_NAME)
    conn.execute("DELETE FROM inbox")
    conn.close()
    synced_before(data_dir, scene)  # only then does the hook need Stash's timestamp
    stash.set_delay(15)
    try:
        run = stash.run_hook_raw(context)
    finally:
        stash.set_delay(0)
    assert run.error is None and run.output["action"] == "queued"
    assert run.wall_time < 12
    assert is_scene_in_queue(data_dir, int(scene))


def test_first_hook_asks_stash_for_one_drain(linked, data_dir: Path) -> None:
    """Without a drain running, the first hook asks Stash to run Process queue; the next does not."""
    stash, _ = linked
    a = stash.add_scene("W1", ["/media/videos/w1.mp4"])
    b = stash.add_scene("W2", ["/media/videos/w2.mp4"])
    conn = db.connect(data_dir / db.DB_NAME)
    # Keep the requested drain from starting yet: a "request" is what we check here.
    conn.execute("UPDATE drain SET wake_requested_at = NULL")
    stash.update_scene(a, title="W1b")
    first = hook_runs(stash)[-1]
    assert first.output["drain_requested"] is True
    requested = lease.read(conn).wake_requested_at
    if requested is not None:  # the task may already have started and consumed it
        stash.update_scene(b, title="W2b")
        assert hook_runs(stash)[-1].output["drain_requested"] is False
    stash.wait_for_jobs(timeout=120)
    tasks = [r for r in stash.runs if r.kind == "task"]
    assert tasks and all(t.args.get("mode") == "process_queue" for t in tasks)
    conn.close()


def test_destroy_drops_pending_job_and_state(linked, data_dir: Path, drain_busy) -> None:
    stash, _ = linked
    scene = stash.add_scene("Gone", ["/media/videos/g.mp4"])
    stash.update_scene(scene, title="Gone soon")
    state = SyncState(str(data_dir / db.DB_NAME))
    state.update_success(int(scene), "/library/metadata/5", "2026-01-01T00:00:00Z")
    stash.destroy_scene(scene)
    assert not is_scene_in_queue(data_dir, int(scene))
    assert state.get(int(scene)) is None
    state.close()


def test_tag_rename_queues_every_scene_with_the_tag(linked, data_dir: Path, drain_busy) -> None:
    stash, _ = linked
    tagged = [stash.add_scene(f"T{i}", [f"/media/videos/t{i}.mp4"], tags=["Outdoor"]) for i in range(3)]
    other = stash.add_scene("Untagged", ["/media/videos/u.mp4"], tags=["Indoor"])
    tag_id = stash.find_tag("Outdoor")
    stash.rename_tag(tag_id, "Outdoors")
    queued = set(inbox_rows(data_dir))
    assert queued == {int(i) for i in tagged}
    assert int(other) not in queued
    conn = db.connect(data_dir / db.DB_NAME)
    assert TaskInbox(conn).counts()["pending"] == 3
    conn.close()


def test_a_new_scene_costs_the_hook_no_stash_request(linked, data_dir: Path, drain_busy) -> None:
    """A scan's Scene.Create.Post (and any scene never synced) is queued whatever its timestamp:
    the hook asks Stash nothing. A scene synced before is asked for its timestamp, once."""
    stash, _ = linked
    scene = stash.scan_new_file("/media/videos/new/fresh.mp4")
    [created] = [r for r in hook_runs(stash) if r.args["hookContext"]["type"] == "Scene.Create.Post"]
    assert created.output["action"] == "queued" and stash.documents_for(created) == []
    assert is_scene_in_queue(data_dir, int(scene))

    other = stash.add_scene("Known", ["/media/videos/known.mp4"])
    synced_before(data_dir, other)
    stash.update_scene(other, title="Known, edited")
    edit = hook_runs(stash)[-1]
    assert edit.output["action"] == "queued"
    assert [d.query for d in stash.documents_for(edit) if "findScene" in d.query] and \
        len(stash.documents_for(edit)) == 1
