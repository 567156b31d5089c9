"""Hook cost: what a Stash user pays per edited scene, and how the queue holds up under bursts.

Every hook process is timed from interpreter start to exit, interleaved with the floor, a bare
`python -c pass` of the same interpreter, so load from anything else on the machine hits both
alike; the figures that count are the medians' ratios. Stash's side is bench/stash_responder.py,
a separate process that answers the hook's two GraphQL documents at once (the Stash stand-in runs
graphql-core and would be what the benchmark measured). The benchmark holds the drain lease, so
hooks ask Stash for nothing but a synced scene's timestamp, and keeps the database closed, so
every hook opens it alone, as during a scan (whose drain waits behind it in Stash's job queue):
the case where a hook reads back the write-ahead log its predecessor left (sync.db.log_is_short).

Measured, each against the floor:
  * Scene.Update.Post of a scene synced before (reads its updated_at from Stash, then queues);
  * Scene.Update.Post of a scene never synced, and Scene.Create.Post (a scan's new scene);
  * a Scene.Update.Post that skips (only `organized` changed: no field Plex shows);
  * peak RSS (GNU time) of the edit of a synced scene, next to the floor's (medians of 5);
  * 500 hook processes back to back (a bulk edit), 50 at once on 25 scenes (a burst), the
    enqueue transaction with 0 and with 100,000 jobs queued, and what the disk costs it (the
    fsync of synchronous=FULL, and the checkpoint of closing the last connection).
Prints a table with the targets (README, Benchmarks) and writes bench/results/hook*.json.
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
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from queue import lease  # noqa: E402
from queue.inbox_tasks import TaskInbox  # noqa: E402
from queue.lease import enqueue_scenes  # noqa: E402
from stash import queries  # noqa: E402
from sync import db  # noqa: E402
from sync.state import SyncState  # noqa: E402

FLOOR = ["-c", "pass"]
SYNCED_STAMP = "2000-01-01T00:00:00Z"  # what the synced scenes were synced at
STASH_STAMP = "2026-01-01T00:00:00Z"  # what Stash says now: every synced scene was edited since
# Targets, as multiples of the floor (README, Benchmarks).
TARGETS = {"synced": 3.3, "never_synced": 3.0, "create": 3.0, "skip": 2.0}
TARGET_NO_CACHE = 4.5
RSS_ALLOWANCE_MB = 3.0
KINDS = ("synced", "never_synced", "create", "skip")


def run_child(argv: list[str], stdin: bytes, env: dict[str, str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    done = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start, done.stdout


def hook_stdin(connection: dict, scene_id: int, kind: str) -> bytes:
    """Stash's stdin for one hook: an edit's Scene.Update.Post (title, or for ``skip`` only
    ``organized``), or a scan's Scene.Create.Post (input null)."""
    context: dict[str, object] = {"id": scene_id, "type": "Scene.Update.Post",
                                  "input": {"id": str(scene_id), "title": f"Edited {scene_id}"},
                                  "inputFields": ["id", "title"]}
    if kind == "skip":
        context.update(input={"id": str(scene_id), "organized": True}, inputFields=["id", "organized"])
    if kind == "create":
        context = {"id": scene_id, "type": "Scene.Create.Post", "input": None}
    return json.dumps({"server_connection": connection, "args": {"hookContext": context}}).encode()


def expected_action(kind: str) -> str:
    return "skipped" if kind == "skip" else "queued"


