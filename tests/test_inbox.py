"""queue.inbox: one row per scene, generations, parking, retries, and cost independent of size."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from queue import inbox as inbox_module
from queue.inbox import InboxEntry, database_path, is_scene_in_queue
from queue.inbox_tasks import TaskInbox
from sync import db
from tests.processes import run_together

T0 = 1_700_000_000.0


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = db.connect(tmp_path / db.DB_NAME)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def inbox(conn: sqlite3.Connection) -> TaskInbox:
    return TaskInbox(conn)


def row_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM inbox").fetchone()[0]


def take(inbox: TaskInbox, scene_id: int) -> InboxEntry:
    """What the drain does: find the scene among the due rows and mark it queued."""
    entry = inbox.get(scene_id)
    assert entry is not None and entry.state == "pending"
    inbox.mark_queued(scene_id, entry.generation)
    queued = inbox.get(scene_id)
    assert queued is not None and queued.state == "queued"
    return queued


# -- hook side ----------------------------------------------------------------------------------


def test_upsert_creates_a_pending_row(inbox: TaskInbox, conn: sqlite3.Connection) -> None:
    inbox.upsert(5, stash_updated_at="2026-01-11T18:07:53+11:00", reason="hook", now=T0)
    entry = inbox.get(5)
    assert entry == InboxEntry(
        scene_id=5,
        state="pending",
        generation=1,
        stash_updated_at="2026-01-11T18:07:53+11:00",
        queued_at=T0,
        reason="hook",
        force=False,
        attempts=0,
        not_before=0,
        last_error=None,
        detail=None,
    )
    assert row_count(conn) == 1
    assert inbox.is_active(5)
    assert not inbox.is_active(6)


def test_second_upsert_keeps_one_row_bumps_generation_keeps_place(
    inbox: TaskInbox, conn: sqlite3.Connection
) -> None:
    inbox.upsert(5, stash_updated_at="2026-01-11T18:07:53+11:00", reason="hook", now=T0)
    inbox.upsert(5, stash_updated_at="2026-01-11T18:08:10+11:00", reason="tag", now=T0 + 50)
    entry = inbox.get(5)
    assert entry is not None
    assert row_count(conn) == 1
    assert entry.generation == 2
    assert entry.queued_at == T0  # keeps its place in line
    assert entry.stash_updated_at == "2026-01-11T18:08:10+11:00"
    assert entry.reason == "hook"  # a pending row keeps its first reason
    assert entry.state == "pending"

    inbox.upsert(5, stash_updated_at=None, reason="hook", now=T0 + 60)
    entry = inbox.get(5)
    assert entry is not None
    assert entry.generation == 3
    assert entry.stash_updated_at == "2026-01-11T18:08:10+11:00"  # unknown stamp keeps the known


def test_force_is_sticky_across_upserts(inbox: TaskInbox) -> None:
    inbox.upsert(1, stash_updated_at=None, reason="manual", force=True, now=T0)
    inbox.upsert(1, stash_updated_at=None, reason="hook", force=False, now=T0 + 1)
    entry = inbox.get(1)
    assert entry is not None and entry.force is True
    inbox.upsert(2, stash_updated_at=None, reason="hook", now=T0)
    inbox.upsert(2, stash_updated_at=None, reason="manual", force=True, now=T0 + 1)
    entry = inbox.get(2)
    assert entry is not None and entry.force is True


def test_pending_force(inbox: TaskInbox) -> None:
    assert inbox.pending_force(1) is None
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0)
    assert inbox.pending_force(1) is False
    inbox.upsert(2, stash_updated_at=None, reason="manual", force=True, now=T0)
    assert inbox.pending_force(2) is True
    take(inbox, 1)
    assert inbox.pending_force(1) is None  # queued is not pending
    assert inbox.is_active(1)


def test_pending_force_is_a_read_that_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / db.DB_NAME
    writer = db.connect(path)
    reader = db.connect(path, timeout=0.1)
    try:
        TaskInbox(writer).upsert(1, stash_updated_at=None, reason="hook", now=T0)
        writer.execute("BEGIN IMMEDIATE")
        TaskInbox(writer).upsert(2, stash_updated_at=None, reason="hook", now=T0)
        assert TaskInbox(reader).pending_force(1) is False  # WAL: readers are not blocked
        assert TaskInbox(reader).pending_force(2) is None  # uncommitted row is invisible
        writer.execute("COMMIT")
        assert TaskInbox(reader).pending_force(2) is False
    finally:
        writer.close()
        reader.close()


def test_remove(inbox: TaskInbox) -> None:
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0)
    inbox.upsert(2, stash_updated_at=None, reason="hook", now=T0)
    inbox.remove(1)
    inbox.remove(99)
    assert inbox.get(1) is None
    assert inbox.get(2) is not None


# -- drain side ---------------------------------------------------------------------------------


def test_due_orders_by_queue_time_and_honours_limit(inbox: TaskInbox) -> None:
    inbox.upsert(3, stash_updated_at=None, reason="hook", now=T0 + 2)
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0 + 1)
    inbox.upsert(2, stash_updated_at=None, reason="hook", now=T0 + 1)
    inbox.upsert(3, stash_updated_at=None, reason="hook", now=T0 + 9)  # keeps its old place
    assert [e.scene_id for e in inbox.due(10, now=T0 + 10)] == [1, 2, 3]
    assert [e.scene_id for e in inbox.due(2, now=T0 + 10)] == [1, 2]
    take(inbox, 1)
    assert [e.scene_id for e in inbox.due(10, now=T0 + 10)] == [2, 3]


def test_mark_queued_ignores_a_stale_generation(inbox: TaskInbox) -> None:
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0)
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0)
    inbox.mark_queued(1, 1)
    entry = inbox.get(1)
    assert entry is not None and entry.state == "pending"


def test_complete_deletes_the_matching_generation(inbox: TaskInbox) -> None:
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0)
    inbox.upsert(2, stash_updated_at=None, reason="hook", now=T0)
    job = take(inbox, 1)
    assert inbox.complete(1, job.generation) is True
    assert inbox.get(1) is None
    assert inbox.get(2) is not None


def test_edit_during_processing_is_not_lost(inbox: TaskInbox) -> None:
    inbox.upsert(1, stash_updated_at="2026-01-11T18:07:53+11:00", reason="hook", force=True, now=T0)
    job = take(inbox, 1)
    assert job.generation == 1
    # A new edit arrives while the worker is writing generation 1 to Plex.
    inbox.upsert(1, stash_updated_at="2026-01-11T18:07:58+11:00", reason="hook", now=T0 + 5)
    during = inbox.get(1)
    assert during is not None and during.state == "queued" and during.generation == 2
    assert inbox.due(10, now=T0 + 10) == []  # still in the worker's hands

    assert inbox.complete(1, job.generation) is False
    after = inbox.get(1)
    assert after is not None
    assert after.state == "pending"
    assert after.generation == 2
    assert after.stash_updated_at == "2026-01-11T18:07:58+11:00"
    assert after.force is True  # a forced request is never dropped, at worst written twice
    assert [e.scene_id for e in inbox.due(10, now=T0 + 10)] == [1]

    job2 = take(inbox, 1)
    assert inbox.complete(1, job2.generation) is True
    assert inbox.get(1) is None


def test_sync_to_plex_pressed_while_the_scene_is_in_flight_stays_forced(inbox: TaskInbox) -> None:
    # A hook's job is being written; meanwhile the user presses "Sync to Plex" (force). The
    # worker finishes the unforced generation; the forced request must survive, or the worker
    # would find the scene "already synced" and skip the write the user asked for.
    inbox.upsert(1, stash_updated_at="2026-01-11T18:07:53+11:00", reason="hook", now=T0)
    job = take(inbox, 1)
    assert job.force is False
    inbox.upsert(1, stash_updated_at=None, reason="manual", force=True, now=T0 + 1)
    assert inbox.complete(1, job.generation) is False
    after = inbox.get(1)
    assert after is not None
    assert (after.state, after.generation, after.force) == ("pending", 2, True)
    assert inbox.pending_force(1) is True
    assert inbox.due(10, now=T0 + 2)[0].job()["force"] is True


def test_complete_of_unknown_scene_returns_false_and_creates_nothing(
    inbox: TaskInbox, conn: sqlite3.Connection
) -> None:
    assert inbox.complete(42, 1) is False
    assert row_count(conn) == 0


@pytest.mark.parametrize("parked", ["failed", "review"])
def test_park_then_a_new_edit_brings_it_back(inbox: TaskInbox, parked: str) -> None:
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0)
    job = take(inbox, 1)
    detail = {"candidates": ["/library/metadata/1", "/library/metadata/2"], "why": "it's \"x\""}
    inbox.park(1, job.generation, parked, "no match for 'a.mp4'", detail)
    entry = inbox.get(1)
    assert entry is not None
    assert entry.state == parked
    assert entry.last_error == "no match for 'a.mp4'"
    assert json.loads(entry.detail) == detail
    assert entry.attempts == 1
    assert not inbox.is_active(1)
    assert inbox.pending_force(1) is None
    assert inbox.due(10, now=T0 + 100) == []
    assert not inbox.has_due(now=T0 + 100)

    inbox.upsert(1, stash_updated_at="2026-01-11T18:07:53+11:00", reason="tag", now=T0 + 50)
    back = inbox.get(1)
    assert back is not None
    assert back.state == "pending"
    assert back.attempts == 0
    assert back.last_error is None
    assert back.detail is None
    assert back.not_before == 0
    assert back.generation == job.generation + 1
    assert back.reason == "tag"
    assert back.queued_at == T0
    assert [e.scene_id for e in inbox.due(10, now=T0 + 100)] == [1]


def test_park_with_an_older_generation_leaves_the_new_edit_pending(inbox: TaskInbox) -> None:
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0)
    job = take(inbox, 1)
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0 + 1)
    inbox.park(1, job.generation, "failed", "boom")
    entry = inbox.get(1)
    assert entry is not None
    assert entry.state == "pending"
    assert entry.generation == 2
    assert entry.last_error == "boom"
    assert inbox.has_due(now=T0 + 2)


def test_park_refuses_other_states(inbox: TaskInbox) -> None:
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0)
    with pytest.raises(ValueError):
        inbox.park(1, 1, "pending", "x")
    entry = inbox.get(1)
    assert entry is not None and entry.state == "pending" and entry.attempts == 0


def test_requeue_parked(inbox: TaskInbox) -> None:
    for sid in (1, 2, 3):
        inbox.upsert(sid, stash_updated_at=None, reason="hook", now=T0 + sid)
    inbox.park(1, 1, "failed", "bad token")
    inbox.park(2, 1, "review", "two candidates")
    inbox.park(1, 1, "failed", "bad token")  # attempts 2
    assert inbox.requeue_parked() == 2
    for sid in (1, 2, 3):
        entry = inbox.get(sid)
        assert entry is not None and entry.state == "pending" and entry.attempts == 0
    assert [e.scene_id for e in inbox.due(10, now=T0 + 10)] == [1, 2, 3]
    assert inbox.requeue_parked() == 0


def test_retry_later_hides_the_row_until_its_time(inbox: TaskInbox) -> None:
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0)
    take(inbox, 1)
    inbox.retry_later(1, T0 + 300, "Plex timed out")
    entry = inbox.get(1)
    assert entry is not None
    assert entry.state == "pending"
    assert entry.not_before == T0 + 300
    assert entry.attempts == 1
    assert entry.last_error == "Plex timed out"
    assert inbox.is_active(1)

    assert inbox.due(10, now=T0 + 299) == []
    assert inbox.has_due(now=T0 + 299) is False
    assert [e.scene_id for e in inbox.due(10, now=T0 + 300)] == [1]
    assert inbox.has_due(now=T0 + 300) is True

    inbox.retry_later(1, T0 + 600, "Plex restarting", count_attempt=False)
    entry = inbox.get(1)
    assert entry is not None and entry.attempts == 1 and entry.not_before == T0 + 600


def test_a_waiting_row_does_not_hide_others(inbox: TaskInbox) -> None:
    inbox.upsert(1, stash_updated_at=None, reason="hook", now=T0)
    inbox.upsert(2, stash_updated_at=None, reason="hook", now=T0 + 1)
    inbox.retry_later(1, T0 + 300, "later")
    assert [e.scene_id for e in inbox.due(10, now=T0 + 10)] == [2]
    assert inbox.has_due(now=T0 + 10)


def test_has_due_with_the_real_clock(inbox: TaskInbox) -> None:
    assert inbox.has_due() is False
    inbox.upsert(1, stash_updated_at=None, reason="hook")
    assert inbox.has_due() is True
    inbox.retry_later(1, time.time() + 3600, "later")
    assert inbox.has_due() is False
    inbox.retry_later(1, time.time() - 1, "now")
    assert inbox.has_due() is True


def test_release_orphans(inbox: TaskInbox) -> None:
    for sid in (1, 2, 3, 4):
        inbox.upsert(sid, stash_updated_at=None, reason="hook", now=T0 + sid)
    take(inbox, 1)
    take(inbox, 2)
    take(inbox, 4)
    inbox.park(4, 1, "failed", "x")
    assert inbox.release_orphans({1}) == 1
    states = {sid: inbox.get(sid).state for sid in (1, 2, 3, 4)}  # type: ignore[union-attr]
    assert states == {1: "queued", 2: "pending", 3: "pending", 4: "failed"}
    assert inbox.release_orphans({1}) == 0
    assert inbox.release_orphans(set()) == 1
    assert inbox.get(1).state == "pending"  # type: ignore[union-attr]


def test_counts(inbox: TaskInbox) -> None:
    assert inbox.counts() == {"pending": 0, "queued": 0, "failed": 0, "review": 0, "waiting_retry": 0}
    for sid in range(1, 8):
        inbox.upsert(sid, stash_updated_at=None, reason="hook", now=T0)
    take(inbox, 1)
    take(inbox, 2)
    inbox.park(3, 1, "failed", "x")
    inbox.park(4, 1, "review", "y")
    inbox.retry_later(5, time.time() + 3600, "later")
    assert inbox.counts() == {"pending": 3, "queued": 2, "failed": 1, "review": 1, "waiting_retry": 1}


def test_entries_by_state(inbox: TaskInbox) -> None:
    for sid in (3, 1, 2):
        inbox.upsert(sid, stash_updated_at=None, reason="hook", now=T0 + sid)
    inbox.park(3, 1, "failed", "x")
    inbox.park(1, 1, "failed", "y")
    assert [e.scene_id for e in inbox.entries("failed")] == [1, 3]
    assert [e.scene_id for e in inbox.entries("failed", limit=1)] == [1]
    assert [e.scene_id for e in inbox.entries("pending")] == [2]


def test_job_is_json_and_has_no_pqid(inbox: TaskInbox) -> None:
    inbox.upsert(8, stash_updated_at="2026-01-11T07:07:53Z", reason="hook", force=True, now=T0)
    entry = inbox.get(8)
    assert entry is not None
    job = json.loads(json.dumps(entry.job()))
    assert job == {
        "scene_id": 8,
        "generation": 1,
        "stash_updated_at": "2026-01-11T07:07:53Z",
        "queued_at": T0,
        "reason": "hook",
        "force": True,
    }
    assert "pqid" not in job


def test_text_with_quotes_is_stored_verbatim(inbox: TaskInbox, conn: sqlite3.Connection) -> None:
    nasty = "x'); DELETE FROM inbox; --"
    inbox.upsert(1, stash_updated_at=nasty, reason=nasty, now=T0)
    inbox.upsert(2, stash_updated_at=None, reason="hook", now=T0)
    inbox.retry_later(1, T0, nasty)
    entry = inbox.get(1)
    assert entry is not None
    assert entry.stash_updated_at == nasty and entry.reason == nasty and entry.last_error == nasty
    assert row_count(conn) == 2


# -- is_scene_in_queue --------------------------------------------------------------------------


def test_is_scene_in_queue_without_a_database(tmp_path: Path) -> None:
    assert is_scene_in_queue(tmp_path, 1) is False
    assert is_scene_in_queue(tmp_path / db.DB_NAME, 1) is False
    assert is_scene_in_queue(tmp_path / "no-such-dir", 1) is False
    assert not (tmp_path / db.DB_NAME).exists()  # asking does not create the file


def test_is_scene_in_queue_by_directory_or_file(tmp_path: Path) -> None:
    path = tmp_path / db.DB_NAME
    assert Path(database_path(tmp_path)) == path
    assert Path(database_path(path)) == path
    c = db.connect(path)
    try:
        box = TaskInbox(c)
        box.upsert(1, stash_updated_at=None, reason="hook", now=T0)
        box.upsert(2, stash_updated_at=None, reason="hook", now=T0)
        box.upsert(3, stash_updated_at=None, reason="hook", now=T0)
        take(box, 2)
        box.park(3, 1, "failed", "x")
    finally:
        c.close()
    for where in (tmp_path, path, str(tmp_path), str(path)):
        assert is_scene_in_queue(where, 1) is True  # pending
        assert is_scene_in_queue(where, 2) is True  # queued
        assert is_scene_in_queue(where, 3) is False  # failed is not in the queue
        assert is_scene_in_queue(where, 4) is False


# -- many processes -----------------------------------------------------------------------------

_HOOK = r"""
import json, sys
from queue.lease import enqueue_scenes
from sync import db

