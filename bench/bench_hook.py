"""Hook cost: what a Stash user pays per edited scene, and how the queue holds up under bursts.

Measures, against the Stash stand-in on 127.0.0.1 and with the same interpreter:
  * hook process wall time (interpreter start to exit) and peak RSS, median of --runs, next to
    the floor `python -c "import json, sqlite3, http.client"`;
  * the enqueue transaction with 0 and with 100,000 jobs already queued;
  * a 500-scene bulk edit (500 hook processes one after another, as Stash runs them) and 50 hook
    processes started at once for 25 scenes (each twice): jobs queued, lost, "locked" failures.
A drain is kept "running" (the bench holds the lease) so no drain task competes for the CPU.
Prints a table and writes bench/results/hook.json. No pass/fail: targets are in the README.
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
from typing import Any, cast

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from queue import lease  # noqa: E402
from queue.inbox_tasks import TaskInbox  # noqa: E402
from queue.lease import enqueue_scenes  # noqa: E402
from sync import db  # noqa: E402
from sync.state import SyncState  # noqa: E402
from tests.standins.fake_stash import FakeStash  # noqa: E402


def run_child(argv: list[str], stdin: bytes, env: dict[str, str]) -> tuple[float, int, bytes]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdin and proc.stdout
    proc.stdin.write(stdin)
    proc.stdin.close()
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return time.perf_counter() - start, usage.ru_maxrss, out


def hook_stdin(connection: dict, scene_id: str, *, create: bool = False) -> bytes:
    """Stash's stdin for an edit's Scene.Update.Post, or (``create``) a scan's Scene.Create.Post."""
    context: dict[str, object] = {
        "id": int(scene_id), "type": "Scene.Update.Post",
        "input": {"id": scene_id, "title": f"Edited {scene_id}"}, "inputFields": ["id", "title"],
    }
    if create:
        context = {"id": int(scene_id), "type": "Scene.Create.Post", "input": None}
    return json.dumps({"server_connection": connection, "args": {"hookContext": context}}).encode()


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def bench_enqueue(work: Path, samples: int) -> dict[str, float]:
    """One enqueue transaction into an empty inbox and into one holding 100,000 jobs.

    The two are measured alternately, so load from anything else on the machine hits both alike.
    """
    empty = db.connect(work / "empty.db")
    full = db.connect(work / "full.db")
    full.execute("BEGIN")
    full.executemany(
        "INSERT INTO inbox (scene_id, queued_at, stash_updated_at) VALUES (?, ?, ?)",
        ((i, time.time(), "2026-01-01T00:00:00Z") for i in range(1, 100_001)),
    )
    full.execute("COMMIT")
    full.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    times: dict[str, list[float]] = {"empty": [], "full": []}
    for i in range(samples):
        for name, conn in (("empty", empty), ("full", full)):
            start = time.perf_counter()
            enqueue_scenes(conn, [(20_000_000 + i, "2026-01-01T00:00:00Z")], reason="bench")
            times[name].append(time.perf_counter() - start)
    empty.close()
    full.close()
    e, f = statistics.median(times["empty"]), statistics.median(times["full"])
    return {"empty_ms": e * 1000, "with_100k_ms": f * 1000, "ratio": f / e}


