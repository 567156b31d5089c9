"""Path index build: wall time and peak RSS of the indexing process for a large Plex section.

The Plex stand-in runs in its own process (``python -m tests.standins.fake_plex --movies N``), so
the figures are the client's: one child process per run imports PlexSync, connects with plexapi,
builds ``plex_index.db`` from scratch with raw paged listings, and exits; its peak RSS comes from
the kernel (wait4). A baseline child that only imports and connects shows what Python and
plexapi cost before any indexing. Also measured: a refresh with nothing changed (one request),
and indexed lookups by exact path and by file name.

Prints a table and writes bench/results/plex_index-N.json. Targets (README): build <= 5 s and
peak RSS <= 150 MB for 50,000 items. No pass/fail here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-plex-token-31f5"


def child(mode: str, url: str, data_dir: str) -> None:
    """Runs in a fresh interpreter: the measured process."""
    sys.path.insert(0, str(REPO))
    started = time.perf_counter()
    from plex.client import connect
    from plex.index import PlexIndex
    from validation.config import PlexSyncConfig

    config = PlexSyncConfig(plex_url=url, plex_token=TOKEN)
    server = connect(config, Path(data_dir))
    imported = time.perf_counter()
    result: dict = {"import_connect_s": imported - started}
    if mode == "build":
        index = PlexIndex(data_dir)
        t0 = time.perf_counter()
        index.refresh(server, [])
        result["build_s"] = time.perf_counter() - t0
        result["items"] = index.item_count()
        result["listing_requests"] = index.listing_requests
        index.close()
        result["db_bytes"] = sum(p.stat().st_size for p in Path(data_dir).glob("plex_index.db*"))
    elif mode == "refresh":
        index = PlexIndex(data_dir)
        t0 = time.perf_counter()
        index.refresh(server, [])
        result["refresh_s"] = time.perf_counter() - t0
        result["listing_requests"] = index.listing_requests
        files = [r[0] for r in index.conn.execute("SELECT file FROM parts ORDER BY rating_key LIMIT 1000")]
        t0 = time.perf_counter()
        hits = sum(1 for f in files if index.by_path(f))
        result["exact_lookup_us"] = (time.perf_counter() - t0) / max(len(files), 1) * 1e6
        t0 = time.perf_counter()
        hits += sum(1 for f in files if index.by_basename("/elsewhere/" + os.path.basename(f).upper()))
        result["basename_lookup_us"] = (time.perf_counter() - t0) / max(len(files), 1) * 1e6
        result["lookup_hits"] = hits
        index.close()
    print(json.dumps(result), flush=True)


def run_child(mode: str, url: str, data_dir: str) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, url, data_dir],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child {mode} failed with exit code {proc.returncode}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux: kilobytes
    return result


def start_plex(items: int, seed: int) -> tuple[subprocess.Popen, str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.standins.fake_plex", "--movies", str(items), "--seed", str(seed),
         "--token", TOKEN, "--path-prefix", "/media/videos"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line:
        proc.kill()
        raise SystemExit("the Plex stand-in did not start")
    return proc, line.split()[0], time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50_000, help="movies in the Plex section")
    parser.add_argument("--runs", type=int, default=3, help="index builds (median reported)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "URL", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    plex, url, plex_start = start_plex(args.items, args.seed)
    work = Path(tempfile.mkdtemp(prefix="plexsync-bench-index-"))
    try:
        baseline = run_child("baseline", url, str(work / "baseline"))
        builds = []
        for run in range(args.runs):
            data_dir = work / f"run{run}"
            data_dir.mkdir()
            builds.append(run_child("build", url, str(data_dir)))
        refresh = run_child("refresh", url, str(work / "run0"))
    finally:
        plex.terminate()
        plex.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    def median(key: str) -> float:
        return statistics.median(b[key] for b in builds)

    rows = [
        ("Plex section size (items)", f"{builds[0]['items']:,}"),
        ("Plex stand-in start (separate process)", f"{plex_start:.1f} s"),
        ("Index build wall time (median)", f"{median('build_s'):.2f} s"),
        ("Index build, every run", ", ".join(f"{b['build_s']:.2f}" for b in builds) + " s"),
        ("Listing requests (pages of 1000)", f"{builds[0]['listing_requests']}"),
        ("Peak RSS of the indexing process (median)", f"{median('peak_rss_mb'):.0f} MB"),
        ("Peak RSS, import + connect only", f"{baseline['peak_rss_mb']:.0f} MB"),
        ("Index file size", f"{builds[0]['db_bytes'] / 1e6:.1f} MB"),
        ("Refresh with nothing changed", f"{refresh['refresh_s'] * 1000:.0f} ms, "
                                         f"{refresh['listing_requests']} listing requests"),
        ("Lookup by exact path", f"{refresh['exact_lookup_us']:.0f} µs"),
        ("Lookup by file name", f"{refresh['basename_lookup_us']:.0f} µs"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'PlexSync path index':<{width}}  result")
    print("-" * (width + 22))
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    results = {
        "items": builds[0]["items"], "build_s": builds, "baseline": baseline, "refresh": refresh,
        "median_build_s": median("build_s"), "median_peak_rss_mb": median("peak_rss_mb"),
        "python": sys.version.split()[0], "at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = REPO / "bench" / "results" / f"plex_index-{args.items}.json"  # per size, see bench_sync
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    ok = refresh["lookup_hits"] == 2 * min(1000, builds[0]["items"]) and builds[0]["items"] == args.items
    if not ok:
        print("index incomplete: some generated items were not found", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
