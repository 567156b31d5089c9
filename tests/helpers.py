"""Helpers shared by the reliability, concurrency, bad-input and security suites.

They drive the plugin only through the stand-ins (tasks through FakeStash's job queue or its raw
runner, Plex through FakePlex) and read results from the Plex stand-in's state and request log
and from the plugin's own database file.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from queue import lease
from sync import db
from tests.conftest import PLEX_TOKEN

SETTING_DEFAULTS: dict[str, Any] = {
    "plex_library": "",
    "path_map": "",
    "strict_matching": True,
    "preserve_plex_edits": False,
    "tls_verify": True,
}


def ids(stash, kind: str, names: list[str]) -> list[str]:
    """Stash ids of performers, tags or groups by name, created when missing."""
    adder = {"performer": stash.add_performer, "tag": stash.add_tag, "group": stash.add_group}[kind]
    finder = {"performer": stash.find_performer, "tag": stash.find_tag, "group": stash.find_group}[kind]
    return [finder(n) or adder(n) for n in names]


def full_scene(stash, path: str, n: int = 1) -> str:
    """A scene with every field Plex shows set, named after ``n``."""
    return stash.add_scene(
        f"Scene {n}", [path], details=f"Details of scene {n}\nsecond line", date=f"2023-05-0{n % 9 + 1}",
        rating100=70 + n, studio=f"Studio {n}", performers=[f"Performer {n}", "Shared Star"],
        tags=[f"Tag {n}", "Shared Tag"], groups=[(f"Group {n}", 1)],
    )


def configure(stash, url: str, /, **settings: Any) -> None:
    """Every setting stored (as the first task run would write the defaults back); ``settings``
    override any of them, plex_url and plex_token included."""
    values = {"plex_url": url, "plex_token": PLEX_TOKEN, **SETTING_DEFAULTS}
    values.update(settings)
    stash.set_plugin_settings(values)


def run_task(stash, name: str, args: dict | None = None, timeout: float = 120):
    """Queue a task as the Tasks page does, wait for the queue to empty, return its run."""
    return stash.run_task_to_end(name, args, timeout)


def process_queue(stash, timeout: float = 120):
    return run_task(stash, "Process queue", timeout=timeout)


def hook_drain(stash, timeout: float = 120):
    """Process queue run as a hook asks Stash for it (its args_map): retry times hold, whereas a
    run started from the Tasks page (``process_queue``) takes every queued job."""
    from stash import queries

    return run_task(stash, "Process queue", dict(queries.HOOK_DRAIN_ARGS), timeout=timeout)


def drain_runs(stash) -> list:
    return [r for r in stash.task_runs() if r.args.get("mode") == "process_queue"]


def _rows(data_dir: Path, sql: str) -> list[dict]:
    conn = sqlite3.connect(Path(data_dir) / db.DB_NAME, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql)]
    finally:
        conn.close()


def inbox(data_dir: Path) -> dict[int, dict]:
    return {row["scene_id"]: row for row in _rows(data_dir, "SELECT * FROM inbox")}


def synced(data_dir: Path) -> dict[int, dict]:
    return {row["scene_id"]: row for row in _rows(data_dir, "SELECT * FROM sync_state")}


def fast_forward(data_dir: Path) -> None:
    """Let retry times pass instead of sleeping through backoff."""
    conn = sqlite3.connect(Path(data_dir) / db.DB_NAME, timeout=30)
    try:
        conn.execute("UPDATE inbox SET not_before = 0")
        conn.commit()
    finally:
        conn.close()


@contextmanager
def drain_held(data_dir: Path) -> Iterator[None]:
    """Hold the drain lease as a running drain would: hooks queue but start no drain task."""
    conn = db.connect(Path(data_dir) / db.DB_NAME)
    holder = f"{os.uname().nodename}:{os.getpid()}:test"
    lease.acquire(conn, holder, ttl=600)
    try:
        yield
    finally:
        lease.release(conn, holder)
        conn.close()


def queue_directly(data_dir: Path, stash, scene_ids: list[str], reason: str = "test") -> None:
    """Queue scenes exactly as a hook's enqueue does (same code), without a process per scene."""
    from queue.lease import enqueue_scenes

    conn = db.connect(Path(data_dir) / db.DB_NAME)
    try:
        rows = [(int(s), stash.scene(s)["updated_at"]) for s in scene_ids]
        enqueue_scenes(conn, rows, reason=reason)
        lease.forget_wake(conn)
    finally:
        conn.close()


