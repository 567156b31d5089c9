"""sync.state.SyncState: the seed's API, row semantics, threads and processes on one SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sync import db
from sync.state import SyncRecord, SyncState
from tests.processes import run_together


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "plexsync.db"


@pytest.fixture
def state(db_path: Path) -> Iterator[SyncState]:
    s = SyncState(str(db_path))
    try:
        yield s
    finally:
        s.close()


# -- the seed's API (plan 05-01's verification command) -------------------------------------


def test_seed_verification_semantics() -> None:
    path = tempfile.mktemp(suffix=".db")
    try:
        before = time.time()
        s = SyncState(path)
        s.update_success(123, "/library/123")
        synced_at = s.get_last_synced_at(123)
        after = time.time()
        assert synced_at is not None
        assert before <= synced_at <= after
        assert s.get_last_synced_at(999) is None
        s.close()
        assert os.path.exists(path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)


def test_constructor_creates_the_file_and_schema(db_path: Path) -> None:
    """Each table is defined by its owner; once the owners are imported (the hook and every task
    import them), opening the database through SyncState creates them all."""
    import queue.inbox
    import queue.lease  # noqa: F401
    import sync.error_log
    import sync.meta  # noqa: F401

    assert not db_path.exists()
    s = SyncState(str(db_path))
    s.close()
    raw = sqlite3.connect(db_path)
    try:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        mode = raw.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        raw.close()
    assert {"sync_state", "inbox", "drain", "error_log", "meta"} <= tables
    assert mode == "wal"


def test_unusable_path_fails_early_with_database_error(tmp_path: Path) -> None:
    with pytest.raises(db.DatabaseError):
        SyncState(str(tmp_path / "missing-dir" / "plexsync.db"))


def test_a_corrupt_file_fails_with_a_message_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plexsync.db"
    path.write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(db.DatabaseError) as info:
        SyncState(str(path))
    assert str(path) in str(info.value)


# -- row semantics ------------------------------------------------------------------------------


def test_upsert_keeps_one_row_with_the_latest_values(state: SyncState) -> None:
    state.update_success(5, "/library/metadata/1", "2026-01-11T18:07:53+11:00", payload_hash="a")
    first = state.get(5)
    state.update_success(5, "/library/metadata/2", "2026-01-11T18:09:00+11:00", payload_hash="b")
    second = state.get(5)
    assert first is not None and second is not None
    assert state.count() == 1
    assert state.scene_ids() == [5]
    assert second.plex_item_key == "/library/metadata/2"
    assert second.stash_updated_at == "2026-01-11T18:09:00+11:00"
    assert second.payload_hash == "b"
    assert second.last_synced_at >= first.last_synced_at
    rows = state.connection.execute("SELECT count(*) FROM sync_state WHERE scene_id = 5").fetchone()
    assert rows[0] == 1


def test_update_stores_the_stamp_as_given_and_its_instant(state: SyncState) -> None:
    state.update_success(
        9,
        "/library/metadata/90",
        "2026-01-11T18:07:53+11:00",
        fetched_at=1_768_115_300.25,
        payload_hash="p" * 64,
        poster_hash="q" * 64,
    )
    record = state.get(9)
    assert isinstance(record, SyncRecord)
    assert record.scene_id == 9
    assert record.status == "success"
    assert record.plex_item_key == "/library/metadata/90"
    assert record.stash_updated_at == "2026-01-11T18:07:53+11:00"  # verbatim, zone kept
    assert record.stash_updated_ts == datetime(2026, 1, 11, 7, 7, 53, tzinfo=timezone.utc).timestamp()
    assert record.fetched_at == 1_768_115_300.25
    assert record.payload_hash == "p" * 64
    assert record.poster_hash == "q" * 64


def test_update_without_stamp_or_fetch_time(state: SyncState) -> None:
    before = time.time()
    state.update_success(3, "/library/metadata/3")
    after = time.time()
    record = state.get(3)
    assert record is not None
    assert record.stash_updated_at is None
    assert record.stash_updated_ts is None
    assert record.fetched_at is not None and before <= record.fetched_at <= after


def test_unparseable_stamp_is_kept_but_has_no_instant(state: SyncState) -> None:
    state.update_success(4, "/library/metadata/4", "yesterday")
    record = state.get(4)
    assert record is not None
    assert record.stash_updated_at == "yesterday"
    assert record.stash_updated_ts is None


def test_scene_id_given_as_text_is_stored_as_integer(state: SyncState) -> None:
    state.update_success("42", "/library/metadata/42")  # type: ignore[arg-type]
    assert state.scene_ids() == [42]
    assert state.get(42) is not None
    assert state.get_last_synced_at("42") is not None  # type: ignore[arg-type]


def test_forget_removes_only_that_scene(state: SyncState) -> None:
    state.update_success(1, "/library/metadata/1")
    state.update_success(2, "/library/metadata/2")
    state.forget(1)
    assert state.get(1) is None
    assert state.get_last_synced_at(1) is None
    assert state.get(2) is not None
    assert state.count() == 1
    state.forget(12345)  # unknown scene: nothing to do, no error
    assert state.scene_ids() == [2]


def test_update_and_forget_join_a_callers_transaction(state: SyncState) -> None:
    state.update_success(1, "/library/metadata/1")

    class Abort(Exception):
        pass

    def work(conn: sqlite3.Connection) -> None:
        state.update_success(2, "/library/metadata/2", conn=conn)
        state.forget(1, conn=conn)
        assert state.get(2) is not None  # visible inside the transaction (same connection)
        raise Abort

    with pytest.raises(Abort):
        db.transaction(state.connection, work)
    assert state.get(2) is None
    assert state.get(1) is not None

    db.transaction(state.connection, lambda c: state.update_success(2, "/k", conn=c))
    record = state.get(2)
    assert record is not None and record.plex_item_key == "/k"


@pytest.mark.parametrize(
    "key",
    [
        "/library/metadata/1'; DROP TABLE sync_state; --",
        'quote " and \' both',
        "'",
        "Robert'); DELETE FROM sync_state WHERE ('1'='1",
    ],
)
def test_values_with_quotes_are_stored_verbatim(state: SyncState, key: str) -> None:
    state.update_success(77, "/library/metadata/0")
    state.update_success(1, key, key, payload_hash=key, poster_hash=key)
    record = state.get(1)
    assert record is not None
    assert record.plex_item_key == key
    assert record.stash_updated_at == key
    assert record.payload_hash == key
    assert record.poster_hash == key
    assert sorted(state.scene_ids()) == [1, 77]  # nothing else was touched


# -- threads ------------------------------------------------------------------------------------


def test_each_thread_has_its_own_connection_and_close_closes_them_all(state: SyncState) -> None:
    threads_n, per_thread = 8, 25
    barrier = threading.Barrier(threads_n)
    connections: dict[int, sqlite3.Connection] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            conn = state.connection
            assert state.connection is conn  # stable within a thread
            barrier.wait(timeout=30)
            for i in range(per_thread):
                scene = index * 1000 + i
                state.update_success(scene, f"/library/metadata/{scene}", fetched_at=float(scene))
            with lock:
                connections[index] = conn
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            with lock:
                errors.append(exc)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads_n)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in workers)
    assert errors == []

    main_conn = state.connection
    ids = {id(c) for c in connections.values()} | {id(main_conn)}
    assert len(ids) == threads_n + 1

    expected = {i * 1000 + j for i in range(threads_n) for j in range(per_thread)}
    assert set(state.scene_ids()) == expected
    for scene in expected:
        record = state.get(scene)
        assert record is not None and record.plex_item_key == f"/library/metadata/{scene}"

    state.close()
    for conn in [*connections.values(), main_conn]:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    with pytest.raises(db.DatabaseError):
        state.get(1)

    # Another thread cannot get a fresh connection after close either.
    seen: list[BaseException] = []

    def late() -> None:
        try:
            state.update_success(1, "/k")
        except BaseException as exc:  # noqa: BLE001
            seen.append(exc)

    t = threading.Thread(target=late)
    t.start()
    t.join(timeout=30)
    assert len(seen) == 1 and isinstance(seen[0], db.DatabaseError)


def test_rows_written_by_one_instance_are_seen_by_another(db_path: Path) -> None:
    a = SyncState(str(db_path))
    b = SyncState(str(db_path))
    try:
        assert b.get_last_synced_at(10) is None  # b has an open connection and read first
        a.update_success(10, "/library/metadata/10")
        assert b.get_last_synced_at(10) is not None
    finally:
        a.close()
        b.close()


# -- processes ----------------------------------------------------------------------------------

_WRITER = r"""
import json, sys
from sync.state import SyncState

