"""After Plex was away, one run writes everything (issue 16): the real PlexSync.py run by the Stash
stand-in, hooks and tasks exactly as Stash runs them, real plexapi against the Plex stand-in.

Seen on a real Stash: Plex refused connections while 5 edits came in; once Plex was back, the
first *Process queue* wrote 4 and the fifth waited out a retry delay. A job held back because
Plex was unreachable (or refused the token) is due as soon as Plex answers again, and a task a
person starts (*Process queue*, *Retry failed*) treats every queued job as due. A per-item delay
(a 5xx on one item, a file Plex has not scanned) still holds for the drains hooks ask for.

A person's run and a hook's are told apart by what differs on the wire: the Tasks page runs a task
with its manifest ``defaultArgs`` only; the hook's ``runPluginTask`` adds ``requested_by: hook``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import drain_runs, inbox, process_queue, queue_directly, run_task, synced

pytestmark = pytest.mark.usefixtures("leak_scan")


def library(stash, plex, data_dir: Path, count: int, name: str) -> dict[str, int]:
    """``count`` scenes, each with its Plex item, synced once: scene id -> rating key."""
    scenes = {}
    for n in range(count):
        path = f"/media/videos/{name}/{n}.mp4"
        rk = plex.add_movie(1, f"{name} {n}", [path])
        scenes[stash.add_scene(f"{name} {n}", [path], details="before")] = rk
    queue_directly(data_dir, stash, list(scenes))
    first = process_queue(stash)
    assert first.error is None and first.output["written"] == count, first.logs
    plex.clear_log()
    return scenes


def edit(stash, scene: str, title: str):
    """An edit in the UI: the hook queues it and asks Stash for a drain, which runs to its end."""
    stash.update_scene(scene, title=title)
    stash.wait_for_jobs(120)
    return drain_runs(stash)[-1]


def test_one_process_queue_after_an_outage_writes_every_edit(world, data_dir: Path) -> None:
    stash, plex = world
    scenes = library(stash, plex, data_dir, 5, "outage")
    plex.go_down()
    for n, scene in enumerate(scenes):
        stopped = edit(stash, scene, f"Edited while Plex was away {n}")
        assert stopped.args.get("requested_by") == "hook", stopped.args
        assert stopped.exit_code == 1 and "unreachable" in stopped.error, stopped.logs
    rows = inbox(data_dir)
    assert sorted(rows) == sorted(int(s) for s in scenes)
    assert {r["state"] for r in rows.values()} == {"pending"} and {r["attempts"] for r in rows.values()} == {0}

    plex.come_back()
    run = process_queue(stash)  # the Tasks page: the manifest's defaultArgs, nothing else
    assert "requested_by" not in run.args, run.args
    assert run.error is None and run.output["written"] == 5, run.output
    assert inbox(data_dir) == {}
    for n, rk in enumerate(scenes.values()):
        assert plex.item(rk)["title"] == f"Edited while Plex was away {n}"
    assert any("PlexSync drain: 5 scene(s)" in m for m in run.logs_at("info")), run.logs


def test_once_plex_answers_a_hook_s_drain_takes_what_the_outage_held_back(world, data_dir: Path) -> None:
    stash, plex = world
    (first, rk_first), (second, rk_second) = library(stash, plex, data_dir, 2, "held").items()
    plex.go_down()
    stopped = edit(stash, first, "Edited while Plex was away")
    assert stopped.exit_code == 1 and "unreachable" in stopped.error, stopped.logs
    plex.come_back()

    # The next edit's drain (a hook asked for it) writes the held-back scene as well.
    drain = edit(stash, second, "Edited once Plex was back")
    assert drain.args.get("requested_by") == "hook" and drain.error is None, drain.logs
    assert drain.output["written"] == 2, drain.output
    assert plex.item(rk_first)["title"] == "Edited while Plex was away"
    assert plex.item(rk_second)["title"] == "Edited once Plex was back"
    assert inbox(data_dir) == {}


@pytest.mark.parametrize("task", ["Process queue", "Retry failed"])
def test_a_per_item_delay_holds_for_hooks_and_a_person_s_run_takes_it(world, data_dir: Path, task: str) -> None:
    stash, plex = world
    (flaky, rk_flaky), (other, rk_other) = library(stash, plex, data_dir, 2, "flaky").items()
    plex.fail_next(1, 503, method="PUT", path_prefix="/library/sections/1/all")
    drain = edit(stash, flaky, "Answered 503 once")
    assert drain.error is None and drain.output["retry_later"] == 1, drain.output
    row = inbox(data_dir)[int(flaky)]
    assert row["state"] == "pending" and row["attempts"] == 1 and "503" in row["last_error"], row

    # A hook's drain leaves the scene to its retry time: one item's 5xx is about that item.
    drain = edit(stash, other, "Another edit")
    assert drain.args.get("requested_by") == "hook" and drain.output["written"] == 1, drain.output
    assert plex.item(rk_other)["title"] == "Another edit"
    assert plex.item(rk_flaky)["title"] != "Answered 503 once"
    assert int(flaky) in inbox(data_dir)

    # A person asks: every queued job is due.
    run = run_task(stash, task)
    assert run.error is None, run.logs
    drained = run.output if task == "Process queue" else run.output["drain"]
    assert drained["written"] == 1, run.output
    assert plex.item(rk_flaky)["title"] == "Answered 503 once"
    assert inbox(data_dir) == {} and int(flaky) in synced(data_dir)
