"""Watched in Plex, watched in Stash (issue 18), end to end: PlexSync.py run by the Stash stand-in
as Stash runs it, real plexapi and raw HTTP against the Plex stand-in's play state.

Plays and resume points travel each way, exactly once however many drains run, never back the
way they came, across a kill -9 between a write and its ledger row; ``off`` asks nothing of
either side.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.helpers import configure, run_task

pytestmark = pytest.mark.usefixtures("leak_scan")

T0 = 1_767_000_000  # 2025-12-29: plays "earlier today" in the tests, in Plex's clock


def utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def library(stash, plex, names: list[str]) -> dict[str, tuple[str, int]]:
    """Scenes with their Plex items: name -> (scene id, rating key)."""
    out = {}
    for name in names:
        path = f"/media/videos/{name.lower()}.mp4"
        rk = plex.add_movie(1, name.lower(), [path])
        out[name] = (stash.add_scene(f"Scene {name}", [path]), rk)
    return out


def start(world, names: list[str], mode: str = "both") -> dict[str, tuple[str, int]]:
    """Bound scenes, synced once with watch_state on: that first drain counts what Plex has."""
    stash, plex = world
    lib = library(stash, plex, names)
    configure(stash, plex.url, watch_state=mode)
    run = run_task(stash, "Sync all scenes")
    assert run.error is None, run.logs
    return lib


def sync_watch(stash):
    run = run_task(stash, "Sync watch state")
    assert run.error is None, (run.error, run.logs)
    return run


def plex_writes(plex) -> list[tuple[str, str]]:
    """Play-state writes PlexSync sent to Plex."""
    return [(r.path, r.query) for r in plex.log_snapshot() if r.path in ("/:/scrobble", "/:/unscrobble", "/:/progress")]


def stash_play_writes(stash) -> list:
    return [d for d in stash.received_documents if "sceneAddPlay" in d.query or "sceneSaveActivity" in d.query]


def test_plays_in_plex_become_plays_in_stash_at_plex_times_once(world) -> None:
    stash, plex = world
    lib = start(world, ["A", "B", "C"])
    (a, rk_a), (b, rk_b), (c, rk_c) = lib["A"], lib["B"], lib["C"]
    plex.play(rk_a, at=T0 + 10)
    plex.play(rk_a, at=T0 + 7200)  # two plays since the last look: each keeps its own time
    plex.play(rk_b, at=T0 + 60)
    plex.play(rk_c, at=T0 + 90, account_id=2)  # another Plex user: not the token's account

    run = sync_watch(stash)
    assert stash.play_history(a) == [utc(T0 + 10), utc(T0 + 7200)]
    assert stash.play_history(b) == [utc(T0 + 60)]
    assert stash.play_history(c) == []
    watched = run.output["watch_state"]
    assert watched["plays_to_stash"] == 3 and watched["stash_mutations"] == 2, watched

    for _ in range(3):  # however many drains run: once, and nothing goes back to Plex
        sync_watch(stash)
    assert stash.play_history(a) == [utc(T0 + 10), utc(T0 + 7200)]
    assert stash.play_history(b) == [utc(T0 + 60)]
    assert plex_writes(plex) == []
    assert plex.play_state(rk_a)["viewCount"] == 2 and plex.play_state(rk_b)["viewCount"] == 1
    status = run_task(stash, "Status").output
    assert status["plays_exchanged"] == {"from_plex": 3, "from_stash": 0, "unconfirmed": 0}


def test_plays_in_stash_mark_the_plex_item_played_once_each(world) -> None:
    stash, plex = world
    lib = start(world, ["A", "B"])
    (a, rk_a), (b, rk_b) = lib["A"], lib["B"]
    stash.add_play(a)
    stash.add_play(a)
    plex.clear_log()

    sync_watch(stash)
    assert plex.play_state(rk_a)["viewCount"] == 2
    assert plex.play_state(rk_b)["viewCount"] == 0
    assert [p for p, _ in plex_writes(plex)] == ["/:/scrobble", "/:/scrobble"]
    assert all(q.startswith(f"key={rk_a}&identifier=com.plexapp.plugins.library") for _, q in plex_writes(plex))

    for _ in range(3):  # the scrobbles show in Plex's listing: never copied back to Stash
        sync_watch(stash)
    assert len(stash.play_history(a)) == 2 and stash.play_history(b) == []
    assert len(plex_writes(plex)) == 2
    assert plex.play_state(rk_a)["viewCount"] == 2
    assert not [d for d in stash_play_writes(stash) if d.via == "http"]


def test_resume_points_both_ways_without_echo(world) -> None:
    stash, plex = world
    lib = start(world, ["A", "B"])
    (a, rk_a), (b, rk_b) = lib["A"], lib["B"]
    plex.play(rk_a, stopped_at_ms=754_000)  # stopped 12:34 into the movie in a Plex app
    stash.add_play(b)  # Stash's player: a play, then the resume point while it plays
    stash.save_activity(b, 321.5)

    sync_watch(stash)
    assert stash.scene(a)["resume_time"] == 754.0
    assert plex.play_state(rk_b) == {"viewCount": 1, "viewOffset": 321_500,
                                     "lastViewedAt": plex.play_state(rk_b)["lastViewedAt"]}
    assert stash.play_history(a) == []  # a stopped play is no completed play
    writes = len(plex_writes(plex))
    documents = len(stash_play_writes(stash))
    for _ in range(3):
        sync_watch(stash)
    assert len(plex_writes(plex)) == writes and len(stash_play_writes(stash)) == documents
    assert stash.scene(a)["resume_time"] == 754.0 and plex.play_state(rk_b)["viewOffset"] == 321_500

    plex.play(rk_b, stopped_at_ms=900_000)  # later, further along in Plex: Plex's is newer
    sync_watch(stash)
    assert stash.scene(b)["resume_time"] == 900.0
    assert len(plex_writes(plex)) == writes


def test_unwatched_in_plex_removes_nothing_and_later_plays_still_count(world) -> None:
    from plexapi.server import PlexServer

    from tests.conftest import PLEX_TOKEN

    stash, plex = world
    lib = start(world, ["A"], mode="plex_to_stash")
    a, rk = lib["A"]
    plex.play(rk, at=T0)
    sync_watch(stash)
    PlexServer(plex.url, PLEX_TOKEN).fetchItem(rk).markUnplayed()
    sync_watch(stash)
    assert stash.play_history(a) == [utc(T0)]
    plex.play(rk, at=T0 + 100)
    sync_watch(stash)
    sync_watch(stash)
    assert stash.play_history(a) == [utc(T0), utc(T0 + 100)]


def test_plex_to_stash_leaves_plex_alone(world) -> None:
    stash, plex = world
    lib = start(world, ["A"], mode="plex_to_stash")
    a, rk = lib["A"]
    stash.add_play(a)
    stash.save_activity(a, 99.0)
    plex.play(rk, at=T0)
    sync_watch(stash)
    assert plex_writes(plex) == [] and plex.play_state(rk)["viewCount"] == 1
    assert len(stash.play_history(a)) == 2
    assert not [d for d in stash.received_documents if "last_played_at" in d.query]


def test_off_sends_no_watch_state_request(world) -> None:
    stash, plex = world
    lib = start(world, ["A"], mode="off")
    a, rk = lib["A"]
    plex.play(rk, at=T0)
    plex.play(rk, stopped_at_ms=5000)
    stash.add_play(a)
    stash.save_activity(a, 12.0)
    plex.clear_log()
    mark = stash.document_mark()
    run = run_task(stash, "Sync watch state")
    assert run.error is None and run.output["status"] == "off"
    stash.update_scene(a, title="Edited")  # an ordinary drain, too
    stash.wait_for_jobs(60)
    run_task(stash, "Process queue")
    assert [r for r in plex.log_snapshot() if "lastViewedAt" in r.query or r.path.startswith(("/:/", "/status"))] == []
    sent = [d.query for d in stash.documents_since(mark)]
    assert sent and not [q for q in sent if "last_played_at" in q or "play_history" in q
                         or "sceneAddPlay" in q or "sceneSaveActivity" in q]
    assert len(stash.play_history(a)) == 1 and plex.play_state(rk)["viewCount"] == 1


def test_kill_9_after_the_stash_write_before_the_ledger_write(world) -> None:
    stash, plex = world
    lib = start(world, ["A"])
    a, rk = lib["A"]
    plex.play(rk, at=T0)
    held = stash.hold_after("sceneAddPlay", 30)
    job = stash.run_task("Sync watch state")
    assert held.wait(60), "the exchange never wrote the play"
    stash.stop_job(job)  # Stash's Cancel: SIGKILL while the written play's answer is on its way
    stash.wait_for_jobs(60)
    assert stash.job(job).run.killed
    stash.clear_faults()
    assert stash.play_history(a) == [utc(T0)]  # it landed; PlexSync's row says "not confirmed"

    run = sync_watch(stash)
    assert run.output["watch_state"].get("settled_after_interruption") == 1, run.output
    for _ in range(2):
        sync_watch(stash)
    assert stash.play_history(a) == [utc(T0)]
    assert plex_writes(plex) == [] and plex.play_state(rk)["viewCount"] == 1


def test_kill_9_after_the_scrobble_before_the_ledger_write(world) -> None:
    stash, plex = world
    lib = start(world, ["A"])
    a, rk = lib["A"]
    stash.add_play(a)
    held = plex.hold_after(30, path_prefix="/:/scrobble")
    job = stash.run_task("Sync watch state")
    assert held.wait(60), "the exchange never scrobbled"
    stash.stop_job(job)
    stash.wait_for_jobs(60)
    plex.clear_faults()
    assert plex.play_state(rk)["viewCount"] == 1

    run = sync_watch(stash)
    assert run.output["watch_state"].get("settled_after_interruption") == 1, run.output
    for _ in range(2):
        sync_watch(stash)
    assert plex.play_state(rk)["viewCount"] == 1
    assert [p for p, _ in plex_writes(plex)] == ["/:/scrobble"]
    assert len(stash.play_history(a)) == 1


def test_a_write_that_never_landed_is_made_by_the_next_drain(world) -> None:
    stash, plex = world
    lib = start(world, ["A", "B"])
    (a, rk_a), (b, rk_b) = lib["A"], lib["B"]
    stash.add_play(a)
    plex.play(rk_b, at=T0)
    plex.drop_next(1, path_prefix="/:/scrobble")  # the connection dies before Plex acts
    stash.refuse("sceneAddPlay")  # Stash answers 503 without adding the play
    sync_watch(stash)
    assert plex.play_state(rk_a)["viewCount"] == 0 and stash.play_history(b) == []

    run = sync_watch(stash)
    assert run.output["watch_state"]["settled_after_interruption"] == 2, run.output
    for _ in range(2):
        sync_watch(stash)
    assert plex.play_state(rk_a)["viewCount"] == 1 and len(stash.play_history(a)) == 1
    assert stash.play_history(b) == [utc(T0)] and plex.play_state(rk_b)["viewCount"] == 1


def test_two_drains_at_once_copy_each_play_once(world, data_dir: Path) -> None:
    stash, plex = world
    lib = start(world, ["A", "B"])
    (a, rk_a), (b, rk_b) = lib["A"], lib["B"]
    plex.play(rk_a, at=T0)
    stash.add_play(b)
    runs: list = []
    threads = [threading.Thread(target=lambda: runs.append(stash.run_plugin_raw({"mode": "sync_watch"})))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    sync_watch(stash)
    assert stash.play_history(a) == [utc(T0)]
    assert plex.play_state(rk_b)["viewCount"] == 1
    assert len(stash.play_history(b)) == 1 and plex.play_state(rk_a)["viewCount"] == 1


def test_a_scrobble_whose_answer_was_lost_is_not_sent_again(world) -> None:
    """Plex took the scrobble and the connection died before the answer: a retry would be a
    second play. The next drain finds the count already reached instead."""
    stash, plex = world
    lib = start(world, ["A"])
    a, rk = lib["A"]
    stash.add_play(a)
    plex.drop_next(1, path_prefix="/:/scrobble", after_processing=True)
    sync_watch(stash)
    assert plex.play_state(rk)["viewCount"] == 1
    run = sync_watch(stash)
    assert run.output["watch_state"]["settled_after_interruption"] == 1, run.output
    sync_watch(stash)
    assert plex.play_state(rk)["viewCount"] == 1
    assert len([r for r in plex.log_snapshot() if r.path == "/:/scrobble"]) == 1
    assert len(stash.play_history(a)) == 1


def test_plays_from_before_the_exchange_began_are_not_copied_and_off_pauses(world) -> None:
    stash, plex = world
    lib = start(world, ["A", "B"], mode="off")
    (a, rk_a), (b, rk_b) = lib["A"], lib["B"]
    plex.play(rk_a, at=T0)
    plex.play(rk_a, at=T0 + 5)
    stash.add_play(b)
    time.sleep(1.5)  # Stash stamps whole seconds: the play is before the exchange begins
    configure(stash, plex.url, watch_state="both")
    run = sync_watch(stash)
    assert run.output["watch_state"]["libraries_counted"] == ["Movies"]
    sync_watch(stash)
    assert stash.play_history(a) == [] and plex.play_state(rk_b)["viewCount"] == 0

    plex.play(rk_a, at=T0 + 600)  # from now on, every play counts: exactly the new one
    sync_watch(stash)
    assert stash.play_history(a) == [utc(T0 + 600)]

    configure(stash, plex.url, watch_state="off")  # a pause: what is played meanwhile waits
    sync_watch(stash)
    run_task(stash, "Process queue")
    plex.play(rk_a, at=T0 + 700)
    stash.add_play(b)
    run_task(stash, "Process queue")
    assert stash.play_history(a) == [utc(T0 + 600)] and plex.play_state(rk_b)["viewCount"] == 0
    configure(stash, plex.url, watch_state="both")
    sync_watch(stash)
    sync_watch(stash)
    assert stash.play_history(a) == [utc(T0 + 600), utc(T0 + 700)]
    assert plex.play_state(rk_b)["viewCount"] == 1


def test_every_drain_exchanges_and_a_quiet_one_asks_little(world) -> None:
    stash, plex = world
    plex.add_section(2, "Clips", "movie", ["/media/clips"])
    lib = start(world, ["A", "B"])
    a, rk_a = lib["A"]
    clip = stash.add_scene("Clip", ["/media/clips/c.mp4"])
    plex.add_movie(2, "c", ["/media/clips/c.mp4"])
    run_task(stash, "Sync all scenes")
    sync_watch(stash)

    def quiet_drain() -> tuple[list[str], list[str]]:
        """The drain's Plex requests that look at play state, and its Stash documents by name."""
        plex.clear_log()
        mark = stash.document_mark()
        run = run_task(stash, "Process queue")
        assert run.error is None, run.logs
        played = [r.path for r in plex.log_snapshot() if "lastViewedAt" in r.query or "viewCount" in r.query]
        return sorted(played), [d.query.split("(")[0].split()[-1] for d in stash.documents_since(mark)]

    played_both, stash_both = quiet_drain()
    # A listing per library, one Stash query (what else a drain asks, e.g. re-checking items just
    # written, is the same with watch_state off and is not counted here).
    assert played_both == ["/library/sections/1/all", "/library/sections/2/all"]
    configure(stash, plex.url, watch_state="off")
    quiet_drain()  # writes the defaults configure() left out back to Stash (a document of its own)
    played_off, stash_off = quiet_drain()
    assert played_off == []
    watch_documents = ("PlexSyncPlayedSince", "PlexSyncPlayHistory", "PlexSyncAddPlays", "PlexSyncSaveResume")
    assert [d for d in stash_both if d in watch_documents] == ["PlexSyncPlayedSince"]
    assert [d for d in stash_off if d in watch_documents] == []

    configure(stash, plex.url, watch_state="both")
    plex.play(rk_a, at=T0)
    stash.update_scene(clip, title="Clip, renamed")  # an edit's drain, not the watch task
    stash.wait_for_jobs(120)
    assert stash.play_history(a) == [utc(T0)]


@pytest.mark.parametrize("value", ["sometimes", "plex->stash", True])
def test_a_wrong_watch_state_is_one_error_naming_the_three_values(world, value) -> None:
    stash, plex = world
    configure(stash, plex.url, watch_state=value)
    run = run_task(stash, "Sync watch state")
    assert "watch_state" in run.error
    for word in ("off", "plex_to_stash", "both", "Settings → Plugins → PlexSync"):
        assert word in run.error, run.error
    configure(stash, plex.url, watch_state=" Both ")  # the values themselves, in any case
    assert run_task(stash, "Sync watch state").error is None


def test_without_plex_history_several_plays_take_the_last_time(world) -> None:
    """A server whose history cannot be read still gets every play counted, at the time it knows."""
    stash, plex = world
    lib = start(world, ["A"], mode="plex_to_stash")
    a, rk = lib["A"]
    plex.play(rk, at=T0)
    plex.play(rk, at=T0 + 50)
    plex.fail_next(1, 404, path_prefix="/status/sessions/history")
    sync_watch(stash)
    sync_watch(stash)
    assert stash.play_history(a) == [utc(T0 + 50), utc(T0 + 50)]