db_path, go_file, index, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ready_then_wait(go_file)
s = SyncState(db_path)
for i in range(count):
    scene = index * 1000 + i
    s.update_success(scene, f"/library/metadata/{scene}", "2026-01-11T18:07:53+11:00",
                     fetched_at=float(index))
    s.update_success(0, f"/library/metadata/shared-{index}-{i}")  # every writer hits one row too
s.close()
print(json.dumps({"index": index, "written": count}), flush=True)
"""


def test_many_processes_write_concurrently_without_lock_errors(tmp_path: Path) -> None:
    path = tmp_path / "plexsync.db"
    processes, per_process = 8, 50
    results = run_together(
        _WRITER,
        [[str(path), str(tmp_path / "go"), str(i + 1), str(per_process)] for i in range(processes)],
        tmp_path / "go",
    )
    for r in results:
        assert r.returncode == 0, r.stderr
        assert "locked" not in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert json.loads(r.stdout.strip().splitlines()[-1])["written"] == per_process

    s = SyncState(str(path))
    try:
        expected = {i * 1000 + j for i in range(1, processes + 1) for j in range(per_process)}
        assert set(s.scene_ids()) == expected | {0}
        assert s.count() == processes * per_process + 1
        for i in range(1, processes + 1):
            record = s.get(i * 1000 + per_process - 1)
            assert record is not None
            assert record.fetched_at == float(i)
            assert record.stash_updated_ts == datetime(
                2026, 1, 11, 7, 7, 53, tzinfo=timezone.utc
            ).timestamp()
        shared = s.get(0)
        assert shared is not None
        assert shared.plex_item_key.startswith("/library/metadata/shared-")
        assert shared.plex_item_key.endswith(f"-{per_process - 1}")  # some writer's last write
    finally:
        s.close()
