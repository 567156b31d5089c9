"""queue.lease: the single-holder drain lease and the no-lost-wake-up rule."""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from queue import lease
from queue.inbox_tasks import TaskInbox
from sync import db
from tests.processes import run_together

HOST = socket.gethostname()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / db.DB_NAME


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    c = db.connect(db_path)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def other(db_path: Path, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A second connection to the same file (another process's view)."""
    c = db.connect(db_path)
    try:
        yield c
    finally:
        c.close()


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def set_expiry(conn: sqlite3.Connection, expires: float) -> None:
    conn.execute("UPDATE drain SET expires = ? WHERE id = 1", (expires,))


# -- the lease ----------------------------------------------------------------------------------


def test_holder_ids_are_unique_and_name_this_process() -> None:
    a, b = lease.new_holder_id(), lease.new_holder_id()
    assert a != b
    host, pid, _ = a.rsplit(":", 2)
    assert host == HOST and int(pid) == os.getpid()


def test_acquire_then_a_second_holder_is_refused_while_live(
    conn: sqlite3.Connection, other: sqlite3.Connection
) -> None:
    first, second = lease.new_holder_id(), lease.new_holder_id()
    before = time.time()
    previous = lease.acquire(conn, first)
    assert previous == lease.LeaseInfo(None, None, None, None)
    info = lease.read(other)
    assert info.holder == first
    assert before <= info.heartbeat <= info.expires
    assert info.expires == pytest.approx(info.heartbeat + lease.LEASE_TTL_S)

    assert lease.acquire(other, second) is None
    assert lease.read(conn).holder == first  # untouched by the refused attempt
    assert lease.acquire(conn, first) is not None  # the holder itself may take it again


def test_expired_lease_is_taken_over(conn: sqlite3.Connection, other: sqlite3.Connection) -> None:
    first, second = lease.new_holder_id(), lease.new_holder_id()
    assert lease.acquire(conn, first) is not None
    set_expiry(conn, time.time() - 1)
    previous = lease.acquire(other, second)
    assert previous is not None and previous.holder == first
    assert lease.read(conn).holder == second
    assert lease.renew(conn, first) is False  # the old holder learns it lost the lease


@pytest.mark.skipif(os.name != "posix", reason="liveness of a pid is only checked on POSIX")
def test_holder_whose_process_is_gone_is_taken_over_at_once(
    conn: sqlite3.Connection, other: sqlite3.Connection
) -> None:
    ghost = f"{HOST}:{dead_pid()}:deadbeef"
    assert lease.acquire(conn, ghost) is not None
    assert lease.read(conn).expires > time.time() + 10  # still far from expiry
    me = lease.new_holder_id()
    previous = lease.acquire(other, me)
    assert previous is not None and previous.holder == ghost
    assert lease.read(conn).holder == me


@pytest.mark.skipif(os.name != "posix", reason="liveness of a pid is only checked on POSIX")
def test_holder_whose_process_lives_is_not_taken_over(
    conn: sqlite3.Connection, other: sqlite3.Connection
) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = f"{HOST}:{proc.pid}:cafe"
        assert lease.acquire(conn, alive) is not None
        assert lease.acquire(other, lease.new_holder_id()) is None
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_holder_on_another_host_is_not_judged_dead(
    conn: sqlite3.Connection, other: sqlite3.Connection
) -> None:
    remote = f"{HOST}-elsewhere:{dead_pid()}:beef"
    assert lease.acquire(conn, remote) is not None
    assert lease.acquire(other, lease.new_holder_id()) is None


def test_malformed_holder_is_not_judged_dead(conn: sqlite3.Connection) -> None:
    conn.execute(
        "UPDATE drain SET holder = 'garbage', expires = ? WHERE id = 1", (time.time() + 60,)
    )
    assert lease.acquire(conn, lease.new_holder_id()) is None


def test_renew(conn: sqlite3.Connection, other: sqlite3.Connection) -> None:
    holder, stranger = lease.new_holder_id(), lease.new_holder_id()
    assert lease.renew(conn, holder) is False  # nobody holds it yet
    lease.acquire(conn, holder, ttl=5)
    short = lease.read(conn).expires
    assert lease.renew(other, stranger) is False
    assert lease.read(conn).holder == holder
    assert lease.read(conn).expires == short  # the stranger changed nothing
    assert lease.renew(conn, holder, ttl=600) is True
    assert lease.read(conn).expires > short + 500


def test_release_if_idle_refuses_while_due_work_remains(conn: sqlite3.Connection) -> None:
    holder = lease.new_holder_id()
    lease.acquire(conn, holder)
    TaskInbox(conn).upsert(1, stash_updated_at=None, reason="hook")
    assert lease.release_if_idle(conn, holder) is False
    assert lease.read(conn).holder == holder


def test_release_if_idle_releases_when_nothing_is_due(conn: sqlite3.Connection) -> None:
    holder = lease.new_holder_id()
    box = TaskInbox(conn)
    box.upsert(1, stash_updated_at=None, reason="hook")
    box.retry_later(1, time.time() + 3600, "later")  # waiting, not due
    box.upsert(2, stash_updated_at=None, reason="hook")
    box.park(2, 1, "failed", "x")  # parked, not due
    lease.acquire(conn, holder)
    assert lease.release_if_idle(conn, holder) is True
    assert lease.read(conn)[:3] == (None, None, None)


def test_release_if_idle_by_a_stranger_does_not_free_the_lease(
    conn: sqlite3.Connection, other: sqlite3.Connection
) -> None:
    holder = lease.new_holder_id()
    lease.acquire(conn, holder)
    lease.release_if_idle(other, lease.new_holder_id())
    lease.release(other, lease.new_holder_id())
    assert lease.read(conn).holder == holder
    lease.release(conn, holder)
    assert lease.read(conn).holder is None


# -- the wake rule ------------------------------------------------------------------------------


def test_claim_wake_when_idle_records_the_request(conn: sqlite3.Connection) -> None:
    assert lease.claim_wake(conn, now=1000.0) is True
    assert lease.read(conn).wake_requested_at == 1000.0


def test_claim_wake_trusts_a_recent_request_then_asks_again(conn: sqlite3.Connection) -> None:
    assert lease.claim_wake(conn, now=1000.0) is True
    assert lease.claim_wake(conn, now=1001.0) is False
    assert lease.claim_wake(conn, now=1000.0 + lease.WAKE_TRUST_S - 1) is False
    assert lease.read(conn).wake_requested_at == 1000.0  # refusals do not extend the trust
    assert lease.claim_wake(conn, now=1000.0 + lease.WAKE_TRUST_S + 1) is True
    assert lease.read(conn).wake_requested_at == 1000.0 + lease.WAKE_TRUST_S + 1


def test_claim_wake_is_refused_while_a_live_holder_exists(conn: sqlite3.Connection) -> None:
    holder = lease.new_holder_id()
    lease.acquire(conn, holder)
    assert lease.claim_wake(conn) is False
    assert lease.read(conn).wake_requested_at is None
    lease.release(conn, holder)
    assert lease.claim_wake(conn) is True


def test_claim_wake_ignores_an_expired_holder(conn: sqlite3.Connection) -> None:
    lease.acquire(conn, lease.new_holder_id())
    set_expiry(conn, time.time() - 1)
    assert lease.claim_wake(conn) is True


@pytest.mark.skipif(os.name != "posix", reason="liveness of a pid is only checked on POSIX")
def test_claim_wake_ignores_a_dead_holder(conn: sqlite3.Connection) -> None:
    lease.acquire(conn, f"{HOST}:{dead_pid()}:dead")
    assert lease.claim_wake(conn) is True


def test_acquire_clears_the_wake_request(conn: sqlite3.Connection) -> None:
    assert lease.claim_wake(conn) is True
    assert lease.read(conn).wake_requested_at is not None
    holder = lease.new_holder_id()
    lease.acquire(conn, holder)
    assert lease.read(conn).wake_requested_at is None
    lease.release(conn, holder)
    assert lease.claim_wake(conn) is True  # no stale request left to trust


def test_forget_wake_lets_the_next_hook_ask_at_once(conn: sqlite3.Connection) -> None:
    now = time.time()
    assert lease.claim_wake(conn, now=now) is True
    assert lease.claim_wake(conn, now=now + 1) is False
    lease.forget_wake(conn)
    assert lease.read(conn).wake_requested_at is None
    assert lease.claim_wake(conn, now=now + 2) is True


# -- no lost wake-up ----------------------------------------------------------------------------


def hook(conn: sqlite3.Connection, scene_id: int) -> bool:
    """The hook's side: upsert and claim_wake in one transaction."""

    def work(c: sqlite3.Connection) -> bool:
        TaskInbox(c).upsert(scene_id, stash_updated_at=None, reason="hook")
        return lease.claim_wake(c)

    return db.transaction(conn, work)


def assert_no_lost_wakeup(released: bool, claimed: bool) -> None:
    # Either the drain saw the row (refused to release) or the hook asks for a new drain;
    # never both (a live drain makes the hook stay quiet).
    assert (not released) or claimed
    assert released == claimed


@pytest.mark.parametrize("hook_first", [True, False], ids=["hook-then-drain", "drain-then-hook"])
def test_no_lost_wakeup_two_connections(
    conn: sqlite3.Connection, other: sqlite3.Connection, hook_first: bool
) -> None:
    holder = lease.new_holder_id()
    lease.acquire(other, holder)
    if hook_first:
        claimed = hook(conn, 1)
        released = lease.release_if_idle(other, holder)
        assert (released, claimed) == (False, False)
    else:
        released = lease.release_if_idle(other, holder)
        claimed = hook(conn, 1)
        assert (released, claimed) == (True, True)
    assert_no_lost_wakeup(released, claimed)


def test_drain_cannot_decide_while_a_hook_is_mid_transaction(db_path: Path) -> None:
    hook_conn = db.connect(db_path)
    drain_conn = db.connect(db_path, timeout=0.05)
    try:
        holder = lease.new_holder_id()
        lease.acquire(drain_conn, holder)
        hook_conn.execute("BEGIN IMMEDIATE")
        TaskInbox(hook_conn).upsert(1, stash_updated_at=None, reason="hook")
        assert lease.claim_wake(hook_conn) is False
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            drain_conn.execute("BEGIN IMMEDIATE")
        hook_conn.execute("COMMIT")
        assert lease.release_if_idle(drain_conn, holder) is False
    finally:
        hook_conn.close()
        drain_conn.close()


def _race_once(db_path: Path, hook_first: bool | None, scene_id: int) -> tuple[bool, bool]:
    """Hook and drain in two real threads; ``hook_first`` forces an order, None lets them race."""
    hook_conn, drain_conn = db.connect(db_path), db.connect(db_path)
    holder = lease.new_holder_id()
    lease.acquire(drain_conn, holder)
    barrier = threading.Barrier(2)
    first_done = threading.Event()
    result: dict[str, bool] = {}
    errors: list[BaseException] = []

    def run(name: str, action) -> None:
        try:
            barrier.wait(timeout=30)
            goes_first = hook_first is None or (name == "hook") == hook_first
            if not goes_first:
                assert first_done.wait(timeout=30)
            result[name] = action()
            first_done.set()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            first_done.set()

    threads = [
        threading.Thread(target=run, args=("hook", lambda: hook(hook_conn, scene_id))),
        threading.Thread(target=run, args=("drain", lambda: lease.release_if_idle(drain_conn, holder))),
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
    finally:
        hook_conn.close()
        drain_conn.close()
    return result["drain"], result["hook"]


@pytest.mark.parametrize("hook_first", [True, False], ids=["hook-then-drain", "drain-then-hook"])
def test_no_lost_wakeup_threads_in_each_order(tmp_path: Path, hook_first: bool) -> None:
    released, claimed = _race_once(tmp_path / db.DB_NAME, hook_first, 1)
    assert released is not hook_first
    assert_no_lost_wakeup(released, claimed)


def test_no_lost_wakeup_threads_racing(tmp_path: Path) -> None:
    for round_ in range(40):
        path = tmp_path / f"race-{round_}.db"
        released, claimed = _race_once(path, None, round_ + 1)
        assert_no_lost_wakeup(released, claimed)
        c = db.connect(path)
        try:
            info = lease.read(c)
            if released:
                assert info.holder is None and info.wake_requested_at is not None
            else:
                assert info.holder is not None and TaskInbox(c).has_due()
        finally:
            c.close()


_HOOK_PROCESS = r"""
import json, sys, time
from queue.lease import enqueue_scenes
from sync import db

db_path, go_file, scene = sys.argv[1], sys.argv[2], int(sys.argv[3])
ready_then_wait(go_file, poll=0.002)
time.sleep((scene % 7) * 0.003)  # spread the hooks over the drain's lifetime
conn = db.connect(db_path)
print(json.dumps({"wake": enqueue_scenes(conn, [(scene, None)], reason="hook")}), flush=True)
conn.close()
"""


def drain_session(db_path: Path, processed: set[int]) -> None:
    """A drain: take the lease, process due rows until release_if_idle lets it end."""
    c = db.connect(db_path)
    holder = lease.new_holder_id()
    try:
        assert lease.acquire(c, holder) is not None
        box = TaskInbox(c)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for entry in box.due(50):
                box.mark_queued(entry.scene_id, entry.generation)
                processed.add(entry.scene_id)
                box.complete(entry.scene_id, entry.generation)
            if lease.release_if_idle(c, holder):
                return
        raise AssertionError("drain never became idle")
    finally:
        c.close()


def test_no_lost_wakeup_hook_processes_against_a_draining_process(tmp_path: Path) -> None:
    """Real hook processes enqueue while a drain runs; whatever is left behind, some hook woke."""
    for round_ in range(2):
        path = tmp_path / f"round-{round_}.db"
        go = tmp_path / f"go-{round_}"
        db.connect(path).close()
        scenes = list(range(1, 13))
        processed: set[int] = set()
        results = run_together(
            _HOOK_PROCESS, [[str(path), str(go), str(sid)] for sid in scenes], go,
            during=functools.partial(drain_session, path, processed),
        )
        wakes = 0
        for r in results:
            assert r.returncode == 0, r.stderr
            wakes += json.loads(r.stdout.strip().splitlines()[-1])["wake"]

        c = db.connect(path)
        try:
            left = {e.scene_id for e in TaskInbox(c).due(100)}
            info = lease.read(c)
        finally:
            c.close()
        assert info.holder is None
        assert processed | left == set(scenes)
        if left:
            # Edits the drain did not see: a hook that committed after its release asked Stash.
            assert wakes >= 1 and info.wake_requested_at is not None
            drain_session(path, processed)  # what Stash would now run
            assert processed == set(scenes)
