"""Stash's director as Plex's ``director`` tag, end to end: PlexSync.py run as Stash runs it, real
plexapi against the Plex stand-in, under both tag semantics, for a movie and for an episode.

The director is a tag list like genres and actors: the full desired list plus explicit removals,
locked so an agent refresh cannot undo it, and listed in the dry-run report.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import configure, drain_runs, run_task

pytestmark = pytest.mark.usefixtures("leak_scan")

AGENT_DIRECTOR = "Agent Director"


def plex_item(stash, plex, kind: str) -> tuple[int, str]:
    """A Plex item whose agent set a director, and the Stash path of its file."""
    if kind == "movie":
        path = "/media/videos/Directed/feature.mp4"
        return plex.add_movie(1, "feature", [path], directors=[AGENT_DIRECTOR]), path
    plex.add_section(2, "Series", "show", ["/media/series"])
    configure(stash, plex.url, plex_library="Movies, Series")
    show = plex.add_show(2, "Harbor Nights")
    path = "/media/series/Harbor/S01E03.mkv"
    return plex.add_episode(show, 1, 3, "Episode file name", [path], directors=[AGENT_DIRECTOR]), path


def assert_director_as_in_stash(stash, plex, scene: str, rk: int) -> list[str]:
    director = stash.scene(scene)["director"]
    want = [director] if director else []
    item = plex.item(rk)
    assert item["tags"]["director"] == want, (item["tags"]["director"], want)
    assert "director" in item["locked"]
    return want


def dry_run_details(run) -> list[str]:
    assert run.error is None, run.logs
    assert run.output["dry_run"] is True, run.output
    [report] = run.output["scenes"]
    return report["details"]


@pytest.mark.parametrize("kind", ["movie", "episode"])
def test_director_set_changed_cleared(world, tag_mode: str, data_dir: Path, kind: str) -> None:
    stash, plex = world
    rk, path = plex_item(stash, plex, kind)
    scene = stash.add_scene("Directed", [path])

    # Set: an edit in Stash, its hook, the drain it starts. The agent's director goes.
    stash.update_scene(scene, director="Ann Author")
    stash.wait_for_jobs(120)
    [run] = drain_runs(stash)
    assert run.error is None and run.output["written"] == 1, run.logs
    assert assert_director_as_in_stash(stash, plex, scene, rk) == ["Ann Author"]
    [put] = plex.matching_requests(method="PUT")
    assert put.param("type") == ("1" if kind == "movie" else "4")
    assert put.param("director[0].tag.tag") == "Ann Author" and put.param("director.locked") == "1"

    # Changed while the plugin was off (no hook): the dry run reports it and writes nothing;
    # Sync recent changes writes it.
    time.sleep(1.1)  # Stash stamps whole seconds
    stash.silent_update(scene, director="Bo Builder, Jr.")  # a comma: removals are quoted
    plex.clear_log()
    dry = run_task(stash, "Sync recent changes (dry run)")
    assert "    director: +Bo Builder, Jr.; -Ann Author" in dry_run_details(dry), dry.output
    assert plex.matching_requests(method="PUT") == []
    assert plex.item(rk)["tags"]["director"] == ["Ann Author"]
    synced = run_task(stash, "Sync recent changes")
    assert synced.error is None, synced.logs
    assert assert_director_as_in_stash(stash, plex, scene, rk) == ["Bo Builder, Jr."]

    # Cleared: the dry run of Re-sync scenes reports the removal, the re-sync makes it, and the
    # empty list stays locked: an agent refresh brings nothing back.
    time.sleep(1.1)
    stash.silent_update(scene, director="")
    plex.clear_log()
    dry = run_task(stash, "Re-sync scenes", {"scene_id": scene, "dry_run": "true"})
    assert "    director: -Bo Builder, Jr." in dry_run_details(dry), dry.output
    assert plex.matching_requests(method="PUT") == []
    resync = run_task(stash, "Re-sync scenes", {"scene_id": scene})
    assert resync.error is None, resync.logs
    assert resync.output["scenes"][0]["result"] == "synced" and "director" in resync.output["scenes"][0]["changed"]
    assert assert_director_as_in_stash(stash, plex, scene, rk) == []
    plex.agent_refresh(rk)
    assert plex.item(rk)["tags"]["director"] == []

    # And set again through the hook: the director comes back in both tag modes.
    stash.update_scene(scene, director="Cy Creator")
    stash.wait_for_jobs(120)
    assert assert_director_as_in_stash(stash, plex, scene, rk) == ["Cy Creator"]


def test_director_in_the_dry_run_of_sync_all(world, data_dir: Path) -> None:
    """A director Plex does not show yet is listed by the dry run like any other field."""
    stash, plex = world
    rk = plex.add_movie(1, "plain", ["/media/videos/plain.mp4"])
    scene = stash.add_scene("Plain", ["/media/videos/plain.mp4"], director="Dee Director")
    dry = run_task(stash, "Sync all scenes (dry run)")
    details = dry_run_details(dry)
    assert "    director: +Dee Director" in details, details
    [report] = dry.output["scenes"]
    assert {"field": "director", "old": [], "new": ["Dee Director"]} in report["changes"]
    assert plex.matching_requests(method="PUT") == [] and plex.item(rk)["tags"]["director"] == []
    assert run_task(stash, "Sync all scenes").error is None
    assert assert_director_as_in_stash(stash, plex, scene, rk) == ["Dee Director"]