db_path, go_file, scene = sys.argv[1], sys.argv[2], int(sys.argv[3])
ready_then_wait(go_file)
conn = db.connect(db_path)
wake = enqueue_scenes(conn, [(scene, "2026-01-11T18:07:53+11:00")], reason="hook")
wake += enqueue_scenes(conn, [(scene, "2026-01-11T18:07:54+11:00")], reason="hook")
conn.close()
print(json.dumps({"scene": scene, "wake": wake}), flush=True)
"""


def test_fifty_processes_upserting_twice_each_leave_one_row_per_scene(tmp_path: Path) -> None:
    """50 hook processes, two per scene, each upserting its scene twice: 4 edits per scene."""
    path = tmp_path / db.DB_NAME
    go = tmp_path / "go"
    scenes, copies, upserts_per_process = 25, 2, 2
    results = run_together(
        _HOOK, [[str(path), str(go), str(1 + i % scenes)] for i in range(scenes * copies)], go
    )  # no database file exists yet: they also race to create it
    outputs = [(r.returncode, r.stdout, r.stderr) for r in results]

    wakes = 0
    for code, out, err in outputs:
        assert code == 0, err
        assert "Traceback" not in err and "locked" not in err, err
        wakes += json.loads(out.strip().splitlines()[-1])["wake"]
    assert wakes == 1  # exactly one hook asks Stash for a drain

    c = db.connect(path)
    try:
        rows = c.execute("SELECT scene_id, state, generation FROM inbox ORDER BY scene_id").fetchall()
    finally:
        c.close()
    assert rows == [(sid, "pending", copies * upserts_per_process) for sid in range(1, scenes + 1)]


# -- cost does not grow with the queue ----------------------------------------------------------


class RecordingConnection:
    """Passes statements through to SQLite and remembers them, to explain them afterwards."""

    def __init__(self, conn: db.PluginConnection) -> None:
        self.conn = conn
        self.statements: list[tuple[str, tuple]] = []
        # The tables were made when the connection opened; the wrapper shares that knowledge.
        self.ensured = conn.ensured

    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        self.statements.append((sql, tuple(params)))
        return self.conn.execute(sql, params)


def vm_steps(conn: sqlite3.Connection, action) -> int:
    """SQLite virtual-machine instructions executed by ``action``: a size-free cost measure."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 1)
    try:
        action()
    finally:
        conn.set_progress_handler(None, 1)
    return steps