def peak_rss_kib(argv: list[str], stdin: bytes, env: dict[str, str]) -> int | None:
    """Peak RSS of one run, measured by GNU time.

    wait4() from this process would over-report: Linux charges a vfork'd child the parent's
    high-water mark at exec, and this parent holds the Stash stand-in.
    """
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if not gnu_time:
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        subprocess.run([gnu_time, "-f", "%M", "-o", report.name, *argv], input=stdin, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return int(report.read().strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--bulk", type=int, default=500)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--enqueue-samples", type=int, default=300)
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="run the plugin as a fresh, read-only install would: its modules compiled "
                             "on every run (no __pycache__ read or written)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="plexsync-bench-"))
    data_dir = work / "data"
    data_dir.mkdir()
    env = {**os.environ, "PLEXSYNC_DATA_DIR": str(data_dir)}
    env.pop("PYTHONPATH", None)
    if args.no_bytecode_cache:
        for cache in REPO.rglob("__pycache__"):
            if ".venv" not in cache.parts:
                shutil.rmtree(cache, ignore_errors=True)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:  # as after the first run of an installed plugin: its modules compiled once, cached
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        import compileall

        for package in ("hooks", "queue", "stash", "sync"):
            compileall.compile_dir(str(REPO / package), quiet=1)
    python = sys.executable
    results: dict[str, object] = {"date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0],
                                  "bytecode_cache": not args.no_bytecode_cache}

    with FakeStash(REPO, env=env, stash_dir=work / "stash") as stash:
        scene_ids = [stash.add_scene(f"Scene {i}", [f"/media/videos/{i}.mp4"])
                     for i in range(max(args.bulk, 2 * args.runs, args.burst))]
        connection = stash.server_connection()
        conn = db.connect(data_dir / db.DB_NAME)
        # The edited scenes were synced before (an hour ago): the hook reads each one's timestamp
        # from Stash, as for every edit of a scene Plex already has. The created ones are new.
        state = SyncState(str(data_dir / db.DB_NAME))
        for scene_id in scene_ids:
            state.update_success(int(scene_id), f"/library/metadata/{scene_id}", "2000-01-01T00:00:00Z",
                                 fetched_at=time.time() - 3600)
        for scene_id in scene_ids[args.runs : 2 * args.runs]:
            state.forget(int(scene_id))
        state.close()
        # Pretend a drain is running: hooks then never ask Stash to start one.
        lease.acquire(conn, f"{os.uname().nodename}:{os.getpid()}:bench", ttl=3600)

        floor, hook, create = [], [], []
        for i in range(args.runs):  # alternate, so machine load hits all alike
            wall, _, _ = run_child([python, "-c", "import json, sqlite3, http.client"], b"", env)
            floor.append(wall)
            wall, _, out = run_child([python, str(REPO / "PlexSync.py")], hook_stdin(connection, scene_ids[i]), env)
            assert json.loads(out)["output"]["action"] == "queued", out
            hook.append(wall)
            new_scene = scene_ids[args.runs + i]  # a scene the scan just created
            wall, _, out = run_child([python, str(REPO / "PlexSync.py")],
                                     hook_stdin(connection, new_scene, create=True), env)
            assert json.loads(out)["output"]["action"] == "queued", out
            create.append(wall)
        rss_hook = [peak_rss_kib([python, str(REPO / "PlexSync.py")], hook_stdin(connection, scene_ids[i]), env)
                    for i in range(5)]
        rss_floor = peak_rss_kib([python, "-c", "import json, sqlite3, http.client"], b"", env)
        results["hook"] = {
            "floor_median_ms": median_ms(floor), "hook_median_ms": median_ms(hook),
            "ratio": statistics.median(hook) / statistics.median(floor),
            "create_median_ms": median_ms(create),
            "create_ratio": statistics.median(create) / statistics.median(floor),
            "hook_peak_rss_mb": max(r or 0 for r in rss_hook) / 1024 if all(rss_hook) else None,
            "floor_peak_rss_mb": rss_floor / 1024 if rss_floor else None,
        }
        conn.execute("DELETE FROM inbox")

        # Bulk edit: one hook process per scene, one after another, as Stash runs them.
        start = time.perf_counter()
        errors = 0
        for scene_id in scene_ids[: args.bulk]:
            _, _, out = run_child([python, str(REPO / "PlexSync.py")], hook_stdin(connection, scene_id), env)
            errors += json.loads(out)["error"] is not None
        bulk_wall = time.perf_counter() - start
        queued = TaskInbox(conn).counts()["pending"]
        results["bulk"] = {"hooks": args.bulk, "wall_s": bulk_wall, "queued": queued,
                           "lost": args.bulk - queued, "errors": errors}
        conn.execute("DELETE FROM inbox")

        # Burst: N processes started together, half the scenes twice.
        distinct = scene_ids[: args.burst // 2]
        procs = [
            subprocess.Popen([python, str(REPO / "PlexSync.py")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            for _ in range(len(distinct) * 2)
        ]
        # Hand every process its input before reading any output, so they really run together.
        for proc, scene_id in zip(procs, distinct * 2, strict=True):
            assert proc.stdin
            proc.stdin.write(hook_stdin(connection, scene_id))
            proc.stdin.close()
        outs = []
        for proc in procs:
            assert proc.stdout and proc.stderr
            outs.append((proc.stdout.read(), proc.stderr.read()))
            proc.wait(timeout=120)
        locked = sum(b"locked" in out + err for out, err in outs)
        burst_errors = sum(json.loads(out)["error"] is not None for out, _ in outs)
        rows = conn.execute("SELECT count(*) FROM inbox").fetchone()[0]
        results["burst"] = {"processes": len(procs), "distinct_scenes": len(distinct), "queued": rows,
                            "lost": len(distinct) - rows, "locked_failures": locked, "errors": burst_errors}
        lease.release(conn, f"{os.uname().nodename}:{os.getpid()}:bench")
        conn.close()

    results["enqueue"] = bench_enqueue(work, args.enqueue_samples)

    h, b, u, e = (cast("dict[str, Any]", results[k]) for k in ("hook", "bulk", "burst", "enqueue"))
    cache_word = "with" if results["bytecode_cache"] else "WITHOUT"
    print(f"PlexSync hook benchmark ({results['date']}, Python {results['python']}, {cache_word} the plugin's bytecode cache)")
    print(f"{'measure':<44} {'value':>14} {'target':>12}")
    print(f"{'floor: python -c import json,sqlite3,http.client':<44} {h['floor_median_ms']:>11.1f} ms {'':>12}")
    print(f"{'hook process wall, median of ' + str(args.runs):<44} {h['hook_median_ms']:>11.1f} ms {'':>12}")
    print(f"{'hook / floor':<44} {h['ratio']:>13.2f}x {'<= 1.5x':>12}")
    print(f"{'Scene.Create.Post hook wall, median':<44} {h['create_median_ms']:>11.1f} ms {'':>12}")
    print(f"{'Scene.Create.Post hook / floor':<44} {h['create_ratio']:>13.2f}x {'<= 1.5x':>12}")
    rss = f"{h['hook_peak_rss_mb']:.1f} MB" if h["hook_peak_rss_mb"] else "n/a (no GNU time)"
    print(f"{'hook peak RSS (floor ' + str(round(h['floor_peak_rss_mb'] or 0, 1)) + ' MB)':<44} {rss:>14} {'<= 25 MB':>12}")
    print(f"{'enqueue, empty queue':<44} {e['empty_ms']:>11.3f} ms {'':>12}")
    print(f"{'enqueue, 100,000 queued':<44} {e['with_100k_ms']:>11.3f} ms {'':>12}")
    print(f"{'enqueue 100k / empty':<44} {e['ratio']:>13.2f}x {'<= 1.2x':>12}")
    bulk_label = f"bulk edit: {b['hooks']} hooks back to back, wall"
    print(f"{bulk_label:<44} {b['wall_s']:>12.1f} s {'':>12}")
    print(f"{'bulk edit: queued / lost / errors':<44} {b['queued']:>6} / {b['lost']} / {b['errors']} {'0 lost':>12}")
    print(f"{'burst: ' + str(u['processes']) + ' at once, ' + str(u['distinct_scenes']) + ' scenes: queued':<44} {u['queued']:>14} {'= scenes':>12}")
    print(f"{'burst: lost / locked failures / errors':<44} {u['lost']:>6} / {u['locked_failures']} / {u['errors']} {'0 / 0 / 0':>12}")
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    name = "hook.json" if results["bytecode_cache"] else "hook-no-bytecode-cache.json"
    (out_dir / name).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
