"""Faults the real world produces, injected through the stand-ins: nothing lost, nothing stale.

The real PlexSync.py runs as Stash runs it (FakeStash's job queue, kill = SIGKILL like Stash's
Cancel), against the Plex stand-in over HTTP. Every scenario ends with the same proof: each Plex
item equals its Stash scene, the inbox is empty, every scene has a sync record, and (where writes
were interrupted) no item ever received an older version after a newer one.

Figures measured here are printed (``-s``) as ``RELIABILITY:`` lines for the README table.
"""

from __future__ import annotations

import random
import re
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import (
    configure,
    drain_until_idle,
    fast_forward,
    inbox,
    mismatches,
    process_queue,
    queue_directly,
    run_task,
    synced,
    title_puts,
)
from tests.standins.plugin_runner import assert_stdout_contract

pytestmark = pytest.mark.slow

SEED = 20_261_121
BACKLOG = 200
KILLS = 24


def report(line: str) -> None:
    print(f"RELIABILITY: {line}")


def versioned_title(n: int, version: int) -> str:
    return f"Scene {n:03d} v{version:03d}"


def title_version(title: str) -> int:
    match = re.fullmatch(r"Scene \d{3} v(\d{3})", title)
    assert match, title
    return int(match.group(1))


def make_library(stash, plex, count: int, folder: str) -> dict[str, int]:
    """``count`` scenes with every field Plex shows, each with its Plex item."""
    scenes = {}
    for n in range(count):
        path = f"/media/videos/{folder}/{n:03d}.mp4"
        scene = stash.add_scene(
            versioned_title(n, 0), [path], details=f"Details of {n}", date=f"2023-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            rating100=n % 101, studio=f"Studio {n % 7}", performers=[f"Performer {n % 13}", "Shared Star"],
            tags=[f"Tag {n % 11}", "Shared Tag"], groups=[f"Group {n % 5}"],
        )
        scenes[scene] = plex.add_movie(1, f"plex {folder} {n}", [path])
    return scenes


def assert_all_synced(stash, plex, data_dir: Path, scenes: dict[str, int]) -> None:
    rows = inbox(data_dir)
    assert rows == {}, {k: (v["state"], v["last_error"]) for k, v in list(rows.items())[:10]}
    records = synced(data_dir)
    for scene in scenes:
        record = records.get(int(scene))
        assert record is not None, f"scene {scene} has no sync record"
        assert record["last_sync_status"] == "success"
        assert record["stash_updated_at"] == stash.scene(scene)["updated_at"], scene
    wrong = mismatches(stash, plex, scenes)
    assert wrong == {}, list(wrong.items())[:3]


# -- kill -9 ----------------------------------------------------------------------------------


