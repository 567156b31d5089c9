"""The scanning tasks end to end: sync_recent, sync_all, resync_scene and their dry runs.

Stash's stand-in runs the real PlexSync.py as a task (exact stdin, job queue, progress), the
plugin reads Stash over GraphQL and writes the Plex stand-in with the unmodified plexapi. Stash's
clock and UTC offset are set per test, because late-update detection lives or dies on Stash
comparing ``updated_at`` as strings in its own offset.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from stash import queries
from sync import db
from sync.cursor import OVERLAP_S, format_in_zone, query_since, shift_stamp, stamp_zone
from sync.meta import RecentCursor
from sync.timestamps import parse_instant
from tests import helpers
from tests.conftest import PLEX_TOKEN
from worker.tasks.resync import parse_scene_ids

CURSOR_KEY = RecentCursor.CURSOR_KEY

WRITES = ("PUT", "POST", "DELETE")


class Clock:
    """Stash's clock: an hour behind real time (every stamp is in the plugin's past, as it is
    when Stash and the plugin share a machine), moved forward by the test."""

    def __init__(self) -> None:
        self.shift = -3000.0

    def __call__(self) -> float:
        return time.time() + self.shift

    def advance(self, seconds: float) -> None:
        self.shift += seconds
        assert self.shift < -30, "Stash's clock must stay behind the plugin's"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stash_at(start_linked_stash, clock: Clock) -> Callable[[int], object]:
    """Start a Stash stand-in in a given UTC offset on the test's clock, configured for the Plex stand-in."""
    return lambda tz_offset_minutes: start_linked_stash(tz_offset_minutes=tz_offset_minutes, clock=clock)


def run_task(stash, task: str, args: dict | None = None, timeout: float = 120):
    """Run a task the way the Tasks page does; it must have ended on its own, token-free."""
    run = helpers.run_task(stash, task, args, timeout)
    assert run.exit_code is not None and not run.killed
    for text in (run.stdout, run.stderr):
        assert PLEX_TOKEN.encode() not in text
    return run


def summary(run) -> str:
    return run.logs_at("info")[-1]


