"""New files reaching Plex on their own: N files in F folders, identified in Stash before Plex
scanned them, synced by one drain that asks Plex for partial scans.

The Plex stand-in holds the files on disk; they enter its library only when a scan of their
folder (``/library/sections/{id}/refresh?path=...``) finishes, after a scan delay. The drain,
started by the hooks as Stash would, must ask for at most one scan per folder, wait while Plex
reports the scans running (``/activities``), and write every scene in the same run.

Prints a table and writes bench/results/new-files-N.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from queue import lease  # noqa: E402
from queue.lease import enqueue_scenes  # noqa: E402
from sync import db  # noqa: E402
from tests.standins.fake_plex import FakePlex  # noqa: E402
from tests.standins.fake_stash import FakeStash  # noqa: E402

TOKEN = "bench-plex-token-5e02"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--folders", type=int, default=20)
    parser.add_argument("--scan-delay", type=float, default=2.0, help="seconds a Plex scan takes")
    args = parser.parse_args(argv)
    n, folders = args.files, args.folders

    work = Path(tempfile.mkdtemp(prefix="plexsync-bench-new-"))
    data_dir = work / "data"
    data_dir.mkdir()
    plex = FakePlex(token=TOKEN)
    plex.add_section(1, "Movies", "movie", ["/media/videos"])
    plex.add_movie(1, "already there", ["/media/videos/old/old.mp4"])
    plex.set_scan_delay(args.scan_delay)
    plex.start()
    stash = FakeStash(REPO, env={"PLEXSYNC_DATA_DIR": str(data_dir)}, stash_dir=work / "stash")
    stash.start()
    try:
        stash.set_plugin_settings({"plex_url": plex.url, "plex_token": TOKEN})
        scenes = []
        for i in range(n):
            path = f"/media/videos/new{i % folders:02d}/file{i:04d}.mp4"
            plex.add_file_on_disk(1, path)
            scenes.append(stash.add_scene(f"New scene {i}", [path], details=f"Identified {i}"))
        # Identify filled them while a drain was busy elsewhere: all queued, one drain to run.
        conn = db.connect(data_dir / db.DB_NAME)
        enqueue_scenes(conn, [(int(s), stash.scene(s)["updated_at"]) for s in scenes], reason="bench")
        lease.forget_wake(conn)
        conn.close()
        plex.clear_log()
        started = time.perf_counter()
        run = stash.run_task_to_end("Process queue", timeout=600)
        wall = time.perf_counter() - started
        if run is None or run.error:
            raise SystemExit(f"drain failed: {run.error if run else 'no run'}")
        scans = plex.scan_requests()
        written = run.output["written"]
        left = plex.on_disk_files()
        activities = sum(1 for r in plex.log_snapshot() if r.path == "/activities")
        result = {"files": n, "folders": folders, "scan_delay_s": args.scan_delay, "drain_wall_s": wall,
                  "scan_requests": len(scans), "whole_library_scans": sum(1 for r in scans if not r.param("path")),
                  "written_in_one_drain": written, "activities_polls": activities, "files_left_on_disk": len(left),
                  "output": run.output}
    finally:
        stash.stop()
        plex.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"PlexSync new-files benchmark: {n} new files in {folders} folders, Plex scans take {args.scan_delay:.1f} s")
    rows = [
        ("partial-scan requests (whole-library scans)", f"{result['scan_requests']} ({result['whole_library_scans']})",
         f"<= {folders} (0)"),
        ("scenes written by the one drain", f"{written}", f"= {n}"),
        ("drain wall time", f"{wall:.1f} s", ""),
        ("/activities polls while waiting", f"{activities}", ""),
    ]
    for label, value, target in rows:
        print(f"{label:<46} {value:>16} {target:>12}")
    out = REPO / "bench" / "results" / f"new-files-{n}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if written == n and result["scan_requests"] <= folders and not result["whole_library_scans"] else 1


if __name__ == "__main__":
    sys.exit(main())