def fill(conn: sqlite3.Connection, n: int) -> None:
    def work(c: sqlite3.Connection) -> None:
        c.executemany(
            "INSERT INTO inbox (scene_id, state, queued_at) VALUES (?, ?, ?)",
            ((sid, "pending" if sid % 3 else "failed", T0 + sid) for sid in range(1, n + 1)),
        )

    db.transaction(conn, work)


def hook_path_cost(conn: sqlite3.Connection, existing: int, new: int) -> dict[str, int]:
    box = TaskInbox(conn)
    return {
        "upsert_existing": vm_steps(
            conn, lambda: box.upsert(existing, stash_updated_at=None, reason="hook", now=T0)
        ),
        "upsert_new": vm_steps(conn, lambda: box.upsert(new, stash_updated_at=None, reason="hook", now=T0)),
        "pending_force": vm_steps(conn, lambda: box.pending_force(existing)),
        "is_active": vm_steps(conn, lambda: box.is_active(existing)),
    }


def test_upsert_uses_the_primary_key_at_100k_rows(tmp_path: Path) -> None:
    big = db.connect(tmp_path / "big.db")
    small = db.connect(tmp_path / "small.db")
    try:
        fill(big, 100_000)
        fill(small, 10)
        assert row_count(big) == 100_000

        recorder = RecordingConnection(big)
        box = TaskInbox(recorder)  # type: ignore[arg-type]
        box.upsert(50_000, stash_updated_at="2026-01-11T07:07:53Z", reason="hook", now=T0)
        box.upsert(200_001, stash_updated_at=None, reason="hook", now=T0)
        box.pending_force(50_000)
        box.is_active(200_001)
        assert row_count(big) == 100_001
        assert TaskInbox(big).get(50_000).generation == 2  # type: ignore[union-attr]

        assert recorder.statements
        for sql, params in recorder.statements:
            plan = [row[3] for row in big.execute("EXPLAIN QUERY PLAN " + sql, params)]
            assert not any(detail.startswith("SCAN") for detail in plan), (sql, plan)
            opcodes = [row[1] for row in big.execute("EXPLAIN " + sql, params)]
            # A full-table walk would open with Rewind/Last; a keyed access seeks instead.
            assert "Rewind" not in opcodes and "Last" not in opcodes, (sql, opcodes)
            assert {"NotExists", "SeekRowid"} & set(opcodes), (sql, opcodes)
            for detail in plan:
                assert "INTEGER PRIMARY KEY" in detail, (sql, plan)

        # The same work costs the same number of SQLite steps at 10 rows and at 100,000.
        big_cost = hook_path_cost(big, existing=5, new=300_000)
        small_cost = hook_path_cost(small, existing=5, new=300_000)
        for name, steps in small_cost.items():
            assert big_cost[name] <= steps + 10, (name, small_cost, big_cost)
    finally:
        big.close()
        small.close()