def drain_until_idle(stash, data_dir: Path, *, max_runs: int = 30, deadline_s: float = 180,
                     fast: bool = True) -> list:
    """Run Process queue until the inbox is empty (bounded in runs and time); returns the runs."""
    runs: list[Any] = []
    give_up = time.monotonic() + deadline_s
    for _ in range(max_runs):
        stash.wait_for_jobs(max(1.0, give_up - time.monotonic()))
        if not inbox(data_dir):
            return runs
        if fast:
            fast_forward(data_dir)
        runs.append(process_queue(stash, timeout=max(1.0, give_up - time.monotonic())))
        if time.monotonic() > give_up:
            break
    stash.wait_for_jobs(30)
    return runs


def expected_plex_state(stash, scene_id: str, *, poster: bool = True) -> dict:
    """What Plex must show for the scene (plain data only: cleaning is tested elsewhere)."""
    scene = stash.scene(scene_id)
    state = {
        "title": scene["title"] or None,
        "summary": scene["details"] or None,
        "originallyAvailableAt": scene["date"],
        "studio": (scene["studio"] or {}).get("name"),
        "userRating": None if scene["rating100"] is None else f"{scene['rating100'] / 10:.1f}",
        "genre": sorted(t["name"] for t in scene["tags"]),
        "actor": sorted(p["name"] for p in scene["performers"]),
        "collection": sorted(g["group"]["name"] for g in scene["groups"]),
    }
    if poster:
        state["poster_sha1"] = hashlib.sha1(stash.cover(scene_id)).hexdigest()
    return state


def actual_plex_state(plex, rating_key: int, *, poster: bool = True) -> dict:
    item = plex.item(rating_key)
    state = {
        "title": item["title"],
        "summary": item["summary"],
        "originallyAvailableAt": item["originallyAvailableAt"],
        "studio": item["studio"],
        "userRating": item["userRating"],
        "genre": sorted(item["tags"]["genre"]),
        "actor": sorted(item["tags"]["actor"]),
        "collection": sorted(item["tags"]["collection"]),
    }
    if poster:
        state["poster_sha1"] = item["poster_sha1"]
    return state


def mismatches(stash, plex, scenes: dict[str, int], *, poster: bool = True) -> dict[str, tuple]:
    """Scenes whose Plex item differs from Stash: {scene: (expected, actual)}."""
    found = {}
    for scene, rk in scenes.items():
        want = expected_plex_state(stash, scene, poster=poster)
        have = actual_plex_state(plex, rk, poster=poster)
        if want != have:
            found[scene] = (want, have)
    return found


def title_puts(plex, rating_key: int) -> list[str]:
    """The title values PUT to one item, in the order Plex received them."""
    values = []
    for rec in sorted(plex.requests_for(rating_key), key=lambda r: r.time):
        if rec.method == "PUT" and rec.param("title.value") is not None:
            values.append(rec.param("title.value"))
    return values


def all_log_text(stash) -> str:
    """Every log line, output and error of every plugin run, for "never anywhere" checks."""
    parts: list[str] = []
    for run in stash.runs:
        parts.extend(message for _, message in run.logs)
        parts.append(str(run.error))
        parts.append(run.stderr.decode("utf-8", "replace"))
    return "\n".join(parts)


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def past_the_write_second() -> None:
    """Let Plex's clock pass the second of PlexSync's last write. Plex stamps whole seconds, so
    only a listing made after that second vouches for an item as PlexSync left it (before, the
    drain reads the item: 1 GET more); a test that counts a warm path's requests waits this out."""
    time.sleep(1.1)