class DrainWatcher:
    """Finds the running Process queue job and kills it at a chosen moment."""

    def __init__(self, stash, plex, data_dir: Path) -> None:
        self.stash = stash
        self.plex = plex
        self.data_dir = data_dir

    def running_drain(self, timeout: float = 60) -> tuple[str, float]:
        """(job id, monotonic start) of a running Process queue job; starts one if none waits."""
        stash = self.stash
        if not any(j.status in ("READY", "RUNNING") and j.task_name == "Process queue" for j in stash.jobs()):
            stash.run_task("Process queue")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for job in stash.jobs():
                if job.status == "RUNNING" and job.task_name == "Process queue":
                    return job.id, time.monotonic()
            time.sleep(0.002)
        raise TimeoutError("no Process queue job started")

    def wait_ended(self, job_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.stash.job(job_id).status in ("READY", "RUNNING", "STOPPING"):
            assert time.monotonic() < deadline, "the drain job did not end"
            time.sleep(0.005)

    def _poll(self, job_id: str, until, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stash.job(job_id).status != "RUNNING":
                return False
            if until():
                return True
            time.sleep(0.001)
        return False

    def put_in_flight(self, job_id: str, start_index: int, timeout: float = 8) -> bool:
        log = self.plex.request_log
        return self._poll(job_id, lambda: any(
            r.method == "PUT" and r.status == 0 for r in log[start_index:]), timeout)

    def sync_commits(self) -> float:
        conn = sqlite3.connect(self.data_dir / "plexsync.db", timeout=30)
        try:
            return conn.execute("SELECT coalesce(max(last_synced_at), 0) FROM sync_state").fetchone()[0]
        finally:
            conn.close()

    def after_commits(self, job_id: str, count: int) -> bool:
        """Wait until the drain has committed ``count`` more sync records."""
        seen = [self.sync_commits()]

        def committed() -> bool:
            now = self.sync_commits()
            if now != seen[-1]:
                seen.append(now)
            return len(seen) > count

        return self._poll(job_id, committed, 15)

    def after_renewal(self, job_id: str) -> bool:
        """Wait until the drain has just renewed its lease (its heartbeat moved)."""
        first: list = []

        def renewed() -> bool:
            holder, beat = self.heartbeat()
            if holder and not first:
                first.append((holder, beat))
            return bool(first) and holder == first[0][0] and beat != first[0][1]

        return self._poll(job_id, renewed, 12)

    def heartbeat(self) -> tuple:
        conn = sqlite3.connect(self.data_dir / "plexsync.db", timeout=30)
        try:
            return conn.execute("SELECT holder, heartbeat FROM drain WHERE id = 1").fetchone()
        finally:
            conn.close()


def wait_for_moment(watcher: DrainWatcher, strategy: str, job_id: str, log_start: int,
                    rng: random.Random) -> bool:
    """Wait until the drain reaches the moment ``strategy`` names; False if it never did."""
    if strategy == "random":
        time.sleep(rng.uniform(0.05, 2.5))
        return True
    if strategy == "put_in_flight":
        return watcher.put_in_flight(job_id, log_start)
    if strategy == "after_commit":
        return watcher.after_commits(job_id, rng.randint(1, 12))
    if strategy == "before_renewal":
        time.sleep(rng.uniform(4.7, 5.4))  # the lease is renewed every 5 s of the drain
        return True
    landed = watcher.after_renewal(job_id)
    time.sleep(rng.uniform(0, 0.05))
    return landed


def assert_no_stale_writes(plex, scenes: dict[str, int], version: dict[str, int]) -> int:
    """None written twice with stale data: per item, the titles PUT never go back to an older
    version, and the last one is the scene's final version. Returns the number of PUTs."""
    puts = 0
    for scene, rk in scenes.items():
        versions = [title_version(t) for t in title_puts(plex, rk)]
        puts += len(versions)
        assert versions == sorted(versions), (scene, versions)
        assert not versions or versions[-1] == version[scene], (scene, versions, version[scene])
    return puts


def test_kill_9_at_random_moments_across_a_200_job_backlog(fake_stash, fake_plex, data_dir: Path) -> None:
    stash, plex = fake_stash, fake_plex
    plex.add_section(1, "Movies", "movie", ["/media/videos"])
    configure(stash, plex.url)
    scenes = make_library(stash, plex, BACKLOG, "kill")
    numbers = {scene: n for n, scene in enumerate(scenes)}
    version = dict.fromkeys(scenes, 0)
    queue_directly(data_dir, stash, list(scenes))
    plex.set_delay(0.05, method="PUT")  # writes take long enough to be caught in flight
    rng = random.Random(SEED)
    watcher = DrainWatcher(stash, plex, data_dir)
    schedule = ["put_in_flight", "after_commit", "random", "put_in_flight", "after_commit", "random",
                "before_renewal", "after_renewal"]
    kills: list[dict] = []
    hook_edits = top_ups = 0
    deadline = time.monotonic() + 200

    def edit(scene: str, *, hook: bool) -> None:
        version[scene] += 1
        n = numbers[scene]
        fields = {"title": versioned_title(n, version[scene]), "details": f"Details of {n}, edit {version[scene]}"}
        if hook:
            stash.update_scene(scene, **fields)  # the real hook queues it (and may wake a drain)
        else:
            stash.silent_update(scene, **fields)

    attempt = 0
    while len(kills) < KILLS:
        assert time.monotonic() < deadline, f"only {len(kills)} kills landed in time"
        strategy = schedule[attempt % len(schedule)]
        attempt += 1
        pending = sum(1 for r in inbox(data_dir).values() if r["state"] in ("pending", "queued"))
        wanted = 80 if strategy.endswith("renewal") else 25
        if pending < wanted:  # keep a backlog: what "Sync recent changes" finds after Auto Tag
            batch = rng.sample(list(scenes), wanted - pending + 10)
            for scene in batch:
                edit(scene, hook=False)
            queue_directly(data_dir, stash, batch, reason="sync_recent")
            top_ups += len(batch)
        log_start = len(plex.request_log)
        job_id, started = watcher.running_drain()
        landed = wait_for_moment(watcher, strategy, job_id, log_start, rng)
        in_flight = sum(1 for r in plex.request_log[log_start:] if r.status == 0)
        stash.stop_job(job_id)  # Stash's Cancel: SIGKILL of the task process
        watcher.wait_ended(job_id)
        run = stash.job(job_id).run
        if run is not None and run.killed and landed:
            kills.append({"strategy": strategy, "after_s": round(time.monotonic() - started, 3),
                          "in_flight": in_flight})
        # Edits keep arriving between kills, through the real hook.
        for scene in rng.sample(list(scenes), rng.randint(2, 4)):
            edit(scene, hook=True)
            hook_edits += 1

    plex.clear_faults()
    drain_until_idle(stash, data_dir, max_runs=10, deadline_s=120)  # repeat until done
    final = process_queue(stash)  # and a final clean drain
    assert final.error is None and final.output["status"] == "done", final.error
    assert_all_synced(stash, plex, data_dir, scenes)

    puts = assert_no_stale_writes(plex, scenes, version)
    for run in stash.runs:
        assert run.unprefixed_lines == [], run.unprefixed_lines
        assert "database is locked" not in run.stderr.decode("utf-8", "replace")
    by_strategy: dict[str, int] = {}
    for kill in kills:
        by_strategy[kill["strategy"]] = by_strategy.get(kill["strategy"], 0) + 1
    with_writes_in_flight = sum(1 for k in kills if k["in_flight"])
    resumed = sum(1 for run in stash.task_runs() if any(
        "interrupted drain" in m for m in run.logs_at("info")))
    assert len(kills) >= 20 and with_writes_in_flight >= 5, kills
    report(f"kill -9: {len(kills)} kills of the drain across a {BACKLOG}-scene backlog "
           f"(+{top_ups} re-queued edits, +{hook_edits} hook edits; seed {SEED}); by moment: "
           f"{by_strategy}; {with_writes_in_flight} with Plex requests in flight; "
           f"{resumed} drains resumed an interrupted one's jobs; "
           f"after a clean drain {len(scenes)}/{len(scenes)} items equal Stash, 0 lost, "
           f"0 stale writes in {puts} PUTs")


# -- Plex unreachable, 5xx, slow, and back ------------------------------------------------------


class CountingRefuser:
    """Listens on Plex's port while Plex is down, counts connection attempts, resets each one."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.attempts: list[float] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import struct

        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.attempts.append(time.monotonic())
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # RST: the client sees the connection reset, no HTTP answer

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()


def wait_for_puts(plex, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len([r for r in plex.log_snapshot() if r.method == "PUT" and r.status == 200]) < count:
        assert time.monotonic() < deadline, "the drain made no progress"
        time.sleep(0.01)


def no_parked(data_dir: Path) -> None:
    parked = {k: (v["state"], v["last_error"]) for k, v in inbox(data_dir).items()
              if v["state"] in ("failed", "review")}
    assert parked == {}, parked


def test_plex_down_5xx_and_back_mid_drain_lose_nothing(fake_stash, fake_plex, data_dir: Path) -> None:
    stash, plex = fake_stash, fake_plex
    plex.add_section(1, "Movies", "movie", ["/media/videos"])
    configure(stash, plex.url)
    scenes = make_library(stash, plex, 40, "outage")
    queue_directly(data_dir, stash, list(scenes))
    plex.set_delay(0.05, method="PUT")

    # 1. Plex goes away (connection refused) in the middle of a drain.
    job = stash.run_task("Process queue")
    wait_for_puts(plex, 5)
    plex.go_down()
    stash.wait_for_jobs(60)
    down = stash.job(job).run
    assert down.exit_code == 1 and "unreachable" in down.error, down.error
    assert down.output["status"] == "stopped" and down.wall_time < 30
    assert len([m for _, m in down.logs if "unreachable" in m]) == 1  # one clear error
    rows = inbox(data_dir)
    assert rows and {r["state"] for r in rows.values()} == {"pending"}
    assert all(r["attempts"] == 0 for r in rows.values())  # an outage is not the scene's fault
    written_before = len(synced(data_dir))
    assert 0 < written_before < len(scenes)

    # 2. While Plex stays unreachable: no busy loop. Idle, then with an edit every 2 s (each hook
    #    wakes a drain, which tries Plex once and stops). Connection attempts are counted at
    #    Plex's port by a listener that resets every connection.
    refuser = CountingRefuser(plex.port)
    try:
        idle_from = time.monotonic()
        time.sleep(6)
        idle_attempts = len(refuser.attempts)
        edits_from = time.monotonic()
        edited = list(scenes)[:5]
        for scene in edited:
            stash.update_scene(scene, rating100=99)
            stash.wait_for_jobs(60)
            time.sleep(max(0.0, edits_from + 2.0 * (edited.index(scene) + 1) - time.monotonic()))
        edits_window = time.monotonic() - edits_from
        edit_attempts = len(refuser.attempts) - idle_attempts
        drains_while_down = [r for r in stash.task_runs() if r.started_at >= time.time() - edits_window - 1]
    finally:
        refuser.close()
    assert idle_attempts == 0, idle_attempts
    per_minute = edit_attempts * 60 / edits_window
    assert edit_attempts <= 3 * max(1, len(drains_while_down)), (edit_attempts, len(drains_while_down))
    assert per_minute <= 100, per_minute
    for run in drains_while_down:
        assert run.wall_time < 20 and (run.error is None or "unreachable" in run.error), run.error
    no_parked(data_dir)
    assert all(r["attempts"] == 0 for r in inbox(data_dir).values())

    # 3. Plex comes back while work is queued: the next drains write everything.
    plex.come_back()
    drain_until_idle(stash, data_dir, max_runs=6, deadline_s=90)
    plex.clear_faults()
    assert_all_synced(stash, plex, data_dir, scenes)

    # 4. Plex answers 503 to everything for hours (12 drains, retry times fast-forwarded), then
    #    one item's reads fail 3 times in a row: nothing is dead-lettered, all synced after.
    plex.clear_log()
    for scene in list(scenes)[:20]:
        stash.silent_update(scene, details=f"changed during the 5xx outage {scene}")
    queue_directly(data_dir, stash, list(scenes)[:20])
    plex.fail_next(10**6, 503)
    fivexx_runs = []
    for _ in range(12):
        fast_forward(data_dir)
        run = process_queue(stash)
        fivexx_runs.append(run)
        assert run.exit_code == 1 and "503" in run.error, run.error
        no_parked(data_dir)
    requests_per_drain = len(plex.log_snapshot()) / len(fivexx_runs)
    assert requests_per_drain <= 10, requests_per_drain
    assert all(r["attempts"] == 0 for r in inbox(data_dir).values()), inbox(data_dir)
    plex.clear_faults()
    # Each scene's write is its one item request now (the ledger replaces the GET): three item
    # edits fail in a row.
    plex.fail_next(3, 503, method="PUT", path_prefix="/library/sections/1/all")
    fast_forward(data_dir)
    flaky = process_queue(stash)
    assert flaky.output["status"] == "stopped" and flaky.output["retry_later"] == 3
    no_parked(data_dir)
    drain_until_idle(stash, data_dir, max_runs=6, deadline_s=90)
    assert_all_synced(stash, plex, data_dir, scenes)
    report(f"Plex down mid-drain: stopped in {down.wall_time:.1f}s after {written_before} writes, "
           f"0 attempts counted, 0 parked; while down: {idle_attempts} requests in {edits_from - idle_from:.0f}s "
           f"idle, {edit_attempts} connection attempts in {edits_window:.0f}s with an edit every 2s "
           f"({per_minute:.0f}/min, {len(drains_while_down)} drains); back: 40/40 synced")
    report(f"Plex 503 on every request for 12 drains: {requests_per_drain:.1f} requests per drain, "
           "0 parked, 0 attempts counted; 3 item 503s in a row: drain stopped, 0 parked; 40/40 synced")


def test_plex_slower_than_the_client_timeout(fake_stash, fake_plex, data_dir: Path) -> None:
    stash, plex = fake_stash, fake_plex
    plex.add_section(1, "Movies", "movie", ["/media/videos"])
    configure(stash, plex.url)
    scenes = make_library(stash, plex, 6, "slow")
    queue_directly(data_dir, stash, list(scenes))
    plex.set_delay(31, method="PUT")  # beyond plexapi's 30 s read timeout
    started = time.monotonic()
    slow = process_queue(stash, timeout=150)
    window = time.monotonic() - started
    assert slow.exit_code == 1 and re.search("timed out|no answer in time", slow.error), slow.error
    assert slow.output["status"] == "stopped"
    requests = plex.log_snapshot()
    no_parked(data_dir)
    assert all(r["attempts"] == 0 for r in inbox(data_dir).values())
    plex.clear_faults()  # back to normal speed, mid-way through the queue
    drain_until_idle(stash, data_dir, max_runs=6, deadline_s=60)
    assert_all_synced(stash, plex, data_dir, scenes)
    per_minute = len(requests) * 60 / window
    assert per_minute < 30, per_minute
    report(f"Plex slower than the 30 s timeout: drain stopped after {slow.wall_time:.0f}s, "
           f"{len(requests)} requests ({per_minute:.0f}/min), 0 parked; after recovery 6/6 synced")


# -- Plex 401 --------------------------------------------------------------------------------


def test_plex_401_one_clear_error_then_fixed(linked, data_dir: Path, leak_scan) -> None:
    stash, plex = linked
    configure(stash, plex.url)
    scenes = make_library(stash, plex, 5, "auth")
    queue_directly(data_dir, stash, list(scenes))
    rotated = "rotated-plex-token-5e1d"
    leak_scan.add(rotated)
    plex.set_token(rotated)  # the owner signed out everywhere: the stored token is refused
    run = process_queue(stash)
    result = assert_stdout_contract(run)
    assert run.exit_code == 1 and "plex_token" in result["error"] and "401" in result["error"]
    about_token = [m for _, m in run.logs if "token" in m.lower() or "401" in m]
    assert about_token == [result["error"]], run.logs
    rows = inbox(data_dir)
    assert len(rows) == 5 and {r["state"] for r in rows.values()} == {"pending"}
    assert all(r["attempts"] == 0 for r in rows.values())
    status = run_task(stash, "Status")
    assert "plex_token" in status.output["plex"]["detail"]

    configure(stash, plex.url, plex_token=rotated)
    fast_forward(data_dir)
    fixed = process_queue(stash)
    assert fixed.error is None and fixed.output["written"] == 5
    assert_all_synced(stash, plex, data_dir, scenes)


# -- Stash down or slow during a hook -----------------------------------------------------------


def test_hook_returns_promptly_with_the_edit_recorded_when_stash_is_down_or_slow(
    linked, data_dir: Path
) -> None:
    stash, plex = linked
    configure(stash, plex.url)
    scenes = make_library(stash, plex, 3, "stashdown")
    queue_directly(data_dir, stash, list(scenes))
    process_queue(stash)  # synced once: a new edit must ask Stash whether it is newer
    down, slow, failing = scenes
    timings = {}
    for case, scene in (("down", down), ("slow", slow), ("5xx", failing)):
        context = {"id": int(scene), "type": "Scene.Update.Post", "input": {"id": scene, "title": case},
                   "inputFields": ["id", "title"]}
        stash.silent_update(scene, title=f"Scene edited while Stash is {case}")
        if case == "down":
            stash.go_down()
        elif case == "slow":
            stash.set_delay(12)
        else:
            stash.fail_requests(503)
        try:
            run = stash.run_hook_raw(context)
        finally:
            stash.clear_faults()
        result = assert_stdout_contract(run)
        assert run.exit_code == 0 and result["error"] is None, (case, result)
        assert result["output"]["action"] == "queued", (case, result)
        assert int(scene) in inbox(data_dir) or int(scene) in synced(data_dir), case  # recorded
        assert any("queuing it anyway" in m for m in run.logs_at("warning")), (case, run.logs)
        assert run.wall_time < 10, (case, run.wall_time)  # 2 GraphQL calls × 3 s timeout at most
        timings[case] = run.wall_time
    stash.wait_for_jobs(60)
    # Stash is back: the edits recorded during the outage reach Plex.
    drain_until_idle(stash, data_dir, max_runs=4, deadline_s=60)
    assert_all_synced(stash, plex, data_dir, scenes)
    report("hook while Stash GraphQL is down / slow (12 s) / answering 503: returned in "
           + ", ".join(f"{case} {t:.1f}s" for case, t in timings.items()) + "; every edit recorded and synced")


# -- two drains at once ------------------------------------------------------------------------


def test_two_drains_started_together_one_drains_the_other_exits(linked, data_dir: Path) -> None:
    stash, plex = linked
    configure(stash, plex.url)
    scenes = make_library(stash, plex, 30, "twice")
    queue_directly(data_dir, stash, list(scenes))
    plex.set_delay(0.05, method="PUT")
    barrier = threading.Barrier(2)
    runs: list = []

    def start() -> None:
        barrier.wait()
        runs.append(stash.run_plugin_raw({"mode": "process_queue"}, kind="task", task_name="Process queue"))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(runs) == 2
    outputs = sorted((assert_stdout_contract(r)["output"]["status"], r) for r in runs)
    (second_status, second), (first_status, first) = outputs
    assert (first_status, second_status) == ("done", "already_running")
    assert first.output["processed"] == 30 and first.error is None
    assert second.exit_code == 0 and second.error is None
    assert "a drain is already running" in second.output["message"]
    assert second.wall_time < first.wall_time
    assert plex.matching_requests(method="PUT") and len(plex.matching_requests(method="PUT")) == 30
    plex.clear_faults()
    assert_all_synced(stash, plex, data_dir, scenes)


# -- the database locked, deleted, corrupted ---------------------------------------------------


def test_database_locked_by_another_process(linked, data_dir: Path) -> None:
    stash, plex = linked
    configure(stash, plex.url)
    scenes = make_library(stash, plex, 4, "locked")
    first, second, third, fourth = scenes
    queue_directly(data_dir, stash, [first])
    db_path = data_dir / "plexsync.db"

    # A short lock (a backup tool): the hook waits for it and records the edit.
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(2.0, lambda: holder.execute("ROLLBACK")).start()
    stash.update_scene(second, title="Edited during a short lock")
    short = stash.hook_runs()[-1]
    assert short.exit_code == 0 and short.output["action"] == "queued"
    assert 1.5 < short.wall_time < 15
    stash.wait_for_jobs(60)
    holder.close()

    # A lock held for good: the hook and the drain each end with one clear error that names the
    # file and what to do; the queue is left as it was.
    queue_directly(data_dir, stash, [third])
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        edit = threading.Thread(target=lambda: stash.update_scene(fourth, title="Edited during a long lock"))
        edit.start()
        drain = process_queue(stash, timeout=150)
        edit.join(150)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    hook = stash.hook_runs()[-1]
    for run in (hook, drain):
        result = assert_stdout_contract(run)
        assert run.exit_code == 1, run.logs
        assert "stayed locked by another process" in result["error"] and str(db_path) in result["error"]
        assert "close any tool that has it open" in result["error"]
        assert run.logs_at("error") == [result["error"]], run.logs
        assert run.wall_time < 60, run.wall_time
    assert "Sync recent changes" in hook.error  # the way back for the edit the hook could not record
    assert int(third) in inbox(data_dir)  # nothing queued was dropped

    stash.wait_for_jobs(60)
    recent = run_task(stash, "Sync recent changes")
    assert recent.error is None, recent.error
    drain_until_idle(stash, data_dir, max_runs=4, deadline_s=60)
    assert_all_synced(stash, plex, data_dir, scenes)
    report(f"database locked by another process: short lock waited ({short.wall_time:.1f}s, edit kept); "
           f"held lock: hook and drain each one clear error after {hook.wall_time:.0f}s/{drain.wall_time:.0f}s, "
           "queue intact, 'Sync recent changes' caught up")


def remove_database(data_dir: Path) -> None:
    for path in data_dir.glob("plexsync.db*"):
        path.unlink()


def test_database_deleted_is_never_a_silent_empty_queue(linked, data_dir: Path) -> None:
    stash, plex = linked
    configure(stash, plex.url)
    scenes = make_library(stash, plex, 6, "deleted")
    ids = list(scenes)
    queue_directly(data_dir, stash, ids[:2])
    assert process_queue(stash).output["written"] == 2
    for scene in ids[2:]:
        stash.silent_update(scene, title=f"Queued then lost {scene}")
    queue_directly(data_dir, stash, ids[2:])
    remove_database(data_dir)

    for name in ("Process queue", "Status"):
        run = run_task(stash, name)
        result = assert_stdout_contract(run)
        assert run.exit_code == 1
        assert "went missing" in result["error"] and "Sync all scenes" in result["error"], result["error"]
    again = process_queue(stash)
    assert "went missing" in again.error  # said on every run until the way back is taken

    rebuilt = run_task(stash, "Sync all scenes")
    assert rebuilt.error is None, rebuilt.error
    after = process_queue(stash)
    assert after.error is None and after.exit_code == 0
    assert_all_synced(stash, plex, data_dir, scenes)


@pytest.mark.parametrize("damage", ["garbage file", "garbage pages"])
def test_database_corrupted_clear_error_and_documented_way_back(linked, data_dir: Path, damage: str) -> None:
    stash, plex = linked
    configure(stash, plex.url)
    scenes = make_library(stash, plex, 60, "corrupt")
    ids = list(scenes)
    queue_directly(data_dir, stash, ids)
    assert process_queue(stash).output["written"] == 60
    db_path = data_dir / "plexsync.db"
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db_path.read_bytes())
    rng = random.Random(SEED)
    keep = 0 if damage == "garbage file" else 4096  # "garbage pages" keeps the header intact
    data[keep:] = bytes(rng.getrandbits(8) for _ in range(len(data) - keep))
    db_path.write_bytes(bytes(data))

    stash.update_scene(ids[0], title="Edited while the database is broken")
    hook = stash.hook_runs()[-1]
    task = process_queue(stash)
    status = run_task(stash, "Status")
    for run in (hook, task, status):
        result = assert_stdout_contract(run)
        error = result["error"] or ""
        assert run.exit_code == 1, (run.name, run.logs)
        assert f"{db_path} is unreadable" in error, error
        assert "move the file aside" in error and "Sync all scenes" in error, error
        assert "Traceback" not in error and "unexpectedly" not in error
        assert run.logs_at("error") == [error], run.logs
    assert plex.matching_requests(method="PUT", path="/library/sections/1/all")  # (the first drain)

    # The documented way back (README, Troubleshooting): move the file aside, run Sync all scenes.
    db_path.rename(db_path.with_name("plexsync.db.broken"))
    for extra in data_dir.glob("plexsync.db-*"):
        extra.unlink()
    rebuilt = run_task(stash, "Sync all scenes")
    assert rebuilt.error is None, rebuilt.error
    assert process_queue(stash).error is None
    assert_all_synced(stash, plex, data_dir, scenes)
    assert plex.item(scenes[ids[0]])["title"] == "Edited while the database is broken"