def test_due_check_uses_the_state_index_not_a_scan(tmp_path: Path) -> None:
    c = db.connect(tmp_path / db.DB_NAME)
    try:
        fill(c, 1_000)
        recorder = RecordingConnection(c)
        TaskInbox(recorder).has_due(now=T0)  # type: ignore[arg-type]
        (sql, params), = recorder.statements
        plan = [row[3] for row in c.execute("EXPLAIN QUERY PLAN " + sql, params)]
        assert plan and all(d.startswith("SEARCH") and "inbox_due" in d for d in plan), plan
    finally:
        c.close()


def test_module_exposes_the_active_states() -> None:
    assert inbox_module.ACTIVE_STATES == ("pending", "queued")


def test_back_from_an_outage_a_job_is_due_at_once_and_a_person_s_run_makes_every_job_due(
    inbox: TaskInbox,
) -> None:
    """Issue 16: a job the drain hands back when Plex is unreachable waits for no retry time, only
    behind the others; a run started by hand makes the per-item retry times due too."""
    for sid in (1, 2, 3):
        inbox.upsert(sid, stash_updated_at=None, reason="hook", now=T0 + sid)
    take(inbox, 1)
    inbox.return_unprocessed([1], "Plex at http://plex:32400 is unreachable", last=True)
    back = inbox.get(1)
    assert back is not None and (back.state, back.not_before, back.attempts) == ("pending", 0, 0)
    assert back.last_error == "Plex at http://plex:32400 is unreachable" and back.queued_at > T0 + 3
    assert [e.scene_id for e in inbox.due(10, now=T0 + 10)] == [2, 3, 1]

    take(inbox, 2)
    inbox.retry_later(2, T0 + 600, "Plex answered HTTP 503")  # one item's 5xx: a real wait
    take(inbox, 3)
    inbox.return_unprocessed([3], "the drain stopped")  # handed back unprocessed: keeps its place
    assert [e.scene_id for e in inbox.due(10, now=T0 + 10)] == [3, 1]
    assert inbox.make_all_due(T0 + 10) == 1
    assert [e.scene_id for e in inbox.due(10, now=T0 + 10)] == [2, 3, 1]
    assert inbox.make_all_due(T0 + 10) == 0