def peak_rss_kib(argv: list[str], stdin: bytes, env: dict[str, str]) -> int | None:
    """Peak RSS of one run, measured by GNU time.

    wait4() from this process would over-report: Linux charges a vfork'd child the parent's
    high-water mark at exec.
    """
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if not gnu_time:
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        subprocess.run([gnu_time, "-f", "%M", "-o", report.name, *argv], input=stdin, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return int(report.read().strip().splitlines()[-1])


def bench_enqueue(work: Path, samples: int) -> dict[str, float]:
    """One enqueue transaction into an empty inbox and into one holding 100,000 jobs, alternately."""
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


def bench_durability(work: Path, samples: int) -> dict[str, float]:
    """What the disk costs a hook's enqueue, in this process (medians, interleaved):
    one commit with synchronous=FULL (an fsync of the log) and with NORMAL (the hook's: none);
    and opening, enqueuing and closing when no other connection is open (closing the last one
    folds the log into the file: two more fsyncs) against the same with one open elsewhere."""
    path = work / "durability.db"
    full, normal = db.connect(path), db.connect(path, synchronous="NORMAL")
    times: dict[str, list[float]] = {"full": [], "normal": [], "close_last": [], "close_not_last": []}

    def timed(name: str, action: Callable[..., object], *args: object) -> None:
        start = time.perf_counter()
        action(*args)
        times[name].append(time.perf_counter() - start)

    def enqueue(conn: db.PluginConnection, scene_id: int) -> None:
        enqueue_scenes(conn, [(scene_id, None)], reason="bench")

    def open_enqueue_close(scene_id: int) -> None:
        with closing(db.connect(path, synchronous="NORMAL")) as conn:
            enqueue(conn, scene_id)

    for i in range(samples):
        timed("full", enqueue, full, i)
        timed("normal", enqueue, normal, i)
        timed("close_not_last", open_enqueue_close, i)
    full.close()
    normal.close()
    for i in range(samples):
        timed("close_last", open_enqueue_close, i)
    return {f"{name}_ms": statistics.median(values) * 1000 for name, values in times.items()}


class Responder:
    """bench/stash_responder.py in its own process, answering for the given scenes."""

    def __init__(self, stamps: dict[int, str], work: Path) -> None:
        stamps_file = work / "stamps.json"
        stamps_file.write_text(json.dumps({str(k): v for k, v in stamps.items()}))
        self.proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "stash_responder.py"), str(stamps_file)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout
        self.port = int(self.proc.stdout.readline())

    def answer_ms(self, scene_id: int, samples: int = 200) -> float:
        """Median time for one findScene round trip, new connection each (as a hook makes it)."""
        import http.client

        body = json.dumps({"query": queries.SCENE_UPDATED_AT, "variables": {"id": str(scene_id)}})
        times = []
        for _ in range(samples):
            start = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("POST", "/graphql", body, {"Content-Type": "application/json"})
            reply = conn.getresponse().read()
            conn.close()
            times.append(time.perf_counter() - start)
            assert b"updated_at" in reply, reply
        return statistics.median(times) * 1000

    def close(self) -> dict[str, int]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.close()
        counts = json.loads(self.proc.stdout.readline())
        self.proc.wait(timeout=10)
        return counts


def prepare(args: argparse.Namespace, env: dict[str, str]) -> None:
    """The plugin's bytecode as an installed plugin has it (compiled on its first run), or none."""
    if args.no_bytecode_cache:
        for cache in REPO.rglob("__pycache__"):
            if ".venv" not in cache.parts:
                shutil.rmtree(cache, ignore_errors=True)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        import compileall

        for package in ("hooks", "queue", "stash", "sync"):
            compileall.compile_dir(str(REPO / package), quiet=1)


