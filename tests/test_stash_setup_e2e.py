"""How a real Stash is set up, kept working (issue 16): the real PlexSync.py run by the Stash
stand-in, real plexapi against the Plex stand-in.

Seen on a real Stash: ``server_connection.Host`` is Stash's configured ``host`` (0.0.0.0 by
default, 127.0.0.1 when Stash listens only there), ``updated_at`` ends in ``Z`` when Stash runs in
UTC and in ``-05:00`` elsewhere, and a task's result (its JSON output) shows only at Debug level
while a plugin error still ends the job FINISHED: whatever a person needs is an info line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import drain_runs, inbox

pytestmark = pytest.mark.usefixtures("leak_scan")


@pytest.mark.parametrize(("host", "offset", "zone"), [("0.0.0.0", 0, "Z"), ("127.0.0.1", -300, "-05:00")])
def test_an_edit_reaches_plex_whatever_stash_s_host_and_zone(start_linked_stash, fake_plex, data_dir: Path,
                                                             host: str, offset: int, zone: str) -> None:
    stash, plex = start_linked_stash(host=host, tz_offset_minutes=offset), fake_plex
    rk = plex.add_movie(1, "clip", ["/media/videos/clip.mp4"])
    scene = stash.add_scene("Clip", ["/media/videos/clip.mp4"])
    stash.update_scene(scene, title="Edited")
    stash.wait_for_jobs(120)

    assert stash.scene(scene)["updated_at"].endswith(zone)
    hook = stash.hook_runs()[-1]
    assert hook.stdin_json()["server_connection"]["Host"] == host
    [drain] = drain_runs(stash)
    assert drain.error is None and drain.output["written"] == 1, drain.logs
    assert plex.item(rk)["title"] == "Edited" and inbox(data_dir) == {}
    assert stash.unspecified_host_requests == []  # PlexSync never sends Host 0.0.0.0 to Stash
    # The result a person reads is an info line; Stash shows the task's JSON output at Debug only.
    assert any("PlexSync drain: 1 scene(s)" in m and "1 written" in m for m in drain.logs_at("info"))
    assert any(level == "debug" and "plugin returned" in m for level, m in stash.stash_log)
