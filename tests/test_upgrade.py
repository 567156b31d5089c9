"""Upgrading a data folder made by the release before the ledger (commit 2808450, 0.1.0): every
queued job and every sync_state row survives, the new columns and tables appear in place, and
the first drain syncs what was queued. The old release's schema is written out below as it
shipped, so this keeps testing that upgrade however the schema moves on.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from sync.timestamps import parse_instant
from tests.helpers import inbox, process_queue, synced

pytestmark = pytest.mark.usefixtures("leak_scan")

RELEASE_0_1_0_SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_state (
    scene_id INTEGER PRIMARY KEY,
    last_synced_at REAL NOT NULL,
    last_sync_status TEXT NOT NULL,
    plex_item_key TEXT,
    updated_at REAL NOT NULL,
    stash_updated_at TEXT,
    stash_updated_ts REAL,
    fetched_at REAL,
    payload_hash TEXT,
    poster_hash TEXT
);
CREATE TABLE IF NOT EXISTS inbox (
    scene_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'pending',
    generation INTEGER NOT NULL DEFAULT 1,
    stash_updated_at TEXT,
    queued_at REAL NOT NULL,
    reason TEXT NOT NULL DEFAULT 'hook',
    force INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS inbox_due ON inbox(state, not_before);
CREATE TABLE IF NOT EXISTS drain (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    heartbeat REAL,
    expires REAL,
    wake_requested_at REAL
);
INSERT OR IGNORE INTO drain(id) VALUES (1);
CREATE TABLE IF NOT EXISTS error_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    scene_id INTEGER,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""


def build_old_data_folder(data_dir: Path, stash, plex) -> dict[str, tuple[str, int]]:
    """What 0.1.0 left behind: two scenes synced, one queued, one failed, a cursor, an error."""
    lib = {}
    for name in ("synced", "queued", "failed"):
        path = f"/media/videos/{name}.mp4"
        lib[name] = (stash.add_scene(f"Scene {name}", [path], details=f"{name} text"),
                     plex.add_movie(1, name, [path]))
    conn = sqlite3.connect(data_dir / "plexsync.db")
    conn.executescript(RELEASE_0_1_0_SCHEMA)
    conn.execute("PRAGMA journal_mode=WAL")
    now = time.time()
    synced_scene, synced_rk = lib["synced"]
    stamp = stash.scene(synced_scene)["updated_at"]
    conn.execute(  # (0.1.0 stored the stamp's instant too, and read the scene after it)
        "INSERT INTO sync_state VALUES (?, ?, 'success', ?, ?, ?, ?, ?, 'old-hash', NULL)",
        (int(synced_scene), now, str(synced_rk), now, stamp, parse_instant(stamp), now + 5),
    )
    conn.execute("INSERT INTO inbox (scene_id, stash_updated_at, queued_at, reason) VALUES (?, ?, ?, 'hook')",
                 (int(lib["queued"][0]), stash.scene(lib["queued"][0])["updated_at"], now - 30))
    conn.execute("INSERT INTO inbox (scene_id, state, stash_updated_at, queued_at, attempts, last_error)"
                 " VALUES (?, 'failed', ?, ?, 3, 'x')",
                 (int(lib["failed"][0]), stash.scene(lib["failed"][0])["updated_at"], now - 20))
    conn.execute("INSERT INTO meta VALUES ('sync_recent.cursor', ?)", (stash.scene(synced_scene)["updated_at"],))
    conn.execute("INSERT INTO meta VALUES ('sync_recent.related_handled', '{\"tag:1\": \"2026-01-11T07:07:53Z\"}')")
    conn.execute("INSERT INTO error_log (at, scene_id, message) VALUES (?, ?, 'an old error')", (now, int(lib["failed"][0])))
    conn.commit()
    conn.close()
    return lib


def test_a_data_folder_from_0_1_0_is_upgraded_in_place(linked, data_dir: Path) -> None:
    stash, plex = linked
    lib = build_old_data_folder(data_dir, stash, plex)
    before = synced(data_dir)
    queued_before = inbox(data_dir)

    run = process_queue(stash)
    assert run.error is None, run.logs
    assert run.output["written"] == 1  # the job 0.1.0 had queued
    rows = inbox(data_dir)
    assert set(rows) == {int(lib["failed"][0])}  # the queued one done, the failed one kept as it was
    assert rows[int(lib["failed"][0])]["state"] == "failed" and rows[int(lib["failed"][0])]["attempts"] == 3
    assert rows[int(lib["failed"][0])]["plex_wait"] is None  # the column 0.1.0 lacked, in place
    after = synced(data_dir)
    old_row = before[int(lib["synced"][0])]
    assert {k: after[int(lib["synced"][0])][k] for k in old_row} == old_row  # untouched
    assert int(lib["queued"][0]) in after and int(lib["queued"][0]) not in before
    assert set(queued_before) == {int(lib["queued"][0]), int(lib["failed"][0])}
    assert plex.item(lib["queued"][1])["summary"] == "queued text"

    conn = sqlite3.connect(data_dir / "plexsync.db")
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        ledger = conn.execute("SELECT scene_id FROM ledger").fetchall()
        errors = conn.execute("SELECT message FROM error_log").fetchall()
    finally:
        conn.close()
    assert {"sync_state", "inbox", "drain", "error_log", "meta", "ledger"} <= tables
    assert (int(lib["queued"][0]),) in ledger
    assert ("an old error",) in errors

    # A scene 0.1.0 synced has no ledger row: Sync all compares it in full once (one GET), and
    # from then on it is known.
    plex.clear_log()
    full = __import__("tests.helpers", fromlist=["run_task"]).run_task(stash, "Sync all scenes")
    assert full.error is None and full.output["differed_in_stash"] >= 1
    assert [r.method for r in plex.requests_for(lib["synced"][1])][:1] == ["GET"]