def scene_plan(args: argparse.Namespace) -> dict[str, list[int]]:
    """Distinct scene ids per measured kind, so no run finds its scene already queued."""
    runs = args.runs
    plan = {kind: list(range(1 + i * 10_000, 1 + i * 10_000 + runs)) for i, kind in enumerate(KINDS)}
    plan["rss"] = list(range(50_001, 50_011))
    plan["bulk"] = list(range(100_001, 100_001 + args.bulk))
    plan["burst"] = list(range(200_001, 200_001 + max(1, args.burst // 2)))
    return plan


def time_hooks(args: argparse.Namespace, plan: dict[str, list[int]], connection: dict,
               env: dict[str, str]) -> dict[str, object]:
    python, plugin = sys.executable, str(REPO / "PlexSync.py")
    walls: dict[str, list[float]] = {"floor": [], **{kind: [] for kind in KINDS}}
    for i in range(args.runs):  # interleaved: machine load hits every kind alike
        walls["floor"].append(run_child([python, *FLOOR], b"", env)[0])
        for kind in KINDS:
            wall, out = run_child([python, plugin], hook_stdin(connection, plan[kind][i], kind), env)
            action = json.loads(out)["output"]["action"]
            assert action == expected_action(kind), (kind, out)
            walls[kind].append(wall)
    floor = statistics.median(walls["floor"])
    result: dict[str, object] = {"floor_median_ms": floor * 1000}
    for kind in KINDS:
        median = statistics.median(walls[kind])
        result[kind] = {"median_ms": median * 1000, "ratio": median / floor}
    # Peak RSS: medians of 5, interleaved, of the floor and of the hook that uses the most (an
    # edit of a synced scene: the database and a GraphQL round trip).
    floor_rss, hook_rss = [], []
    for scene_id in plan["rss"][:5]:
        floor_rss.append(peak_rss_kib([python, *FLOOR], b"", env))
        hook_rss.append(peak_rss_kib([python, plugin], hook_stdin(connection, scene_id, "synced"), env))
    if all(floor_rss) and all(hook_rss):
        result["floor_peak_rss_mb"] = statistics.median(r or 0 for r in floor_rss) / 1024
        result["hook_peak_rss_mb"] = statistics.median(r or 0 for r in hook_rss) / 1024
        result["hook_peak_rss_max_mb"] = max(r or 0 for r in hook_rss) / 1024
    else:
        result["floor_peak_rss_mb"] = result["hook_peak_rss_mb"] = result["hook_peak_rss_max_mb"] = None
    return result


def inbox_rows(db_path: Path, *, clear: bool = False) -> int:
    """Rows in the inbox (then, with ``clear``, none); the connection is closed again at once, so
    hooks run with the database open nowhere else."""
    with closing(db.connect(db_path)) as conn:
        rows = TaskInbox(conn).counts()["pending"]
        if clear:
            conn.execute("DELETE FROM inbox")
        return rows


def bulk_and_burst(args: argparse.Namespace, plan: dict[str, list[int]], connection: dict,
                   env: dict[str, str], db_path: Path) -> dict[str, object]:
    python, plugin = sys.executable, str(REPO / "PlexSync.py")
    inbox_rows(db_path, clear=True)
    start = time.perf_counter()
    errors = 0
    for scene_id in plan["bulk"]:  # one hook process per scene, one after another, as Stash runs them
        _, out = run_child([python, plugin], hook_stdin(connection, scene_id, "synced"), env)
        errors += json.loads(out)["error"] is not None
    bulk_wall = time.perf_counter() - start
    queued = inbox_rows(db_path, clear=True)
    bulk = {"hooks": args.bulk, "wall_s": bulk_wall, "per_hook_ms": bulk_wall / args.bulk * 1000,
            "queued": queued, "lost": args.bulk - queued, "errors": errors}
    # Burst: N processes started together, every scene twice; all given their input before any
    # output is read, so they really run together.
    procs = [subprocess.Popen([python, plugin], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env) for _ in range(2 * len(plan["burst"]))]
    for proc, scene_id in zip(procs, plan["burst"] * 2, strict=True):
        assert proc.stdin
        proc.stdin.write(hook_stdin(connection, scene_id, "synced"))
        proc.stdin.close()
    outs = []
    for proc in procs:
        assert proc.stdout and proc.stderr
        outs.append((proc.stdout.read(), proc.stderr.read()))
        proc.wait(timeout=120)
    rows = inbox_rows(db_path)
    burst = {"processes": len(procs), "distinct_scenes": len(plan["burst"]), "queued": rows,
             "lost": len(plan["burst"]) - rows, "locked_failures": sum(b"locked" in o + e for o, e in outs),
             "errors": sum(json.loads(o)["error"] is not None for o, _ in outs)}
    return {"bulk": bulk, "burst": burst}


def report(results: dict, args: argparse.Namespace) -> None:
    h, b, u, e = results["hook"], results["bulk"], results["burst"], results["enqueue"]
    floor_ms = h["floor_median_ms"]
    cache_word = "with" if results["bytecode_cache"] else "WITHOUT"
    print(f"PlexSync hook benchmark ({results['date']}, Python {results['python']}, {cache_word} the "
          f"plugin's bytecode cache; load average {results['load']})")
    print(f"Stash responder: {results['responder_answer_ms']:.2f} ms per findScene round trip")
    print(f"{'measure':<52} {'value':>12} {'x floor':>8} {'target':>8}")
    print(f"{'floor: python -c pass, median of ' + str(args.runs):<52} {floor_ms:>9.1f} ms {'1.00':>8}")
    labels = {"synced": "Scene.Update.Post, scene synced before",
              "never_synced": "Scene.Update.Post, scene never synced",
              "create": "Scene.Create.Post (a scan's new scene)",
              "skip": "Scene.Update.Post that skips (organized only)"}
    for kind in KINDS:
        target = TARGETS[kind] if results["bytecode_cache"] else (TARGET_NO_CACHE if kind == "synced" else None)
        shown = f"<= {target}x" if target else ""
        print(f"{labels[kind]:<52} {h[kind]['median_ms']:>9.1f} ms {h[kind]['ratio']:>7.2f}x {shown:>8}")
    if h["hook_peak_rss_mb"]:
        extra = h["hook_peak_rss_mb"] - h["floor_peak_rss_mb"]
        label = f"hook peak RSS, median of 5 (floor {h['floor_peak_rss_mb']:.2f} MB)"
        allowed = f"<= +{RSS_ALLOWANCE_MB:.1f}" if results["bytecode_cache"] else ""  # compiling costs memory
        print(f"{label:<52} {h['hook_peak_rss_mb']:>9.2f} MB {'+' + format(extra, '.2f'):>8} {allowed:>8}")
    per_hook_target = (TARGETS["synced"] if results["bytecode_cache"] else TARGET_NO_CACHE) * floor_ms
    print(f"{'bulk edit: ' + str(b['hooks']) + ' hooks back to back (synced scenes)':<52} {b['wall_s']:>10.1f} s "
          f"{'':>8} {'<= ' + format(per_hook_target * b['hooks'] / 1000, '.1f') + ' s':>8}")
    print(f"{'bulk edit: per hook':<52} {b['per_hook_ms']:>9.1f} ms {b['per_hook_ms'] / floor_ms:>7.2f}x")
    print(f"{'bulk edit: queued / lost / errors':<52} {b['queued']:>6} / {b['lost']} / {b['errors']}")
    print(f"{'burst: ' + str(u['processes']) + ' at once on ' + str(u['distinct_scenes']) + ' scenes: queued':<52} {u['queued']:>12}")
    print(f"{'burst: lost / locked failures / errors':<52} {u['lost']:>6} / {u['locked_failures']} / {u['errors']}")
    print(f"{'enqueue, empty queue / 100,000 queued':<52} {e['empty_ms']:>6.3f} / {e['with_100k_ms']:.3f} ms "
          f"{e['ratio']:>6.2f}x")
    d = results["durability"]
    print(f"{'enqueue commit, synchronous FULL / NORMAL (fsync)':<52} {d['full_ms']:>6.3f} / {d['normal_ms']:.3f} ms")
    print(f"{'open+enqueue+close, last connection / not last':<52} {d['close_last_ms']:>6.3f} / "
          f"{d['close_not_last_ms']:.3f} ms")


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
    prepare(args, env)
    plan = scene_plan(args)
    synced = [*plan["synced"], *plan["rss"], *plan["bulk"], *plan["burst"]]
    results: dict[str, object] = {"date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0],
                                  "bytecode_cache": not args.no_bytecode_cache,
                                  "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    state = SyncState(str(data_dir / db.DB_NAME))
    for scene_id in synced:  # synced an hour ago, as Stash had them in 2000
        state.update_success(scene_id, f"/library/metadata/{scene_id}", SYNCED_STAMP, fetched_at=time.time() - 3600)
    state.close()
    holder = f"{os.uname().nodename}:{os.getpid()}:bench"
    with closing(db.connect(data_dir / db.DB_NAME)) as conn:
        lease.acquire(conn, holder, ttl=3600)  # a drain "is running": hooks ask Stash for no drain

    responder = Responder({scene_id: STASH_STAMP for scene_id in synced}, work)
    try:
        connection = {"Scheme": "http", "Host": "0.0.0.0", "Port": responder.port,
                      "SessionCookie": {"Name": "session", "Value": "bench-session-cookie"},
                      "Dir": str(work), "PluginDir": str(REPO)}
        results["responder_answer_ms"] = responder.answer_ms(plan["synced"][0])
        results["hook"] = time_hooks(args, plan, connection, env)
        results.update(bulk_and_burst(args, plan, connection, env, data_dir / db.DB_NAME))
    finally:
        counts = responder.close()
        with closing(db.connect(data_dir / db.DB_NAME)) as conn:
            lease.release(conn, holder)
    results["responder_counts"] = counts
    results["enqueue"] = bench_enqueue(work, args.enqueue_samples)
    results["durability"] = bench_durability(work, args.enqueue_samples)
    report(results, args)
    print(f"responder: {counts}")
    shutil.rmtree(work, ignore_errors=True)
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    name = "hook.json" if results["bytecode_cache"] else "hook-no-bytecode-cache.json"
    (out_dir / name).write_text(json.dumps(results, indent=2))
    lost = results["bulk"]["lost"] + results["burst"]["lost"]  # type: ignore[index]
    return 1 if lost or counts.get("refused") else 0


if __name__ == "__main__":
    sys.exit(main())
