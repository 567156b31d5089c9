"""The Stash stand-in's play history (tests/standins/stash_play_history.py): plays stored in UTC
whatever the server's zone, ``last_played_at`` and its filter compared as text, ``sceneAddPlay``
times, ``sceneSaveActivity``, and none of it moving ``updated_at`` or firing a hook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standins.fake_stash import FakeStash
from tests.test_fake_stash import T0, FakeClock, write_probe_plugin

PLAYED = """
query($since: String!) {
  findScenes(scene_filter: {last_played_at: {value: $since, modifier: GREATER_THAN}},
             filter: {per_page: -1, sort: "id", direction: ASC}) {
    count scenes { id play_count play_history last_played_at resume_time play_duration }
  }
}
"""


@pytest.fixture
def east(tmp_path: Path) -> Iterator[tuple[FakeStash, FakeClock]]:
    """A Stash in +11:00 (its updated_at is written in that zone, its plays in UTC)."""
    clock = FakeClock(T0)
    with FakeStash(write_probe_plugin(tmp_path / "probe"), clock=clock, tz_offset_minutes=660,
                   stash_dir=tmp_path / "home") as fake:
        yield fake, clock


def played_since(stash: FakeStash, since: str) -> list[dict]:
    reply = stash.graphql(PLAYED, {"since": since})
    assert "errors" not in reply, reply
    return reply["data"]["findScenes"]["scenes"]


def test_plays_are_kept_in_utc_and_the_filter_compares_text(east) -> None:
    stash, clock = east
    a = stash.add_scene("A", ["/v/a.mp4"])
    b = stash.add_scene("B", ["/v/b.mp4"])
    assert stash.scene(a)["updated_at"] == "2026-01-11T18:07:53+11:00"
    stash.add_play(a)  # now, as Stash's player adds it
    stash.add_play(b, "2026-01-11T20:00:00+11:00", "2026-01-11T08:30:00Z")
    assert stash.play_history(a) == ["2026-01-11T07:07:53Z"]
    assert stash.play_history(b) == ["2026-01-11T09:00:00Z", "2026-01-11T08:30:00Z"]
    found = {s["id"]: s for s in played_since(stash, "2026-01-11T07:00:00Z")}
    assert found[b]["last_played_at"] == "2026-01-11T09:00:00Z" and found[b]["play_count"] == 2
    assert list(found) == [a, b]
    assert [s["id"] for s in played_since(stash, "2026-01-11T07:07:53Z")] == [b]  # strictly after
    # A value in the server's own zone sorts as text: "…T18…" > "…T09…", so nothing is found.
    assert played_since(stash, "2026-01-11T18:00:00+11:00") == []
    assert stash.scene(a)["updated_at"] == "2026-01-11T18:07:53+11:00"  # plays are no edit
    assert stash.hook_runs() == []


def test_a_scene_never_played_matches_no_time(east) -> None:
    stash, _ = east
    stash.add_scene("A", ["/v/a.mp4"])
    assert played_since(stash, "1970-01-01T00:00:00Z") == []


def test_relative_and_bad_times(east) -> None:
    stash, clock = east
    a = stash.add_scene("A", ["/v/a.mp4"])
    stash.add_play(a, "<4h")
    assert stash.play_history(a) == ["2026-01-11T03:07:53Z"]
    reply = stash.graphql("mutation { sceneAddPlay(id: \"1\", times: [\"yesterday\"]) { count } }")
    assert "invalid timestamp" in reply["errors"][0]["message"]
    assert stash.play_history(a) == ["2026-01-11T03:07:53Z"]


def test_save_activity_sets_the_resume_point_and_adds_duration(east) -> None:
    stash, clock = east
    a = stash.add_scene("A", ["/v/a.mp4"])
    stamp = stash.scene(a)["updated_at"]
    clock.advance(60)
    stash.save_activity(a, 321.5)
    reply = stash.graphql('mutation { sceneSaveActivity(id: "1", resume_time: 400, playDuration: 30) }')
    assert reply["data"]["sceneSaveActivity"] is True
    reply = stash.graphql('mutation { sceneSaveActivity(id: "1", playDuration: 15.5) }')
    scene = stash.graphql('{ findScene(id: "1") { resume_time play_duration updated_at } }')["data"]["findScene"]
    assert scene == {"resume_time": 400.0, "play_duration": 45.5, "updated_at": stamp}
    assert stash.hook_runs() == []
