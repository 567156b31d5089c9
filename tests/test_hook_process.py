"""The hook process as Stash runs it, and what it may cost every save.

* The import budget (measured with ``-X importtime``, tests/hook_budget.py): a hook its input
  settles loads almost nothing; a scene hook loads the queue, the database and the GraphQL client,
  and never json, re, http.client, email, ssl, socket, typing, datetime or threading.
* An https Stash is reached over TLS, and only then is ssl loaded.
* The write-ahead log a hook leaves behind (it exits without closing its connection) stays short
  however many hooks run with nothing else holding the database.
* The hook commits with synchronous=NORMAL: an edit lost with its last transaction to a power cut
  is found again by the drain's catch-up and reaches Plex.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from queue import lease
from queue.inbox import is_scene_in_queue
from stash import queries
from sync import db
from sync.state import SyncState
from tests.helpers import drain_until_idle, inbox, process_queue, queue_directly
from tests.hook_budget import SCENE_CHANGE, SETTLED_BY_INPUT, hook_imports, over_budget

REPO = Path(__file__).resolve().parent.parent
HOLDER = f"{os.uname().nodename}:{os.getpid()}:test"


@contextmanager
def lease_held(data_dir: Path) -> Iterator[None]:
    """A drain "is running" (hooks start none), yet no connection stays open: every hook opens
    the database alone, as during a scan."""
    with closing(db.connect(data_dir / db.DB_NAME)) as conn:
        lease.acquire(conn, HOLDER, ttl=600)
    try:
        yield
    finally:
        with closing(db.connect(data_dir / db.DB_NAME)) as conn:
            lease.release(conn, HOLDER)


def synced_long_ago(data_dir: Path, *scene_ids: int) -> None:
    state = SyncState(str(data_dir / db.DB_NAME))
    for scene_id in scene_ids:
        state.update_success(scene_id, f"/library/metadata/{scene_id}", "2000-01-01T00:00:00Z", fetched_at=1.0)
    state.close()


def edit(scene_id: int, *fields: str) -> dict:
    return {"id": scene_id, "type": "Scene.Update.Post", "input": {"id": str(scene_id), **dict.fromkeys(fields, 1)},
            "inputFields": ["id", *fields]}


@pytest.mark.parametrize(("context", "budget", "action"), [
    (edit(5, "gallery_ids"), SETTLED_BY_INPUT, "skipped"),
    # organized shows in Plex only under organized_label: one stat of its mark (sync/paths.py).
    (edit(5, "organized"), SETTLED_BY_INPUT | {"sync", "sync.paths"}, "skipped"),
    ({"id": 0, "type": "Scene.Update.Post", "input": {"title": "x"}}, SETTLED_BY_INPUT, "skipped"),
    ({"id": 6, "type": "Scene.Create.Post", "input": None}, SCENE_CHANGE, "queued"),
    (edit(7, "title"), SCENE_CHANGE, "queued"),
    # Stash sends only the types PlexSync.yml lists; another is refused by hooks/handlers.py.
    ({"id": 5, "type": "Image.Update.Post", "input": {"id": "5", "title": "x"}}, SCENE_CHANGE, "skipped"),
], ids=["no field Plex shows", "organized, no organized_label", "no id", "a scan's new scene", "a scene never synced", "type not handled"])
def test_each_hook_loads_its_budget_and_nothing_more(data_dir: Path, context: dict, budget: frozenset,
                                                      action: str) -> None:
    with lease_held(data_dir):
        loaded, result = hook_imports(REPO, data_dir, context)
    assert result["error"] is None and result["output"]["action"] == action, result
    assert over_budget(loaded, budget) == {}


def test_an_edit_of_a_synced_scene_reads_its_timestamp_within_the_budget(fake_stash, data_dir: Path) -> None:
    scene = fake_stash.add_scene("Synced", ["/media/videos/synced.mp4"])
    synced_long_ago(data_dir, int(scene))
    with lease_held(data_dir):
        loaded, result = hook_imports(REPO, data_dir, edit(int(scene), "title"), fake_stash.server_connection())
    assert result["output"]["action"] == "queued", result
    asked = [d for d in fake_stash.received_documents if d.query == queries.SCENE_UPDATED_AT]
    assert [d.variables for d in asked] == [{"id": scene}]
    assert inbox(data_dir)[int(scene)]["stash_updated_at"] == fake_stash.scene(scene)["updated_at"]
    assert over_budget(loaded, SCENE_CHANGE) == {}


def test_an_https_stash_is_reached_over_tls_and_only_then_ssl_is_loaded(fake_stash, data_dir: Path,
                                                                        self_signed) -> None:
    fake_stash.serve_tls(*self_signed)
    scene = fake_stash.add_scene("Over TLS", ["/media/videos/tls.mp4"])
    synced_long_ago(data_dir, int(scene))
    connection = fake_stash.server_connection()
    assert connection["Scheme"] == "https"
    with lease_held(data_dir):
        loaded, result = hook_imports(REPO, data_dir, edit(int(scene), "title"), connection)
    assert result["error"] is None and result["output"]["action"] == "queued", result
    # The timestamp came over TLS (a failed read would queue the scene without it).
    assert inbox(data_dir)[int(scene)]["stash_updated_at"] == fake_stash.scene(scene)["updated_at"]
    assert "ssl" in loaded
    assert over_budget(loaded, SCENE_CHANGE, https=True) == {}


def wal_size(data_dir: Path) -> int:
    path = data_dir / f"{db.DB_NAME}-wal"
    return path.stat().st_size if path.exists() else 0


def test_the_log_hooks_leave_behind_stays_short(data_dir: Path) -> None:
    """Each hook exits without closing (no checkpoint, no fsync), so the next one reads the log
    back; once it has grown past WAL_LEAVE_BYTES a hook closes, which folds it into the file."""
    count = 45
    sizes = []
    with lease_held(data_dir):
        for scene_id in range(1, count + 1):
            _, result = hook_imports(REPO, data_dir, {"id": scene_id, "type": "Scene.Create.Post", "input": None})
            assert result["output"]["action"] == "queued"
            sizes.append(wal_size(data_dir))
    grew = [b for a, b in zip(sizes, sizes[1:], strict=False) if b > a]
    assert grew, sizes  # hooks did leave their log behind
    assert max(sizes) <= db.WAL_LEAVE_BYTES + 64 * 1024, sizes
    assert any(b < a for a, b in zip(sizes, sizes[1:], strict=False)), sizes  # and folded it when long
    assert all(is_scene_in_queue(data_dir, scene_id) for scene_id in range(1, count + 1))


def test_only_the_hook_commits_without_waiting_for_the_disk(tmp_path: Path) -> None:
    path = tmp_path / db.DB_NAME
    with closing(db.connect(path)) as task, closing(db.connect(path, synchronous="NORMAL")) as hook:
        assert task.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert hook.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_an_edit_lost_to_a_power_cut_is_found_by_the_catch_up(world, data_dir: Path, tmp_path: Path) -> None:
    stash, plex = world
    scene = stash.add_scene("Before the cut", ["/media/videos/cut.mp4"])
    rating_key = plex.add_movie(1, "plex cut", ["/media/videos/cut.mp4"])
    queue_directly(data_dir, stash, [scene])
    assert process_queue(stash).error is None
    stash.wait_for_jobs(60)
    assert plex.item(rating_key)["title"] == "Before the cut"

    database, log, index = (data_dir / f"{db.DB_NAME}{suffix}" for suffix in ("", "-wal", "-shm"))
    with lease_held(data_dir):
        assert not log.exists()  # every connection closed: the log was folded into the file
        before = database.read_bytes()
        stash.update_scene(scene, title="Edited just before the cut")
        hook = stash.hook_runs()[-1]
        assert hook.error is None and hook.output["action"] == "queued", hook.stderr
        # The hook committed into the log only, and without an fsync (synchronous=NORMAL).
        assert database.read_bytes() == before and log.stat().st_size > 0
        recorded = tmp_path / "recorded"
        recorded.mkdir()
        shutil.copy(database, recorded / db.DB_NAME)
        shutil.copy(log, recorded / f"{db.DB_NAME}-wal")
        with closing(sqlite3.connect(recorded / db.DB_NAME)) as copy:
            assert copy.execute("SELECT count(*) FROM inbox WHERE scene_id = ?", (int(scene),)).fetchone()[0] == 1
        # The power cut: what was not yet on the disk is gone, the log with it.
        log.unlink()
        index.unlink(missing_ok=True)
        assert int(scene) not in inbox(data_dir)

    # The next drain, whatever starts it (here: Process queue run by hand, with nothing queued).
    assert process_queue(stash).error is None
    drain_until_idle(stash, data_dir)
    assert plex.item(rating_key)["title"] == "Edited just before the cut"
    assert inbox(data_dir) == {}
