"""Watch state at library size (issue 18): what the play-state exchange costs a drain.

Against the stand-ins (the real PlexSync.py run by the Stash stand-in as Stash runs it, raw HTTP
and plexapi to the Plex stand-in), with N scenes bound to N Plex items in L libraries, first
synced by one drain:

1. **The first look** (watch_state turned on): every library listed once to count what was
   played before; nothing is copied.
2. **A drain with no plays**: its Plex and Stash requests with watch_state ``both`` against the
   same drain with ``off`` (the extra cost of the exchange).
3. **P plays in Plex** (each at its own time) among the N items, then *Sync watch state*: Stash
   mutations, Plex listings, the exchange's own time and the task's, every play in Stash
   exactly once.
4. **P plays in Stash**, then *Sync watch state*: the scrobbles, wall time.
5. **Two more drains**: nothing written either way (no echo).

Right after N scenes were synced every drain, with or without watch state, re-reads those minutes
on both sides (the catch-up's one-hour guard, the drift check's margin on Plex stamps): the
drain with ``off`` shows that part, the exchange's own time (measured inside the drain) the rest.

Prints a table and writes bench/results/watch-state-N.json. The targets are in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from queue.lease import enqueue_scenes  # noqa: E402
from sync import db  # noqa: E402
from tests.standins.fake_plex import FakePlex  # noqa: E402
from tests.standins.fake_stash import FakeStash  # noqa: E402
from validation.settings import DEFAULTS  # noqa: E402

TOKEN = "bench-plex-token-7e21"
PLAY_WRITES = ("/:/scrobble", "/:/unscrobble", "/:/progress")


def run_task(stash: FakeStash, plex: FakePlex, name: str, timeout: float) -> dict[str, Any]:
    plex.clear_log()
    mark = stash.document_mark()
    started = time.perf_counter()
    run = stash.run_task_to_end(name, timeout=timeout)
    wall = time.perf_counter() - started
    if run is None or run.error:
        raise SystemExit(f"{name} failed: {run.error if run else 'no run'}")
    log = plex.log_snapshot()
    documents = [d.query for d in stash.documents_since(mark)]
    output = run.output or {}
    drain = output.get("drain", output)
    return {
        "wall_s": round(wall, 2),
        # Listings that are not the drain's own look for edits made in Plex (updatedAt).
        "plex_listings": sum(1 for r in log if r.path.endswith("/all") and "updatedAt" not in r.query),
        "drain_s": drain.get("seconds"),
        "plex_requests": len(log),
        "plex_play_listings": sum(1 for r in log if "lastViewedAt" in r.query),
        "plex_history_requests": sum(1 for r in log if r.path.startswith("/status/sessions/history")),
        "plex_play_writes": sum(1 for r in log if r.path in PLAY_WRITES),
        "stash_requests": len(documents),
        "stash_play_queries": sum(1 for q in documents if "last_played_at" in q),
        "stash_mutations": sum(1 for q in documents if "sceneAddPlay" in q or "sceneSaveActivity" in q),
        "watch_state": output.get("watch_state") or (drain.get("convergence") or {}).get("watch_state"),
    }


def settings(plex: FakePlex, mode: str) -> dict[str, Any]:
    return {**DEFAULTS, "plex_url": plex.url, "plex_token": TOKEN, "watch_state": mode}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=10_000)
    parser.add_argument("--libraries", type=int, default=2)
    parser.add_argument("--plays", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    n, libraries, plays = args.scenes, max(1, args.libraries), min(args.plays, args.scenes)

    work = Path(tempfile.mkdtemp(prefix="plexsync-bench-watch-"))
    data_dir = work / "data"
    data_dir.mkdir()
    plex = FakePlex(token=TOKEN)
    keys: list[int] = []
    for number in range(1, libraries + 1):
        plex.add_section(number, f"Library {number}", "movie", [f"/media/lib{number}"])
        keys += plex.generate_movies(number, n // libraries + (1 if number <= n % libraries else 0),
                                     seed=number, path_prefix=f"/media/lib{number}")
    plex.start()
    stash = FakeStash(REPO, env={"PLEXSYNC_DATA_DIR": str(data_dir)}, stash_dir=work / "stash",
                      process_timeout=args.timeout)
    stash.start()
    results: dict[str, Any] = {"scenes": n, "libraries": libraries, "plays": plays}
    try:
        stash.set_plugin_settings(settings(plex, "off"))
        scene_of: dict[str, int] = {}
        for i, rk in enumerate(keys):
            scene_of[stash.add_scene(f"Bench scene {i}", [plex.item(rk)["files"][0]])] = rk
        for i, rk in enumerate(keys[::7][: n // 10]):  # plays from before the exchange began
            plex.play(rk, at=int(time.time()) - 86_400 - i)
        conn = db.connect(data_dir / db.DB_NAME)
        ids = list(scene_of)
        for start in range(0, n, 500):
            enqueue_scenes(conn, [(int(s), stash.scene(s)["updated_at"]) for s in ids[start:start + 500]],
                           reason="bench")
        conn.close()
        results["first_sync"] = run_task(stash, plex, "Process queue", args.timeout)

        stash.set_plugin_settings(settings(plex, "both"))
        results["first_look"] = run_task(stash, plex, "Sync watch state", args.timeout)
        run_task(stash, plex, "Process queue", args.timeout)
        results["quiet_both"] = run_task(stash, plex, "Process queue", args.timeout)
        stash.set_plugin_settings(settings(plex, "off"))
        results["quiet_off"] = run_task(stash, plex, "Process queue", args.timeout)
        stash.set_plugin_settings(settings(plex, "both"))

        step = max(1, n // plays)
        chosen = list(scene_of.items())[::step][:plays]
        now = int(time.time())
        for i, (_, rk) in enumerate(chosen):
            plex.play(rk, at=now - 600 + i)
        results["plex_plays"] = run_task(stash, plex, "Sync watch state", args.timeout)
        copied = sum(stash.play_history(scene) == [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 600 + i))]
                     for i, (scene, _) in enumerate(chosen))

        time.sleep(1.1)  # Stash stamps plays in whole seconds
        stash_chosen = list(scene_of.items())[step // 2::step][:plays]
        before = {rk: plex.play_state(rk)["viewCount"] for _, rk in stash_chosen}
        for scene, _ in stash_chosen:
            stash.add_play(scene)
        results["stash_plays"] = run_task(stash, plex, "Sync watch state", args.timeout)
        scrobbled = sum(plex.play_state(rk)["viewCount"] == before[rk] + 1 for _, rk in stash_chosen)

        results["after"] = [run_task(stash, plex, "Sync watch state", args.timeout) for _ in range(2)]
        results["plays_in_stash_exactly_once"] = copied
        results["scrobbled_exactly_once"] = scrobbled
        check = sqlite3.connect(data_dir / db.DB_NAME)
        results["unconfirmed_rows"] = check.execute("SELECT count(*) FROM watch_plays WHERE done = 0").fetchone()[0]
        check.close()
    finally:
        stash.stop()
        plex.stop()
        shutil.rmtree(work, ignore_errors=True)

    first, both, off = results["first_look"], results["quiet_both"], results["quiet_off"]
    from_plex, from_stash, after = results["plex_plays"], results["stash_plays"], results["after"]
    echo = sum(a["plex_play_writes"] + a["stash_mutations"] for a in after)
    print(f"PlexSync watch-state benchmark: {n:,} bound scenes in {libraries} libraries, {plays} plays "
          f"({time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]})")
    rows = [
        ("first look (counts only): Plex listings / wall", f"{first['plex_listings']} / {first['wall_s']:.1f} s",
         "once"),
        ("  plays copied either way", f"{first['plex_play_writes'] + first['stash_mutations']}", "0"),
        ("drain with no plays, both vs off: extra Plex requests",
         f"{both['plex_requests'] - off['plex_requests']} ({both['plex_play_listings']} listings)",
         f"<= {libraries}"),
        ("  extra Stash requests", f"{both['stash_requests'] - off['stash_requests']}", "<= 1"),
        ("  the exchange / the whole drain (off: the drain alone)",
         f"{both['watch_state']['seconds']:.2f} s / {both['wall_s']:.1f} s ({off['wall_s']:.1f} s)", ""),
        (f"{plays} plays in Plex: Stash mutations", f"{from_plex['stash_mutations']}", f"= {plays}"),
        ("  Plex play listings / history requests",
         f"{from_plex['plex_play_listings']} / {from_plex['plex_history_requests']}", f"{libraries} / 0"),
        ("  the exchange / the whole task", f"{from_plex['watch_state']['seconds']:.2f} s / {from_plex['wall_s']:.2f} s",
         "<= 5 s"),
        ("  plays in Stash exactly once", f"{results['plays_in_stash_exactly_once']}", f"= {plays}"),
        (f"{plays} plays in Stash: scrobbles / Stash mutations",
         f"{from_stash['plex_play_writes']} / {from_stash['stash_mutations']}", f"= {plays} / 0"),
        ("  the exchange / the whole task", f"{from_stash['watch_state']['seconds']:.2f} s / {from_stash['wall_s']:.2f} s",
         "<= 5 s"),
        ("  items played exactly once in Plex", f"{results['scrobbled_exactly_once']}", f"= {plays}"),
        ("two more drains: writes either way (echo)", f"{echo}", "0"),
        ("unconfirmed plays left", f"{results['unconfirmed_rows']}", "0"),
    ]
    for label, value, target in rows:
        print(f"{label:<56} {value:>26} {target:>12}")
    out = REPO / "bench" / "results" / f"watch-state-{n}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    ok = (results["plays_in_stash_exactly_once"] == plays and results["scrobbled_exactly_once"] == plays
          and echo == 0 and results["unconfirmed_rows"] == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PLEXSYNC_BENCH", "1")
    sys.exit(main())
