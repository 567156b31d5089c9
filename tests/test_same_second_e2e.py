"""A hand edit in Plex made in the same second as PlexSync's write (issue 16, items 4 and 5), end
to end: PlexSync.py run as Stash runs it, real plexapi against the Plex stand-in.

Plex stamps ``updatedAt`` in whole seconds, so such an edit leaves the item's stamp where
PlexSync's own write put it: only the values tell. The stand-in's ``hand_edit(same_second=True)``
makes that happen every time instead of one run in three. *Re-sync scenes* (and the scene page's
button, which runs it) reads the item from Plex and writes what differs; *Sync all* and every
drain compare the values a listing shows with what PlexSync wrote, whatever the stamps say.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import (
    actual_plex_state,
    expected_plex_state,
    past_the_write_second,
    process_queue,
    run_task,
)
from tests.test_convergence_e2e import item_requests, ledger_rows, library, sync_everything

pytestmark = pytest.mark.usefixtures("leak_scan")


def resync_as_the_button_does(stash, scene: str, **more: object):
    """runPluginTask with the task name and ``args_map`` the scene page's button sends."""
    return run_task(stash, "Re-sync scenes", {"scene_id": str(scene), **more})


def test_resync_reads_plex_after_a_same_second_hand_edit(world, data_dir: Path) -> None:
    stash, plex = world
    lib = library(stash, plex, ["A", "B"])
    sync_everything(stash)
    scene, rk = lib["A"]
    stamp = plex.item(rk)["updatedAt"]
    plex.hand_edit(rk, same_second=True, title="Typed In Plex", genre=["Plex Genre"])
    assert plex.item(rk)["updatedAt"] == stamp
    plex.clear_log()

    run = resync_as_the_button_does(stash, scene)
    assert run.error is None, run.logs
    [result] = run.output["scenes"]
    assert result["result"] == "synced" and {"title", "genre"} <= set(result["changed"]), result
    assert item_requests(plex, rk) == [("GET", f"/library/metadata/{rk}"), ("PUT", "/library/sections/1/all")]
    assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)
    assert item_requests(plex, lib["B"][1]) == []


def test_resync_looks_even_when_the_ledger_says_the_item_is_as_written(world, data_dir: Path) -> None:
    """The stamp is verified (a listing after the write's second showed the item as written), and
    still a re-sync asks Plex: a person asked to compare, and Plex's stamp need not move (an edit
    in the second of the last change, a poster, an actor's photo)."""
    stash, plex = world
    lib = library(stash, plex, ["A"])
    sync_everything(stash)
    scene, rk = lib["A"]
    past_the_write_second()
    assert process_queue(stash).error is None  # a drain's listing, made after the write's second
    assert ledger_rows(data_dir)[int(scene)]["item_updated_at"] == plex.item(rk)["updatedAt"]
    plex.clear_log()

    same = resync_as_the_button_does(stash, scene)
    assert same.output["scenes"][0]["result"] == "unchanged", same.output
    assert item_requests(plex, rk) == [("GET", f"/library/metadata/{rk}")]  # looked, wrote nothing

    plex.hand_edit(rk, same_second=True, summary="A person's summary", genre=["Plex Genre"])
    plex.clear_log()
    preview = resync_as_the_button_does(stash, scene, dry_run=True)
    assert {c["field"] for c in preview.output["scenes"][0]["changes"]} == {"summary", "genre"}, preview.output
    assert item_requests(plex, rk) == [("GET", f"/library/metadata/{rk}")]  # the dry run looks too
    assert plex.item(rk)["summary"] == "A person's summary"

    plex.clear_log()
    fixed = resync_as_the_button_does(stash, scene)
    assert set(fixed.output["scenes"][0]["changed"]) == {"summary", "genre"}, fixed.output
    assert item_requests(plex, rk) == [("GET", f"/library/metadata/{rk}"), ("PUT", "/library/sections/1/all")]
    assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)


def test_sync_all_finds_a_hand_edit_made_in_the_second_of_the_write(world, data_dir: Path) -> None:
    stash, plex = world
    lib = library(stash, plex, ["A", "B", "C"])
    sync_everything(stash)
    scene, rk = lib["A"]
    plex.hand_edit(rk, same_second=True, summary="A person's summary")
    plex.hand_edit(lib["B"][1], same_second=True, studio="Plex Studio", title="Typed In Plex")
    plex.clear_log()

    run = run_task(stash, "Sync all scenes")
    assert run.error is None, run.logs
    assert run.output["drifted_in_plex"] == 2 and run.output["written"] == 2, run.output
    for name in ("A", "B"):
        scene, rk = lib[name]
        assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)
        assert item_requests(plex, rk) == [("GET", f"/library/metadata/{rk}"), ("PUT", "/library/sections/1/all")]
    assert item_requests(plex, lib["C"][1]) == []

    # The repaired items are as written now: the next Sync all finds nothing.
    past_the_write_second()
    plex.clear_log()
    again = run_task(stash, "Sync all scenes")
    assert again.output["drifted_in_plex"] == 0 and again.output["written"] == 0, again.output
    assert [r for r in plex.log_snapshot() if r.path.startswith("/library/metadata/")] == []


def test_the_next_drain_finds_a_hand_edit_made_in_the_second_of_the_write(world, data_dir: Path) -> None:
    stash, plex = world
    lib = library(stash, plex, ["A", "B"])
    sync_everything(stash)
    scene, rk = lib["A"]
    plex.hand_edit(rk, same_second=True, title="Typed In Plex")
    stash.update_scene(lib["B"][0], details="Something else")  # any drain, for any reason
    stash.wait_for_jobs(120)
    assert actual_plex_state(plex, rk) == expected_plex_state(stash, scene)
    drain = [r for r in stash.task_runs() if r.args.get("mode") == "process_queue"][-1]
    assert drain.output["convergence"]["plex_drift"] == {"plex": 1}, drain.output