def db_rows(data_dir: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = db.connect(data_dir / db.DB_NAME)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def cursor_of(data_dir: Path) -> str | None:
    rows = db_rows(data_dir, "SELECT value FROM meta WHERE key = ?", (CURSOR_KEY,))
    return rows[0][0] if rows else None


def plex_writes(plex) -> list:
    return [r for r in plex.request_log if r.method in WRITES]


def written_keys(plex) -> set[int]:
    keys = set()
    for record in plex_writes(plex):
        parts = record.path.split("/")
        if record.path.startswith("/library/metadata/"):
            keys.add(int(parts[3]))
        elif record.path.endswith("/all"):
            keys.add(int(record.param("id")))
    return keys


def library(stash, plex, n: int = 4) -> dict[str, tuple[str, int]]:
    """n scenes with a performer, each with its Plex item; returns name -> (scene id, rating key)."""
    out = {}
    for i in range(n):
        name = "ABCDEFGH"[i]
        path = f"/media/videos/{name.lower()}.mp4"
        rk = plex.add_movie(1, f"{name.lower()}", [path])
        scene = stash.add_scene(f"Scene {name}", [path], performers=[f"Performer {name}"], tags=["Base"])
        out[name] = (scene, rk)
    return out


# ------------------------------------------------------------------------------- pure helpers


def test_cursor_helpers_keep_stashs_own_offset() -> None:
    assert stamp_zone("2026-01-11T18:07:53+11:00") == "+11:00"
    assert stamp_zone("2026-01-11T07:07:53Z") == "Z"
    assert stamp_zone("yesterday") is None
    assert shift_stamp("2026-01-11T18:07:53+11:00", -120) == "2026-01-11T18:05:53+11:00"
    assert shift_stamp("2026-01-01T00:01:00-05:00", -120) == "2025-12-31T23:59:00-05:00"
    assert shift_stamp("2026-01-11T07:07:53Z", -120) == "2026-01-11T07:05:53Z"
    # Same instant, written as Stash would in each offset.
    instant = parse_instant("2026-01-11T18:07:53+11:00")
    assert instant is not None
    assert format_in_zone(instant, "Z") == "2026-01-11T07:07:53Z"
    assert format_in_zone(instant, "-05:00") == "2026-01-11T02:07:53-05:00"
    # The value sent: cursor minus the margin, in the cursor's offset...
    assert query_since("2026-01-11T18:07:53+11:00", margin_s=120) == "2026-01-11T18:05:53+11:00"
    # ...or, once Stash has used two offsets (DST), the earliest rendering of that instant.
    assert query_since("2026-04-05T02:30:00+11:00", {"+10:00"}, margin_s=0) == "2026-04-05T01:30:00+10:00"
    with pytest.raises(ValueError):
        query_since("not a time")


def test_parse_scene_ids_accepts_what_stash_and_the_button_send() -> None:
    assert parse_scene_ids("12") == [12]
    assert parse_scene_ids(" 12, 15 ,12") == [12, 15]
    assert parse_scene_ids(7) == [7]
    assert parse_scene_ids([3, "4"]) == [3, 4]
    for bad, named in (("12,abc", "'abc'"), ("-3", "'-3'"), ("1,,2", "''"), ("0", "'0'")):
        with pytest.raises(ValueError, match=named):
            parse_scene_ids(bad)
    with pytest.raises(ValueError, match="needs the argument scene_id"):
        parse_scene_ids("")


# ------------------------------------------------------------------------------- sync_recent


def test_sync_recent_across_a_plus_eleven_offset_finds_every_late_edit(stash_at, fake_plex, clock, data_dir) -> None:
    stash = stash_at(660)
    plex = fake_plex
    lib = library(stash, plex)

    first = run_task(stash, "Sync recent changes")
    assert first.error is None, first.logs
    assert first.output["queued"] == 4 and first.output["drain"]["written"] == 4
    assert {plex.item(rk)["title"] for _, rk in lib.values()} == {"Scene A", "Scene B", "Scene C", "Scene D"}
    cursor = cursor_of(data_dir)
    assert cursor is not None
    # The cursor is a value Stash itself returned, in Stash's own offset.
    assert cursor == max(stash.scene(s)["updated_at"] for s, _ in lib.values())
    assert cursor.endswith("+11:00")
    assert first.progress and all(0.0 <= p <= 1.0 for p in first.progress) and first.progress[-1] == 1.0
    assert summary(first).startswith("PlexSync sync_recent:")

    clock.advance(30)
    scene_a, rk_a = lib["A"]
    scene_b, rk_b = lib["B"]
    scene_c, rk_c = lib["C"]
    scene_d, rk_d = lib["D"]
    # 1. An edit made while the plugin was off: no hook ran.
    stash.set_plugin_enabled(False)
    stash.update_scene(scene_a, title="A edited while off")
    # 2. A performer renamed while the plugin was off: no scene row changes at all.
    stash.rename_performer(stash.find_performer("Performer C"), "Performer C Renamed")
    stash.set_plugin_enabled(True)
    # 3. Auto Tag: updated_at moves, no hook ever fires.
    stash.silent_update(scene_b, tags=["AutoTagged"])
    assert not stash.hook_runs()
    plex.clear_log()

    second = run_task(stash, "Sync recent changes")
    assert second.error is None, second.logs
    out = second.output
    assert set(out["queued_ids"]) == {int(scene_a), int(scene_b), int(scene_c)}
    assert out["related_changed"]["performer"] == 1
    # D (and A, B, C's old stamps) sit inside the overlap margin: read again, not queued again.
    assert out["already_synced"] >= 1
    assert plex.item(rk_a)["title"] == "A edited while off"
    assert "AutoTagged" in plex.item(rk_b)["tags"]["genre"]
    assert plex.item(rk_c)["tags"]["actor"] == ["Performer C Renamed"]
    assert written_keys(plex) == {rk_a, rk_b, rk_c}  # D untouched
    new_cursor = cursor_of(data_dir)
    assert new_cursor is not None
    new_instant, old_instant = parse_instant(new_cursor), parse_instant(cursor)
    assert new_instant is not None and old_instant is not None
    assert new_cursor.endswith("+11:00") and new_instant > old_instant
    assert new_cursor == max(stash.scene(s)["updated_at"] for s, _ in lib.values())
    # The query Stash received used Stash's offset, never a UTC 'Z' value.
    sent = [d.variables["since"] for d in stash.documents(contains="PlexSyncSceneStampsSince")]
    assert sent and all(v.endswith("+11:00") for v in sent)
    assert sent[-1] == shift_stamp(cursor, -OVERLAP_S)

    # Nothing changed since: nothing is queued again and Plex sees no write.
    plex.clear_log()
    third = run_task(stash, "Sync recent changes")
    assert third.error is None
    assert third.output["queued"] == 0 and third.output["already_synced"] >= 3
    assert plex_writes(plex) == []
    assert "0 queued" in summary(third)


@pytest.mark.parametrize("offset", [660, -300])
def test_a_utc_cursor_compares_wrongly_and_stashs_own_offset_does_not(stash_at, fake_plex, clock, data_dir, offset) -> None:
    """Stash compares updated_at as strings. The same instant written as UTC 'Z' is 11 hours
    "earlier" as a string on a +11:00 server (every run would re-read 11 hours of edits) and 5
    hours "later" on a -05:00 server (edits are skipped). The plugin's cursor is neither."""
    stash = stash_at(offset)
    lib = library(stash, fake_plex, 2)
    assert run_task(stash, "Sync recent changes").error is None
    cursor = cursor_of(data_dir)
    assert cursor is not None
    cursor_instant, cursor_zone = parse_instant(cursor), stamp_zone(cursor)
    assert cursor_instant is not None and cursor_zone is not None
    clock.advance(600)  # ten minutes later, beyond any margin
    edited, rk = lib["A"]
    stash.silent_update(edited, title="Late edit")

    def found(since: str) -> set[str]:
        query = queries.SCENE_STAMPS_SINCE
        data = stash.graphql(query, {"since": since, "page": 1, "per_page": 100})["data"]
        return {s["id"] for s in data["findScenes"]["scenes"]}

    utc_cursor = format_in_zone(cursor_instant, "Z")
    if offset > 0:
        # The untouched scene B is older than the cursor, yet a 'Z' cursor returns it.
        assert lib["B"][0] in found(utc_cursor)
    else:
        assert edited not in found(utc_cursor)  # the late edit is missed
    # The cursor in Stash's own offset, without any margin, is exact.
    assert found(format_in_zone(cursor_instant, cursor_zone)) == {edited}

    run = run_task(stash, "Sync recent changes")
    assert run.error is None
    assert run.output["queued_ids"] == [int(edited)]
    assert fake_plex.item(rk)["title"] == "Late edit"


def test_sync_recent_survives_the_end_of_daylight_saving(stash_at, fake_plex, clock, data_dir) -> None:
    """Sydney: +11:00 until DST ends, then +10:00. An edit made just after the change is stored
    with a wall clock an hour earlier than the cursor's and sorts before it as a string."""
    stash = stash_at(660)
    lib = library(stash, fake_plex, 2)
    assert run_task(stash, "Sync recent changes").error is None
    cursor = cursor_of(data_dir)
    stash.tz_offset_minutes = 600  # clocks go back
    clock.advance(5 * 60)
    edited, rk = lib["B"]
    stamp = stash.silent_update(edited, title="Edited after DST ended")
    assert stamp.endswith("+10:00") and stamp < cursor  # later in time, earlier as a string

    run = run_task(stash, "Sync recent changes")
    assert run.error is None, run.logs
    assert run.output["queued_ids"] == [int(edited)]
    assert fake_plex.item(rk)["title"] == "Edited after DST ended"
    stored = json.loads(db_rows(data_dir, "SELECT value FROM meta WHERE key = 'sync_recent.zones'")[0][0])
    assert set(stored) == {"+11:00", "+10:00"}


def test_sync_recent_queues_nothing_already_waiting_or_parked(stash_at, fake_plex, clock, data_dir) -> None:
    stash = stash_at(0)
    lib = library(stash, fake_plex, 2)
    assert run_task(stash, "Sync recent changes").error is None
    clock.advance(30)
    for scene, _ in lib.values():
        stash.silent_update(scene, details="changed")
    # Scene A is parked as failed with the same stamp it has now: only retry_failed brings it back.
    scene_a = int(lib["A"][0])
    conn = db.connect(data_dir / db.DB_NAME)
    conn.execute(
        "INSERT INTO inbox (scene_id, state, stash_updated_at, queued_at, last_error) VALUES (?, 'failed', ?, 0, 'boom')",
        (scene_a, stash.scene(scene_a)["updated_at"]),
    )
    conn.close()
    run = run_task(stash, "Sync recent changes")
    assert run.output["parked_unchanged"] == 1
    assert run.output["queued_ids"] == [int(lib["B"][0])]
    assert db_rows(data_dir, "SELECT state FROM inbox WHERE scene_id = ?", (scene_a,)) == [("failed",)]


# ------------------------------------------------------------------------------- dry run


def snapshot(data_dir: Path) -> tuple:
    return (
        db_rows(data_dir, "SELECT * FROM sync_state ORDER BY scene_id"),
        db_rows(data_dir, "SELECT * FROM inbox ORDER BY scene_id"),
        db_rows(data_dir, "SELECT * FROM meta ORDER BY key"),
    )


def test_dry_runs_log_each_change_and_write_nothing(stash_at, fake_plex, clock, data_dir) -> None:
    stash = stash_at(660)
    lib = library(stash, fake_plex, 3)
    assert run_task(stash, "Sync recent changes").error is None
    clock.advance(30)
    scene_a, rk_a = lib["A"]
    stash.silent_update(scene_a, title="New title", tags=["Fresh"])
    stash.set_plugin_enabled(False)
    stash.destroy_scene(lib["C"][0])  # no Destroy hook: sync_all would forget it
    stash.set_plugin_enabled(True)
    before = snapshot(data_dir)
    fake_plex.clear_log()

    recent = run_task(stash, "Sync recent changes (dry run)")
    assert recent.error is None, recent.logs
    assert recent.output["dry_run"] is True and recent.output["would_queue"] == 1
    [report] = recent.output["scenes"]
    assert report["scene_id"] == int(scene_a) and report["plex_item"] == rk_a
    assert {"field": "title", "old": "Scene A", "new": "New title"} in report["changes"]
    lines = recent.logs_at("info")
    assert any("[dry run]" in line and "title: 'Scene A' → 'New title'" in line for line in lines)
    assert any("[dry run]" in line and "genre: +Fresh" in line for line in lines)
    assert "nothing was written" in summary(recent)

    everything = run_task(stash, "Sync all scenes (dry run)")
    assert everything.error is None, everything.logs
    assert everything.output["would_forget"] == 1 and everything.output["would_queue"] == 1

    resync = run_task(stash, "Re-sync scenes", {"scene_id": str(lib["B"][0]), "dry_run": True})
    assert resync.error is None
    assert resync.output["scenes"][0]["changes"] == []
    assert any("up to date" in line for line in resync.logs_at("info"))

    assert [r for r in fake_plex.request_log if r.method != "GET"] == []
    assert fake_plex.item(rk_a)["title"] == "Scene A"
    assert snapshot(data_dir) == before  # no sync state, inbox or cursor change


# ------------------------------------------------------------------------------- sync_all


def test_sync_all_queues_only_what_plex_lacks_and_prunes_deleted_scenes(stash_at, fake_plex, clock, data_dir) -> None:
    stash = stash_at(0)
    lib = library(stash, fake_plex, 4)
    first = run_task(stash, "Sync all scenes")
    assert first.error is None, first.logs
    assert first.output["queued"] == 4 and first.output["drain"]["written"] == 4
    assert first.output["forgotten"] == 0

    clock.advance(30)
    gone, _ = lib["D"]
    stash.set_plugin_enabled(False)
    stash.destroy_scene(gone)  # the Destroy hook does not run: state would stay forever
    stash.update_scene(lib["A"][0], details="edited while off")
    stash.set_plugin_enabled(True)
    conn = db.connect(data_dir / db.DB_NAME)
    conn.execute("INSERT INTO inbox (scene_id, queued_at) VALUES (9999, 0)")  # a job for a lost scene
    conn.close()
    fake_plex.clear_log()

    run = run_task(stash, "Sync all scenes")
    assert run.error is None, run.logs
    out = run.output
    assert out["scene_count"] == 3 and out["queued_ids"] == [int(lib["A"][0])]
    assert out["already_synced"] == 2 and out["forgotten"] == 2
    assert db_rows(data_dir, "SELECT count(*) FROM sync_state WHERE scene_id IN (?, 9999)", (gone,)) == [(0,)]
    assert db_rows(data_dir, "SELECT count(*) FROM inbox") == [(0,)]
    assert written_keys(fake_plex) == {lib["A"][1]}
    assert "2 deleted scene(s) forgotten" in summary(run)
    assert run.progress[-1] == 1.0


# ------------------------------------------------------------------------------- resync_scene


def test_resync_scene_reports_every_scene(stash_at, fake_plex, clock, data_dir) -> None:
    stash = stash_at(0)
    plex = fake_plex
    lib = library(stash, plex, 2)
    lonely = stash.add_scene("Not in Plex", ["/media/videos/lonely.mp4"])
    plex.add_movie(1, "twin", ["/elsewhere/one/twin.mp4"])
    plex.add_movie(1, "twin", ["/elsewhere/two/twin.mp4"])
    # Outside every library folder (no path_map rule): only the file name can match, twice.
    twin = stash.add_scene("Twin", ["/other/root/twin.mp4"])
    assert run_task(stash, "Sync all scenes").error is None

    # Someone edits the Plex item of A by hand: sync_state still says A is current.
    scene_a, rk_a = lib["A"]
    scene_b, rk_b = lib["B"]
    plex_edit = f"/library/sections/1/all?type=1&id={rk_a}&title.value=Changed%20in%20Plex&title.locked=1"
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{plex.url}{plex_edit}", method="PUT",
                                                  headers={"X-Plex-Token": PLEX_TOKEN})).read()
    assert plex.item(rk_a)["title"] == "Changed in Plex"
    plex.clear_log()

    ids = f"{scene_a}, {scene_b},{lonely},{twin},9999"
    run = run_task(stash, "Re-sync scenes", {"scene_id": ids})
    assert run.error is None, run.logs
    results = {r["scene_id"]: r for r in run.output["scenes"]}
    assert results[int(scene_a)]["result"] == "synced" and "title" in results[int(scene_a)]["changed"], (run.logs, run.output)
    assert plex.item(rk_a)["title"] == "Scene A"  # forced past the timestamp and the hash
    assert results[int(scene_b)]["result"] == "unchanged"
    assert results[int(lonely)]["result"] == "not found in Plex"
    assert "lonely.mp4" in results[int(lonely)]["reason"]
    assert results[int(twin)]["result"] == "needs review"
    assert results[9999]["result"] == "not found in Stash"
    assert written_keys(plex) == {rk_a}
    infos = "\n".join(run.logs_at("info") + run.logs_at("warning"))
    for scene_id in (scene_a, scene_b, lonely, twin, 9999):
        assert f"scene {scene_id}: " in infos
    assert summary(run).startswith("PlexSync resync_scene: 5 scene(s)")


def test_resync_scene_rejects_a_bad_id_by_name(stash_at, fake_plex) -> None:
    stash = stash_at(0)
    run = run_task(stash, "Re-sync scenes", {"scene_id": "3,x7"})
    assert run.error is not None and "'x7'" in run.error
    missing = run_task(stash, "Re-sync scenes")
    assert missing.error is not None and "scene_id" in missing.error


def test_timestamps_helper_agrees_with_stash_format() -> None:
    """format_in_zone writes what Go's time.RFC3339 writes (the stand-in mirrors Stash)."""
    from tests.standins.fake_stash import format_stash_time

    now = time.time()
    for minutes, zone in ((660, "+11:00"), (0, "Z"), (-300, "-05:00"), (330, "+05:30")):
        assert format_in_zone(now, zone) == format_stash_time(now, minutes)
    offset = datetime.fromisoformat(format_in_zone(now, "+05:30")).utcoffset()
    assert offset is not None
    assert offset.total_seconds() == 330 * 60
