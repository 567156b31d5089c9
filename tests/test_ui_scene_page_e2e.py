"""The scene page end to end: headless Chromium on FakeStash's web UI stand-in, PlexSync.js
loaded from the plugin's manifest, every GraphQL call answered by FakeStash, which runs the real
PlexSync.py for the ``scene_status`` operation and the *Re-sync scenes* job; plexapi writes to the
Plex stand-in. A click on *Sync to Plex* changes the Plex item, and the *Open in Plex* link is the
item PlexSync bound the scene to.
"""

from __future__ import annotations

import pytest

from tests.browser import HARNESS, console_errors, run_page, steps, toasts
from tests.helpers import process_queue, queue_directly

pytestmark = pytest.mark.browser


def plex_web(plex, rating_key: int) -> str:
    return (f"https://app.plex.tv/desktop/#!/server/{plex.machine_identifier}/details"
            f"?key=%2Flibrary%2Fmetadata%2F{rating_key}")


OPEN_PAGE = HARNESS + r"""
// Timers stand still while the page's status request is open, so this sees its answer.
whenTrue(() => controls().length === 1, () => {
  setTimeout(() => rec({ step: "open", controls: controls(), links: links() }), 1000);
});
"""

# The click holds a request to FakeStash open until the job has finished, so the page's job
# polling (virtual time) waits for the real task.
CLICK_AND_WAIT = HARNESS + r"""
whenTrue(() => controls().length === 1, () => {
  setTimeout(() => {
    rec({ step: "before", controls: controls(), links: links() });
    fetch("standin-ui/wait-jobs?finished=1").then(() => rec({ step: "job-finished" }));
    document.querySelector(".plexsync-sync button").click();
    whenTrue(() => controls()[0].state !== "busy" && links().length === 1,
             () => rec({ step: "after", controls: controls(), links: links() }), "sync ended");
  }, 1000);
});
"""


def test_bound_scene_shows_open_in_plex_and_an_unbound_one_does_not(world, data_dir, tmp_path):
    stash, plex = world
    rk = plex.add_movie(1, "Bound", ["/media/videos/bound.mp4"])
    bound = stash.add_scene("Bound scene", ["/media/videos/bound.mp4"])
    unbound = stash.add_scene("Not in Plex", ["/media/videos/elsewhere.mp4"])
    queue_directly(data_dir, stash, [bound])
    assert process_queue(stash).error is None
    stash.ui_harness = OPEN_PAGE

    _dom, events = run_page(f"{stash.url}/scenes/{bound}", tmp_path)
    opened = steps(events)["open"]
    assert [link["href"] for link in opened["links"]] == [plex_web(plex, rk)]
    assert opened["controls"][0]["state"] == "synced"

    _dom, events = run_page(f"{stash.url}/scenes/{unbound}", tmp_path)
    opened = steps(events)["open"]
    assert opened["links"] == [] and opened["controls"][0]["state"] == "idle"
    assert console_errors(events) == []
    operations = [r for r in stash.runs if r.kind == "operation"]
    assert [r.args for r in operations] == [{"mode": "scene_status", "scene_id": s} for s in (bound, unbound)]


def test_click_syncs_the_scene_to_plex_and_then_links_it(world, tmp_path):
    stash, plex = world
    rk = plex.add_movie(1, "old title", ["/media/videos/clicked.mp4"])
    scene = stash.add_scene("Clicked in the browser", ["/media/videos/clicked.mp4"])
    stash.ui_harness = CLICK_AND_WAIT

    _dom, events = run_page(f"{stash.url}/scenes/{scene}", tmp_path, budget_ms=60000)

    at = steps(events)
    assert at["before"]["links"] == [] and "job-finished" in at, events
    (job,) = stash.jobs()
    assert (job.task_name, job.args, job.description) == (
        "Re-sync scenes", {"scene_id": scene}, f"Sync scene {scene} to Plex")
    assert job.run is not None and job.run.error is None, job.run and job.run.logs
    assert plex.item(rk)["title"] == "Clicked in the browser"
    assert [(t["variant"], t["toast"]) for t in toasts(events)] == [
        ("success", f"PlexSync: scene {scene} queued (job {job.id})"),
        ("success", f"PlexSync: scene {scene} synced to Plex"),
    ]
    after = at["after"]
    assert after["controls"][0]["state"] == "synced"
    assert [link["href"] for link in after["links"]] == [plex_web(plex, rk)]
    assert console_errors(events) == []
