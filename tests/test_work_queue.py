"""The drain's persist-queue wrapper and the retry policy: small pieces with real SQLite files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from queue.work import WorkQueue
from worker.drain import retry


def test_jobs_survive_a_crash_and_are_handed_out_again(tmp_path: Path) -> None:
    work = WorkQueue(tmp_path)
    for sid in (1, 2, 3):
        work.put({"scene_id": sid, "generation": 1})
    first = work.get(timeout=0)
    assert first is not None
    row_id, job = first
    assert job == {"scene_id": 1, "generation": 1}
    assert work.scene_ids() == {1, 2, 3}  # handed out but unacked still counts
    # The process dies here: no ack, no close. The next drain opens the queue again.
    again = WorkQueue(tmp_path)
    assert again.pending() == 3  # auto_resume: the unacked job is pending again
    seen = []
    while (item := again.get(timeout=0)) is not None:
        seen.append(item[1]["scene_id"])
        again.ack(item[0])
    assert sorted(seen) == [1, 2, 3]
    again.close()
    assert WorkQueue(tmp_path).scene_ids() == set()


def test_acked_rows_are_deleted(tmp_path: Path) -> None:
    work = WorkQueue(tmp_path)
    for sid in range(300):
        work.put({"scene_id": sid, "generation": 1})
    while (item := work.get(timeout=0)) is not None:
        work.ack(item[0])
    work.close()
    import sqlite3

    conn = sqlite3.connect(tmp_path / "work" / "data.db")
    assert conn.execute("SELECT count(*) FROM ack_queue_default").fetchone()[0] == 0
    conn.close()


def test_drain_pending_and_reserved_key(tmp_path: Path) -> None:
    work = WorkQueue(tmp_path)
    with pytest.raises(ValueError, match="pqid"):
        work.put({"scene_id": 1, "pqid": 5})
    work.put({"scene_id": 7, "generation": 2})
    taken = work.drain_pending()
    assert [job for _, job in taken] == [{"scene_id": 7, "generation": 2}]
    assert work.pending() == 0
    work.close()


def test_backoff_doubles_with_jitter_and_caps() -> None:
    rng = random.Random(1)
    delays = [retry.backoff_delay(n, retry.NOT_FOUND, rng) for n in range(1, 9)]
    for n, delay in enumerate(delays, start=1):
        full = min(retry.NOT_FOUND.cap_s, 60.0 * 2 ** (n - 1))
        assert full / 2 <= delay <= full
    assert retry.backoff_delay(40, retry.TRANSIENT, rng) <= retry.TRANSIENT.cap_s
    assert not retry.exhausted(7, retry.NOT_FOUND) and retry.exhausted(8, retry.NOT_FOUND)
