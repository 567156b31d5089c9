"""Sync throughput: N changed scenes through the real drain, against both stand-ins.

The Stash stand-in runs the real PlexSync.py as its "Process queue" task (a separate process,
exactly as Stash would), which talks to the Plex stand-in over HTTP with plexapi. N scenes are
queued with the hook's own enqueue function (N hook processes would measure the hook, see
bench_hook.py), then three drains are timed:

1. cold: first sync of every scene (index build, every field, poster uploads);
2. changed: every scene's title and details edited in Stash, synced again (the warm path);
3. unchanged: every scene queued again with nothing changed.

Plex requests are counted from the Plex stand-in's request log. Afterwards every Plex item is
compared with its Stash scene. Prints a table and writes bench/results/sync-N.json. The README's
aim is >= 50 scenes/s for phase 2 at N = 10,000; no pass/fail here beyond correctness.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from queue.lease import enqueue_scenes  # noqa: E402
from sync import db  # noqa: E402
from tests.standins.fake_plex import FakePlex  # noqa: E402
from tests.standins.fake_stash import FakeStash  # noqa: E402

TOKEN = "bench-plex-token-77a0"


def enqueue_all(data_dir: Path, stash: FakeStash, scene_ids: list[str]) -> None:
    conn = db.connect(data_dir / db.DB_NAME)
    try:
        for start in range(0, len(scene_ids), 500):
            batch = [(int(s), stash.scene(s)["updated_at"]) for s in scene_ids[start:start + 500]]
            enqueue_scenes(conn, batch, reason="bench")
    finally:
        conn.close()


def drain(stash: FakeStash, plex: FakePlex, n: int, timeout: float) -> dict:
    plex.clear_log()
    started = time.perf_counter()
    run = stash.run_task_to_end("Process queue", timeout=timeout)
    wall = time.perf_counter() - started
    if run is None or run.error:
        raise SystemExit(f"drain failed: {run.error if run else 'no run'}")
    log = plex.log_snapshot()
    item_requests = [r for r in log if r.path.startswith("/library/metadata/") or r.method == "PUT"]
    return {
        "scenes": n,
        "task_wall_s": wall,
        "drain_s": run.output["seconds"],
        "scenes_per_s": n / run.output["seconds"] if run.output["seconds"] else 0.0,
        "plex_requests": len(log),
        "plex_requests_per_scene": len(log) / n,
        "plex_item_requests_per_scene": len(item_requests) / n,
        "puts": sum(1 for r in log if r.method == "PUT"),
        "poster_uploads": sum(1 for r in log if r.method == "POST"),
        "output": run.output,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    n = args.scenes

    work = Path(tempfile.mkdtemp(prefix="plexsync-bench-sync-"))
    data_dir = work / "data"
    data_dir.mkdir()
    plex = FakePlex(token=TOKEN)
    plex.add_section(1, "Movies", "movie", ["/media/videos"])
    keys = plex.generate_movies(1, n, seed=7, path_prefix="/media/videos")
    plex.start()
    stash = FakeStash(REPO, env={"PLEXSYNC_DATA_DIR": str(data_dir)}, stash_dir=work / "stash",
                      process_timeout=args.timeout)
    stash.start()
    try:
        stash.set_plugin_settings({"plex_url": plex.url, "plex_token": TOKEN, "strict_matching": True,
                                   "preserve_plex_edits": False, "plex_library": "", "path_map": "",
                                   "tls_verify": True})
        t0 = time.perf_counter()
        scene_of: dict[str, int] = {}
        for i, rk in enumerate(keys):
            path = plex.item(rk)["files"][0]
            scene = stash.add_scene(
                f"Bench scene {i}", [path], details=f"Details {i}", date=f"20{i % 24:02d}-0{i % 9 + 1}-1{i % 9}",
                rating100=(i * 7) % 101, studio=f"Studio {i % 40}",
                performers=[f"Performer {i % 300}", f"Performer {(i * 13) % 300}"],
                tags=[f"Tag {i % 50}", f"Tag {(i * 3) % 50}", "Bench"], groups=[(f"Group {i % 30}", 1)],
            )
            scene_of[scene] = rk
        setup_s = time.perf_counter() - t0
        ids = list(scene_of)

        enqueue_all(data_dir, stash, ids)
        cold = drain(stash, plex, n, args.timeout)

        for scene in ids:
            stash.silent_update(scene, title=f"Changed {scene}", details=f"Changed details {scene}")
        enqueue_all(data_dir, stash, ids)
        changed = drain(stash, plex, n, args.timeout)

        enqueue_all(data_dir, stash, ids)
        unchanged = drain(stash, plex, n, args.timeout)

        mismatches = 0
        for scene, rk in scene_of.items():
            item = plex.item(rk)
            want = stash.scene(scene)
            if item["title"] != want["title"] or item["summary"] != want["details"] or \
                    sorted(item["tags"]["genre"]) != sorted(t["name"] for t in want["tags"]):
                mismatches += 1
        conn = sqlite3.connect(data_dir / db.DB_NAME)
        left = conn.execute("SELECT count(*) FROM inbox").fetchone()[0]
        synced = conn.execute("SELECT count(*) FROM sync_state").fetchone()[0]
        conn.close()
    finally:
        stash.stop()
        plex.stop()
        shutil.rmtree(work, ignore_errors=True)

    rows = [("cold (first sync, posters)", cold), ("changed (warm path)", changed), ("unchanged", unchanged)]
    print(f"PlexSync sync benchmark: {n:,} scenes (setup {setup_s:.1f} s)")
    header = f"{'phase':<28} {'drain s':>8} {'scenes/s':>9} {'Plex req/scene':>15} {'item req/scene':>15} {'PUTs':>7} {'posters':>8}"
    print(header)
    print("-" * len(header))
    for label, r in rows:
        print(f"{label:<28} {r['drain_s']:>8.1f} {r['scenes_per_s']:>9.0f} {r['plex_requests_per_scene']:>15.2f}"
              f" {r['plex_item_requests_per_scene']:>15.2f} {r['puts']:>7} {r['poster_uploads']:>8}")
    print(f"items differing from Stash afterwards: {mismatches}; jobs left: {left}; synced scenes: {synced}")
    out = REPO / "bench" / "results" / f"sync-{n}.json"  # per size: a smoke run keeps the full figures
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"scenes": n, "cold": cold, "changed": changed, "unchanged": unchanged,
                               "mismatches": mismatches, "jobs_left": left, "synced": synced,
                               "python": sys.version.split()[0], "at": time.strftime("%Y-%m-%d %H:%M:%S")},
                              indent=2) + "\n")
    return 0 if mismatches == 0 and left == 0 and synced == n else 1


if __name__ == "__main__":
    sys.exit(main())
